//! Insight commands: `insight`, `export segments`, `report`.

use crate::cli::{ProgramArgs, StoreArgs};
use loyalty_report::config::InsightConfig;
use loyalty_report::export::Format;
use loyalty_report::{compute, export, report};
use loyalty_store::Store;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Commands {
    /// Recomputes and stores member insight: RFM, segments, lifecycle, BG/NBD, Gamma-Gamma, CLV.
    Insight {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        program: ProgramArgs,
        /// The analysis instant (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
        /// RFM window in days; default from the insight configuration (365).
        #[arg(long)]
        window_days: Option<u32>,
    },
    /// Exports computed data.
    Export {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        what: ExportCmd,
    },
    /// Writes a self-contained HTML report with charts of segments, KPIs, points and models.
    Report {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        program: ProgramArgs,
        /// The HTML file to write.
        #[arg(long, default_value = "report.html")]
        out: PathBuf,
    },
}

#[derive(clap::Subcommand)]
pub enum ExportCmd {
    /// Every member's RFM, segments, stage and predictions from the latest insight run.
    Segments {
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// Output file; default segments.csv or segments.parquet.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub async fn run(cmd: Commands) -> anyhow::Result<ExitCode> {
    match cmd {
        Commands::Insight { store, program, at, window_days } => {
            let mut config = InsightConfig::from_program(&program.load()?)?;
            if let Some(days) = window_days {
                config.window_days = days;
            }
            let at = match at {
                Some(raw) => loyalty_core::order::parse_instant("--at", &raw)?,
                None => jiff::Timestamp::now(),
            };
            let store = store.open().await?;
            let o = compute::run(store.as_ref(), &config, at).await?;
            print_run(&o, store.as_ref()).await?;
        }
        Commands::Export { store, what: ExportCmd::Segments { format, out } } => {
            let out = out.unwrap_or_else(|| match format {
                Format::Csv => "segments.csv".into(),
                Format::Parquet => "segments.parquet".into(),
            });
            let n = export::segments(store.open().await?.as_ref(), format, &out).await?;
            println!("exported {n} members to {}", out.display());
        }
        Commands::Report { store, program, out } => {
            let program = program.load()?;
            let data = report::gather(store.open().await?.as_ref(), &program, jiff::Timestamp::now()).await?;
            let html = report::render(&data, &program);
            std::fs::write(&out, html).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
            println!("report written to {}", out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn print_run(o: &compute::RunOutcome, store: &dyn Store) -> anyhow::Result<()> {
    println!(
        "insight run {} as of {} ({}-day window): {} members, {} buyers",
        o.run.run_id, o.run.at, o.run.window_days, o.members, o.buyers
    );
    let timings: Vec<String> = o.summary.timings_ms.iter().map(|(k, v)| format!("{k} {v:.0} ms")).collect();
    println!("  timings: {}", timings.join(", "));
    for m in store.insight_models(&o.run).await? {
        match &m.params {
            Some(p) => println!(
                "  {}: {p} log-likelihood {:.3}, {} iterations, converged {}, {} members",
                m.model,
                m.log_likelihood.unwrap_or(f64::NAN),
                m.iterations,
                m.converged,
                m.members
            ),
            None => println!("  {}: not fitted ({})", m.model, m.detail),
        }
    }
    for s in store.segment_summaries(&o.run, "value").await?.iter().filter(|s| s.members > 0) {
        println!("  {:<18} {:>9} members", s.segment, s.members);
    }
    Ok(())
}
