//! A member's personal data from the command line: `members export ID` and `members erase ID`,
//! the same document and the same erasure as the API's, recorded in the audit log with the
//! actor `cli:$USER`.

use loyalty_core::ids::MemberId;
use loyalty_core::Program;
use loyalty_engine::{Command, Outcome};
use loyalty_store::Store;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Subcommand)]
pub enum MembersCmd {
    /// Writes everything held about a member as one JSON document (recorded in the audit log).
    Export {
        id: String,
        /// Where to write it (created readable by its owner only); default standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Erases a member's name, phone, email and birthday and closes it; the ledger, orders and
    /// aggregates stay. Recorded in the audit log; erasing again changes nothing.
    Erase {
        id: String,
        /// Why (e.g. the member's request and its reference), 1 to 500 characters.
        #[arg(long)]
        reason: String,
    },
}

fn actor() -> String {
    let user = std::env::var("USER").ok().filter(|u| !u.is_empty() && u.len() <= 64);
    user.map_or_else(|| "cli".to_owned(), |u| format!("cli:{u}"))
}

pub async fn run(cmd: MembersCmd, store: Arc<dyn Store>, program: Program) -> anyhow::Result<ExitCode> {
    let now = jiff::Timestamp::now().round(jiff::Unit::Microsecond)?;
    let parse = |id: &str| MemberId::parse(id).map_err(|e| anyhow::anyhow!("member id {id:?}: {}", e.0));
    match cmd {
        MembersCmd::Export { id, out } => {
            let id = parse(&id)?;
            let found = loyalty_http::personal::export(store.as_ref(), &program, &id, now)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.0.detail))?;
            let Some(doc) = found else {
                eprintln!("member {id} not found");
                return Ok(ExitCode::from(1));
            };
            let text = serde_json::to_string_pretty(&doc)?;
            let replies = loyalty_engine::apply_batch(
                store.as_ref(),
                &program,
                &[Command::Audit(doc.audit_record(&id, &actor(), now))],
                now,
            )
            .await?;
            anyhow::ensure!(matches!(replies.first(), Some(Ok(Outcome::Audited))), "the export was not recorded");
            match out {
                Some(path) => {
                    let mut opts = std::fs::OpenOptions::new();
                    opts.write(true).create(true).truncate(true);
                    #[cfg(unix)]
                    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                    let mut f =
                        opts.open(&path).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
                    f.write_all(text.as_bytes())?;
                    eprintln!("member {id}: exported to {}", path.display());
                }
                None => println!("{text}"),
            }
        }
        MembersCmd::Erase { id, reason } => {
            let member = parse(&id)?;
            let cmd = Command::Erase { member: member.clone(), reason, actor: actor() };
            let replies = loyalty_engine::apply_batch(store.as_ref(), &program, &[cmd], now).await?;
            match replies.into_iter().next() {
                Some(Ok(Outcome::Erased { replayed: false, .. })) => {
                    println!("member {member}: name, phone, email and birthday erased; the member is closed")
                }
                Some(Ok(Outcome::Erased { replayed: true, .. })) => {
                    println!("member {member} was already erased; nothing changed")
                }
                Some(Err(e)) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::from(1));
                }
                other => anyhow::bail!("unexpected engine reply {other:?}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
