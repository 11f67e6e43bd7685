//! The command line: `serve`, `import`, `verify`, `check-config`, `jobs run`, `keys create`,
//! and the insight commands (`insight_cli`). It parses arguments and calls the engine; the
//! benchmarks are a binary of their own (`loyalty-bench`).

use crate::app;
use clap::{Parser, Subcommand};
use loyalty_core::Program;
use loyalty_engine::{import, jobs};
use loyalty_http::auth;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "loyalty", version, about = "Membership engine for online stores")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// The database, for the commands that open it.
#[derive(clap::Args, Clone)]
pub struct StoreArgs {
    /// sqlite://FILE (created if missing) or postgres://USER@HOST/DB.
    // The URL may carry a password: help shows the variable's name, never its value.
    #[arg(
        long,
        global = true,
        env = "LOYALTY_DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://loyalty.db"
    )]
    pub database_url: String,
}

impl StoreArgs {
    pub async fn open(&self) -> anyhow::Result<Arc<dyn loyalty_store::Store>> {
        loyalty_store::open(&self.database_url).await.map_err(|e| {
            if e.is_read_only() {
                anyhow::anyhow!(
                    "the database does not accept writes, so its migrations cannot run ({e}); make it writable"
                )
            } else {
                e.into()
            }
        })
    }
}

/// The programme file, for the commands that apply its rules.
#[derive(clap::Args, Clone)]
pub struct ProgramArgs {
    /// The programme file (TOML); the built-in default programme when absent.
    #[arg(long, global = true, env = "LOYALTY_PROGRAM")]
    pub program: Option<PathBuf>,
}

impl ProgramArgs {
    pub fn load(&self) -> anyhow::Result<Program> {
        load_program(self.program.as_deref())
    }
}

const SERVE_ENV: &str = "Environment:
  LOYALTY_ADMIN_KEY  the bootstrap admin key, accepted as `Authorization: Bearer KEY` with the admin
                     scope; unset, only keys made with `loyalty keys create` can call the API
  LOYALTY_SECURE_COOKIES  1 to mark the console's and the member centre's cookies Secure always
                     (they are when a proxy sends X-Forwarded-Proto: https)
  LOYALTY_LOG        log filter, e.g. info (the default) or info,loyalty=debug";

#[derive(Subcommand)]
enum Cmd {
    /// Serves the HTTP API and runs the scheduler.
    #[command(after_help = SERVE_ENV)]
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        program: ProgramArgs,
        /// Address and port the API listens on.
        #[arg(long, env = "LOYALTY_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Seconds between scheduler runs.
        #[arg(long, default_value_t = 30)]
        job_interval: u64,
    },
    /// Imports a CSV file of members, orders or refunds.
    Import {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        program: ProgramArgs,
        kind: import::Kind,
        file: PathBuf,
        /// Where rejected rows go (default FILE.rejects.csv).
        #[arg(long)]
        rejects: Option<PathBuf>,
        /// Rows per transaction, at most the default: smaller batches keep a server writing the
        /// same SQLite file waiting less, and import more slowly.
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
    /// Checks every ledger invariant over the whole store; exits 1 when one is broken. Limits by
    /// day, week and month are counted in the programme's time zone.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        program: ProgramArgs,
    },
    /// Rebuilds every member's activity log (what member insight reads) from the orders and
    /// refunds, when `verify` reports a log that does not match them. Order writes wait until it
    /// is done; on SQLite a server writing meanwhile may time out, so run it while writes are quiet.
    RebuildActivity {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Validates a programme file and prints it with every default filled in.
    CheckConfig { file: PathBuf },
    /// Scheduled jobs.
    Jobs {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        program: ProgramArgs,
        #[command(subcommand)]
        cmd: JobsCmd,
    },
    /// API keys.
    Keys {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        cmd: KeysCmd,
    },
    /// A member's personal data: export, erase.
    Members {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        program: ProgramArgs,
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
        /// What the key is for, 1 to 64 characters; stored with the key's hash.
        #[arg(long)]
        name: String,
    },
    /// Lists the keys: name, scope, created, last used, revoked (never a key or its hash).
    List,
    /// Revokes the key of this name: it stops working (within a second on a running server).
    Revoke { name: String },
}

pub fn main() -> ExitCode {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("LOYALTY_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // Colour codes are noise in a log file or a pipe to a collector.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()) && !no_color)
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
pub fn load_program(path: Option<&Path>) -> anyhow::Result<Program> {
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
    match cli.cmd {
        Cmd::CheckConfig { file } => return check_config(&file),
        Cmd::Insight(cmd) => return crate::insight_cli::run(cmd).await,
        Cmd::Serve { store, program, listen, job_interval } => {
            let program = program.load()?;
            app::serve(store.open().await?, program, &listen, job_interval).await?;
        }
        Cmd::Import { store, program, kind, file, rejects, batch, group_bytes, in_file_order } => {
            let most = loyalty_engine::MAX_COMMANDS;
            anyhow::ensure!(
                (1..=most).contains(&batch),
                "--batch {batch} must be 1 to {most}, the engine's bound on a batch"
            );
            anyhow::ensure!(group_bytes > 0, "--group-bytes must be at least 1");
            let program = program.load()?;
            let opts = import::Options {
                batch,
                rejects: rejects.unwrap_or_else(|| import::default_rejects(&file)),
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
                group_bytes,
                in_file_order,
                clock: loyalty_engine::clock::system(),
            };
            let sum = import::run(store.open().await?.as_ref(), &program, kind, &file, &opts).await?;
            println!("{sum}");
            if sum.rejected > 0 {
                println!("rejected rows: {}", opts.rejects.display());
            }
        }
        Cmd::Verify { store, program } => return verify(store.open().await?.as_ref(), &program.load()?).await,
        Cmd::RebuildActivity { store } => {
            let started = std::time::Instant::now();
            let rows = store.open().await?.rebuild_activity().await?;
            println!(
                "rebuild-activity: {rows} activity rows written from the orders and refunds in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        Cmd::Jobs { store, program, cmd: JobsCmd::Run { now } } => {
            let now = match now {
                Some(raw) => loyalty_core::order::parse_instant("--now", &raw)?,
                None => jiff::Timestamp::now(),
            };
            let program = program.load()?;
            let r = jobs::run_due(store.open().await?.as_ref(), &program, now).await?;
            println!(
                "jobs: {} members advanced, {} ledger entries written, {} idempotency records purged, {} gifts given, {} \
                 gifts not given, {} referrals settled, {} members told of expiring points",
                r.members,
                r.entries,
                r.idempotency_purged,
                r.gifts.given,
                r.gifts.not_given,
                r.referrals,
                r.expiring
            );
        }
        Cmd::Keys { store, cmd } => return keys(store.open().await?.as_ref(), cmd).await,
        Cmd::Members { store, program, cmd } => {
            return crate::members_cli::run(cmd, store.open().await?, program.load()?).await
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check_config(file: &Path) -> anyhow::Result<ExitCode> {
    Ok(match load_program(Some(file)) {
        Ok(p) => {
            println!("{}: valid\n{}", file.display(), toml::to_string_pretty(&p.file)?);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    })
}

async fn verify(store: &dyn loyalty_store::Store, program: &Program) -> anyhow::Result<ExitCode> {
    let r = jobs::verify_all(store, program, 100).await?;
    if r.violations.is_empty() {
        println!("verify: OK — {} members, {} ledger entries, every invariant holds", r.members, r.entries);
        return Ok(ExitCode::SUCCESS);
    }
    println!("verify: FAILED — {} members, {} ledger entries checked", r.members, r.entries);
    for v in &r.violations {
        println!("  {v}");
    }
    Ok(ExitCode::from(1))
}

/// `loyalty keys create|list|revoke`.
async fn keys(store: &dyn loyalty_store::Store, cmd: KeysCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCmd::Create { scope, name } => {
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
        KeysCmd::List => {
            let at = |t: Option<jiff::Timestamp>| t.map_or("-".to_owned(), |t| t.to_string());
            println!("{:<24} {:<12} {:<26} {:<26} REVOKED", "NAME", "SCOPE", "CREATED", "LAST USED");
            for k in store.api_keys(i64::from(u16::MAX)).await? {
                let (created, used, revoked) = (at(Some(k.created_at)), at(k.last_used_at), at(k.revoked_at));
                println!("{:<24} {:<12} {created:<26} {used:<26} {revoked}", k.name, k.scope);
            }
        }
        KeysCmd::Revoke { name } => {
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
    }
    Ok(ExitCode::SUCCESS)
}
