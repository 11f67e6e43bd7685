//! `loyalty-bench bench-checkins`: the morning peak of the daily check-in — every member of
//! the store checking in once over HTTP from many connections, then every member sending it
//! again (each a 409 `already_checked_in`) — and the points and `verify` afterwards: exactly one
//! day's reward per member.

use crate::coupons::{drive, members, KEY};
use jiff::Timestamp;
use loyalty_core::Program;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long, default_value_t = 100_000)]
    members: u64,
    #[arg(long, default_value_t = 64)]
    clients: usize,
    #[arg(long, default_value = "/tmp/loyalty-bench-checkins")]
    dir: std::path::PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    // The built-in programme: 5 points a day, milestones from the third day on.
    let program = Program::default_program();
    println!(
        "machine: {} cores; bench-checkins {args:?}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let store = crate::tiers::fresh_store(&args.dir, "checkins.db").await?;
    members(store.as_ref(), &program, args.members, Timestamp::now()).await?;
    store.checkpoint().await?;
    let (_state, router) = loyalty::app_with_admin_key(store.clone(), program.clone(), Some(KEY))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });

    let m = args.members;
    // Members in a scattered order, as a morning's taps arrive.
    let path =
        move |i: u64| (format!("/v1/members/m{}/checkins", i.wrapping_mul(2_654_435_761) % m), serde_json::json!({}));
    let first = drive(&base, m, args.clients, path).await?;
    println!("check-in, {} connections, {m} members once each: {first}", args.clients);
    let again = drive(&base, m, args.clients, path).await?;
    println!("the same {m} check-ins again (each a 409 already_checked_in): {again}");
    let totals = store.balance_totals().await?;
    let per_day = program.file.checkin.points;
    println!(
        "points credited: {} active, {} pending (must be {} = {m} × {per_day}: one reward per member)",
        totals.active,
        totals.pending,
        m as i64 * per_day
    );
    anyhow::ensure!(totals.active + totals.pending == m as i64 * per_day, "a check-in paid twice or not at all");
    let report = loyalty_engine::jobs::verify_all(store.as_ref(), &program, 10).await?;
    println!("verify: {} violations", report.violations.len());
    Ok(())
}
