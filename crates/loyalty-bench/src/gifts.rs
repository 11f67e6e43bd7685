//! `loyalty-bench bench-gifts`: the birthday job (issue 17 §5) over a store of `members`
//! members (a twelfth of them, ~83,000 of a million, born in the month the job runs in),
//! created through the engine with their birthdays; then the job run again at once, which
//! finds nobody due and gives nothing, and the counts checked: one gift and one coupon per
//! member born that month.

use jiff::Timestamp;
use loyalty_core::coupons::TemplateInput;
use loyalty_core::ids::{MemberId, TemplateId};
use loyalty_core::member::MemberInput;
use loyalty_core::Program;
use loyalty_engine::{apply_batch, Command};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    pub members: u64,
    /// Members created per batch (`apply_batch`, as an import would).
    #[arg(long, default_value_t = 20_000)]
    pub batch: u64,
    #[arg(long, default_value = "/tmp/loyalty-bench-gifts")]
    pub dir: std::path::PathBuf,
}

/// A birthday gift from seven days before the birthday month.
pub const PROGRAMME: &str = r#"
[birthday]
gift = "bday"
gift_when = "before_month"
days_before = 7
"#;

/// Member `i`'s birthday: months in turn, days 1 to 28, so every month holds a twelfth.
fn birthday(i: u64) -> String {
    format!("1990-{:02}-{:02}", i % 12 + 1, (i / 12) % 28 + 1)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let program = Program::from_toml(PROGRAMME)?;
    println!(
        "machine: {} cores; bench-gifts {args:?}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let store = crate::tiers::fresh_store(&args.dir, "gifts.db").await?;
    let t0: Timestamp = "2026-11-01T09:00:00+08:00".parse()?;
    let t: TemplateInput = serde_json::from_value(serde_json::json!({
        "id": "bday", "name": "生日礼", "benefit": {"kind": "amount_off", "value_minor": 2000, "threshold_minor": 10000},
        "validity": {"relative": {"days": 30}}, "channels": ["engagement"],
    }))?;
    store.insert_template(&t.validate(&program, t0)?).await?;
    let started = Instant::now();
    let mut from = 0;
    while from < args.members {
        let cmds: Vec<Command> = (from..(from + args.batch).min(args.members))
            .map(|i| Command::UpsertMember {
                id: MemberId::parse(&format!("m{i}")).expect("an id"),
                input: MemberInput { birthday: Some(birthday(i)), ..Default::default() },
            })
            .collect();
        anyhow::ensure!(apply_batch(store.as_ref(), &program, &cmds, t0).await?.iter().all(|r| r.is_ok()));
        from += args.batch;
    }
    println!("{} members with birthdays through the engine: {:.1} s", args.members, started.elapsed().as_secs_f64());
    store.checkpoint().await?;
    // On 1 December only December's birthdays are due (November's window has closed,
    // January's opens on the 25th): a twelfth of the members.
    let at: Timestamp = "2026-12-01T09:00:00+08:00".parse()?;
    let due = (0..args.members).filter(|i| i % 12 == 11).count();
    for label in ["the birthday job", "the same job again (nothing due)"] {
        let started = Instant::now();
        let r = loyalty_engine::jobs::give_gifts(store.as_ref(), &program, at).await?;
        let s = started.elapsed().as_secs_f64();
        println!(
            "{label}: {} gifts given, {} not given, in {s:.2} s ({:.0}/s)",
            r.given,
            r.not_given,
            r.given as f64 / s
        );
        store.checkpoint().await?;
    }
    let issued = store.coupon_report(&TemplateId::parse("bday")?, at).await?.issued;
    println!("members born in December: {due}; coupons issued: {issued}");
    anyhow::ensure!(issued == due as i64, "one gift per member born in December");
    Ok(())
}
