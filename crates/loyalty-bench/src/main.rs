//! `loyalty-bench`: synthetic-store benchmarks of the engine, kept out of the product binary.
//! `bench` measures import and HTTP ingestion, `bench-tiers` checkout evaluation and a tier
//! review, `bench-insight` member insight against DuckDB and the BG/NBD fit, `bench-coupons` a coupon grab,
//! checkout with coupons and issuing a template to every member, `bench-mall` a points-mall
//! grab and a lottery under load, `bench-memberships` the monthly coupon-pack job and the
//! paid-membership report, `bench-checkins` the morning peak of the daily check-in, `bench-gifts` the birthday job. BENCHMARKS.md has
//! the commands and the figures.

mod checkins;
mod coupons;
mod gifts;
mod ingest;
mod insight;
mod insight_data;
mod mall;
mod membership_data;
mod memberships;
mod task_program;
mod tiers;

use clap::{Parser, Subcommand};

/// The same allocator as the product binary, so the figures are the product's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "loyalty-bench", about = "Benchmarks of the Loyalty engine on synthetic stores")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generates a synthetic store and measures import and HTTP ingestion.
    Bench(ingest::Args),
    /// Measures checkout evaluation over HTTP and a tier review over many members.
    BenchTiers(tiers::Args),
    /// Measures a coupon grab, checkout with coupons and issuing a template to every member.
    BenchCoupons(coupons::Args),
    /// Measures a points-mall grab and a lottery under load.
    BenchMall(mall::Args),
    /// Measures the monthly coupon-pack job for paid members and the paid-membership report.
    BenchMemberships(memberships::Args),
    /// Measures the morning peak of the daily check-in over HTTP, and that each member is paid once.
    BenchCheckins(checkins::Args),
    /// Measures the birthday job over a million members, and that each is given one gift.
    BenchGifts(gifts::Args),
    /// Benchmarks RFM, segments and lifecycle on a synthetic store against DuckDB, and the BG/NBD fit.
    BenchInsight(insight::Args),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("LOYALTY_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        match cli.cmd {
            Cmd::Bench(args) => ingest::run(args).await,
            Cmd::BenchTiers(args) => tiers::run(args).await,
            Cmd::BenchInsight(args) => insight::run(args).await,
            Cmd::BenchCoupons(args) => coupons::run(args).await,
            Cmd::BenchMall(args) => mall::run(args).await,
            Cmd::BenchMemberships(args) => memberships::run(args).await,
            Cmd::BenchCheckins(args) => checkins::run(args).await,
            Cmd::BenchGifts(args) => gifts::run(args).await,
        }
    })
}
