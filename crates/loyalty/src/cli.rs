//! The command line: `serve`, `import`, `verify`, `check-config`, `jobs run`, `keys create`,
//! and the insight commands (`insight_cli`). It parses arguments and calls the engine; the
//! benchmarks are a binary of their own (`loyalty-bench`).

use crate::app;
use clap::{Parser, Subcommand};
use loyalty_core::Program;
use loyalty_engine::{import, jobs};
use loyalty_http::auth;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "loyalty", version, about = "Membership engine for online stores")]
struct Cli {
    /// sqlite://FILE (created if missing) or postgres://USER@HOST/DB.
    #[arg(long, global = true, env = "LOYALTY_DATABASE_URL", default_value = "sqlite://loyalty.db")]
    database_url: String,
    /// The programme file (TOML); the built-in default programme when absent.
    #[arg(long, global = true, env = "LOYALTY_PROGRAM")]
    program: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serves the HTTP API and runs the scheduler.
    Serve {
        #[arg(long, env = "LOYALTY_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Seconds between scheduler runs.
        #[arg(long, default_value_t = 30)]
        job_interval: u64,
    },
    /// Imports a CSV file of members, orders or refunds.
    Import {
        kind: import::Kind,
        file: PathBuf,
        /// Where rejected rows go (default FILE.rejects.csv).
        #[arg(long)]
        rejects: Option<PathBuf>,
        #[arg(long, default_value_t = import::DEFAULT_BATCH)]
        batch: usize,
        /// Orders files larger than this many bytes are split by member into temporary files
        /// of about this size, each grouped in memory on its own.
        #[arg(long, default_value_t = import::DEFAULT_GROUP_BYTES)]
        group_bytes: u64,
        /// Applies orders in file order instead of grouped by member: the same results, slower.
        #[arg(long)]
        in_file_order: bool,
    },
    /// Checks every ledger invariant over the whole store; exits 1 when one is broken.
    Verify,
    /// Rebuilds every member's activity log (what member insight reads) from the orders and
    /// refunds, when `verify` reports a log that does not match them. Order writes wait until it
    /// is done; on SQLite a server writing meanwhile may time out, so run it while writes are quiet.
    RebuildActivity,
    /// Validates a programme file.
    CheckConfig { file: PathBuf },
    /// Scheduled jobs.
    Jobs {
        #[command(subcommand)]
        cmd: JobsCmd,
    },
    /// API keys.
    Keys {
        #[command(subcommand)]
        cmd: KeysCmd,
    },
    /// A member's personal data: export, erase.
    Members {
        #[command(subcommand)]
        cmd: crate::members_cli::MembersCmd,
    },
    #[command(flatten)]
    Insight(crate::insight_cli::Commands),
}

#[derive(Subcommand)]
enum JobsCmd {
    /// Runs activation, expiry and hold time-outs once.
    Run {
        /// The instant to run for (RFC 3339); default now.
        #[arg(long)]
        now: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Creates a key and prints it once; only its hash is stored.
    Create {
        /// admin, analyst (read-only business figures) or integration (the store's servers).
        #[arg(long)]
        scope: String,
        #[arg(long)]
        name: String,
    },
    /// Lists the keys: name, scope, created, last used, revoked (never a key or its hash).
    List,
    /// Revokes the key of this name: it stops working (within a second on a running server).
    Revoke { name: String },
}

pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("LOYALTY_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Loads and validates a programme file, its `[insight]` section included.
pub fn load_program(path: Option<&PathBuf>) -> anyhow::Result<Program> {
    match path {
        None => Ok(Program::default_program()),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?;
            let program = Program::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            loyalty_report::config::InsightConfig::from_program(&program)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            Ok(program)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Cmd::CheckConfig { file } = &cli.cmd {
        return Ok(match load_program(Some(file)) {
            Ok(p) => {
                println!("{}: valid\n{}", file.display(), toml::to_string_pretty(&p.file)?);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        });
    }
    let program = load_program(cli.program.as_ref())?;
    let store = loyalty_store::open(&cli.database_url).await?;
    match cli.cmd {
        Cmd::Serve { listen, job_interval } => {
            app::serve(store, program, &listen, job_interval).await?;
        }
        Cmd::Import { kind, file, rejects, batch, group_bytes, in_file_order } => {
            let most = loyalty_engine::MAX_COMMANDS;
            anyhow::ensure!(
                (1..=most).contains(&batch),
                "--batch {batch} must be 1 to {most}, the engine's bound on a batch"
            );
            anyhow::ensure!(group_bytes > 0, "--group-bytes must be at least 1");
            let opts = import::Options {
                batch,
                rejects: rejects.unwrap_or_else(|| import::default_rejects(&file)),
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
                group_bytes,
                in_file_order,
                clock: loyalty_engine::clock::system(),
            };
            let sum = import::run(store.as_ref(), &program, kind, &file, &opts).await?;
            println!("{sum}");
            if sum.rejected > 0 {
                println!("rejected rows: {}", opts.rejects.display());
            }
        }
        Cmd::Verify => {
            let r = jobs::verify_all(store.as_ref(), 100).await?;
            if r.violations.is_empty() {
                println!("verify: OK — {} members, {} ledger entries, every invariant holds", r.members, r.entries);
            } else {
                println!("verify: FAILED — {} members, {} ledger entries checked", r.members, r.entries);
                for v in &r.violations {
                    println!("  {v}");
                }
                return Ok(ExitCode::from(1));
            }
        }
        Cmd::RebuildActivity => {
            let started = std::time::Instant::now();
            let rows = store.rebuild_activity().await?;
            println!(
                "rebuild-activity: {rows} activity rows written from the orders and refunds in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        Cmd::Jobs { cmd: JobsCmd::Run { now } } => {
            let now = match now {
                Some(raw) => loyalty_core::order::parse_instant("--now", &raw)?,
                None => jiff::Timestamp::now(),
            };
            let r = jobs::run_due(store.as_ref(), &program, now).await?;
            println!(
                "jobs: {} members advanced, {} ledger entries written, {} idempotency records purged",
                r.members, r.entries, r.idempotency_purged
            );
        }
        Cmd::Keys { cmd: KeysCmd::Create { scope, name } } => {
            if auth::Scope::parse(&scope).is_none() {
                anyhow::bail!("--scope must be admin, analyst or integration, not {scope:?}");
            }
            if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
                anyhow::bail!("--name must be 1 to 64 characters without control characters");
            }
            if name == auth::BOOTSTRAP_NAME {
                anyhow::bail!("--name {name:?} is the bootstrap key's (LOYALTY_ADMIN_KEY); choose another");
            }
            let key = auth::new_key();
            if !store.insert_api_key(&auth::hash_key(&key), &name, &scope, jiff::Timestamp::now()).await? {
                anyhow::bail!("a live key is already named {name:?}: revoke it first or choose another name");
            }
            println!("{key}");
            eprintln!("key {name:?} ({scope}) created; it is shown only this once");
        }
        Cmd::Keys { cmd: KeysCmd::List } => {
            let tz = program.tz.clone();
            let at = |t: Option<jiff::Timestamp>| t.map_or("-".to_owned(), |t| loyalty_core::calendar::rfc3339(t, &tz));
            println!("{:<24} {:<12} {:<26} {:<26} REVOKED", "NAME", "SCOPE", "CREATED", "LAST USED");
            for k in store.api_keys(i64::from(u16::MAX)).await? {
                let (created, used, revoked) = (at(Some(k.created_at)), at(k.last_used_at), at(k.revoked_at));
                println!("{:<24} {:<12} {created:<26} {used:<26} {revoked}", k.name, k.scope);
            }
        }
        Cmd::Keys { cmd: KeysCmd::Revoke { name } } => {
            let (revoked, keys) = store.revoke_api_key(&name, jiff::Timestamp::now()).await?;
            if keys.is_empty() {
                eprintln!("no API key is named {name:?}");
                return Ok(ExitCode::from(1));
            }
            match revoked {
                0 => println!("key {name:?} was already revoked"),
                n => println!("key {name:?} revoked ({n}); a running server refuses it within a second"),
            }
        }
        Cmd::Members { cmd } => return crate::members_cli::run(cmd, store, program).await,
        Cmd::Insight(cmd) => return crate::insight_cli::run(cmd, store, program).await,
        Cmd::CheckConfig { .. } => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}
