//! `loyalty-bench bench-memberships`: the monthly coupon-pack job for a million paid members
//! (members subscribed through the engine in big batches, then `jobs::run_due` a month later
//! issues every member's pack), and the paid-membership report over a million members and ten
//! million orders (`membership_data`), against the naive read of the orders table.

use crate::membership_data;
use jiff::{Timestamp, ToSpan};
use loyalty_core::coupons::TemplateInput;
use loyalty_core::ids::{MemberId, TemplateId};
use loyalty_core::membership::Payment;
use loyalty_core::Program;
use loyalty_engine::{apply_batch, Command};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Paid members whose monthly pack the job issues.
    #[arg(long, default_value_t = 1_000_000)]
    pub pack_members: u64,
    /// Members and orders in the report's store.
    #[arg(long, default_value_t = 1_000_000)]
    pub report_members: usize,
    #[arg(long, default_value_t = 10_000_000)]
    pub report_orders: usize,
    /// Commands per batch when subscribing (`apply_batch`, as an import would).
    #[arg(long, default_value_t = 20_000)]
    pub batch: u64,
    #[arg(long, default_value = "/tmp/loyalty-bench-memberships")]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 20_260_101)]
    pub seed: u64,
    /// Only the coupon-pack job, or only the report.
    #[arg(long)]
    pub no_report: bool,
    #[arg(long)]
    pub no_pack: bool,
    /// Keep the report's store a previous run loaded (same sizes and seed).
    #[arg(long)]
    pub reuse: bool,
    /// Runs the report this many more times and prints each time.
    #[arg(long, default_value_t = 0)]
    pub again: usize,
}

/// Two paid plans; the yearly one issues a pack of two templates every month.
pub const PROGRAMME: &str = r#"
[[plans]]
code = "plus"
name = "PLUS"
price_minor = 9900
term = "month"
trial = { days = 14 }
benefits = { discount_percent = 90, free_shipping = true }
[[plans]]
code = "vip"
name = "VIP"
price_minor = 99900
term = "year"
benefits = { discount_percent = 95, coupon_pack = [{ template = "pack-a", count = 1 }, { template = "pack-b", count = 1 }] }
"#;

fn secs(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let program = Program::from_toml(PROGRAMME)?;
    println!(
        "machine: {} cores; bench-memberships {args:?}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    if !args.no_pack {
        pack_job(&args, &program).await?;
    }
    if !args.no_report {
        membership_data::report(&args, &program).await?;
    }
    Ok(())
}

/// Subscribes `pack_members` members to the yearly plan, issues the first month's packs, then
/// times the job a month later, which issues the second.
async fn pack_job(args: &Args, program: &Program) -> anyhow::Result<()> {
    let store = crate::tiers::fresh_store(&args.dir, "packs.db").await?;
    let t0: Timestamp = "2026-01-05T09:00:00+08:00".parse()?;
    for id in ["pack-a", "pack-b"] {
        let t: TemplateInput = serde_json::from_value(serde_json::json!({
            "id": id, "name": id, "benefit": {"kind": "amount_off", "value_minor": 1000, "threshold_minor": 10000},
            "validity": {"relative": {"days": 30}}, "stackable": true, "channels": ["membership"],
        }))?;
        store.insert_template(&t.validate(program, t0)?).await?;
    }
    let n = args.pack_members;
    let started = Instant::now();
    crate::coupons::members(store.as_ref(), program, n, t0).await?;
    println!("{n} members through the engine: {:.1} s", secs(started));
    let started = Instant::now();
    let mut subscribed = 0_u64;
    let mut from = 0;
    while from < n {
        let cmds: Vec<Command> = (from..(from + args.batch).min(n))
            .map(|i| {
                let payment = Payment {
                    id: format!("pay{i}"),
                    plan: "vip".into(),
                    paid_minor: 99_900,
                    payment_ref: format!("ref{i}"),
                    started_at: t0,
                    trial: false,
                };
                Command::Subscribe { member: MemberId::parse(&format!("m{i}")).expect("an id"), payment }
            })
            .collect();
        for r in apply_batch(store.as_ref(), program, &cmds, t0).await? {
            subscribed += u64::from(r.is_ok());
        }
        from += args.batch;
    }
    println!(
        "{subscribed} subscriptions in batches of {}: {:.1} s ({:.0}/s)",
        args.batch,
        secs(started),
        subscribed as f64 / secs(started)
    );
    store.checkpoint().await?;
    let month_later = t0.to_zoned(program.tz.clone()).checked_add(1.month())?.timestamp();
    for (label, at) in [("first month's packs, at the start", t0), ("the monthly job, a month later", month_later)] {
        // The ledger's own due work (activations, tier reviews) runs first, as `run_due` runs
        // it, and is timed apart: the pack job is the memberships' part.
        let started = Instant::now();
        let members = loyalty_engine::jobs::advance_members(store.as_ref(), program, at).await?;
        println!("  {label}: the ledger's due work first, {} members in {:.1} s", members.members, secs(started));
        let started = Instant::now();
        let advanced = loyalty_engine::jobs::advance_memberships(store.as_ref(), program, at).await?;
        let s = secs(started);
        let coupons = store.coupon_report(&TemplateId::parse("pack-a")?, at).await?.issued;
        println!(
            "pack job, {label}: {advanced} memberships advanced in {s:.1} s ({:.0}/s); pack-a issued {coupons} so far",
            advanced as f64 / s
        );
        store.checkpoint().await?;
    }
    Ok(())
}
