//! `loyalty-bench bench-mall`: a points-mall grab (many clients redeeming one item of limited
//! stock over HTTP) and a lottery under load (many clients drawing with a budget), then
//! `verify` over the store.

use crate::coupons::{drive, members, KEY};
use jiff::Timestamp;
use loyalty_core::ids::{AdjustmentId, LotteryId, MemberId, RewardId};
use loyalty_core::rewards::{LotteryInput, RewardInput};
use loyalty_core::text::Reason;
use loyalty_core::Program;
use loyalty_engine::{apply_batch, Command};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long, default_value_t = 100_000)]
    members: u64,
    /// Stock of the grabbed item.
    #[arg(long, default_value_t = 1_000)]
    stock: i64,
    /// Redemption requests in the grab, and draws in the lottery phase.
    #[arg(long, default_value_t = 50_000)]
    requests: u64,
    #[arg(long, default_value_t = 200)]
    clients: usize,
    #[arg(long, default_value = "/tmp/loyalty-bench-mall")]
    dir: std::path::PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let program = Program::default_program();
    println!("machine: {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let store = crate::tiers::fresh_store(&args.dir, "mall.db").await?;
    let now = Timestamp::now();
    members(store.as_ref(), &program, args.members, now).await?;
    // Every member gets 10,000 points to spend.
    let mut start = 0;
    while start < args.members {
        let cmds: Vec<Command> = (start..(start + 5_000).min(args.members))
            .map(|i| Command::Adjust {
                member: MemberId::parse(&format!("m{i}")).expect("id"),
                id: AdjustmentId::parse("seed").expect("id"),
                points: loyalty_core::Points::new(10_000),
                reason: Reason::parse("bench seed").expect("reason"),
                actor: "bench".into(),
                audited: false,
            })
            .collect();
        apply_batch(store.as_ref(), &program, &cmds, now).await?;
        start += 5_000;
    }
    let reward: RewardInput = serde_json::from_value(serde_json::json!({"id": "cup", "name": "cup",
        "item": {"kind": "goods", "sku": "CUP"}, "price_points": 500, "stock": args.stock, "limits": {"lifetime": 1}}))?;
    store.insert_reward(&reward.validate(&program, now)?).await?;
    let lottery: LotteryInput = serde_json::from_value(serde_json::json!({"id": "spin", "name": "spin",
        "cost_points": 10, "budget_minor": 50_000, "fallback": "thanks", "prizes": [
        {"id": "p100", "name": "100", "weight": 5, "item": {"kind": "points", "points": 100}},
        {"id": "p10", "name": "10", "weight": 30, "item": {"kind": "points", "points": 10}},
        {"id": "thanks", "name": "thanks", "weight": 65, "item": {"kind": "nothing"}}]}))?;
    store.insert_lottery(&lottery.validate(&program, rand::random(), now)?).await?;
    let (_state, router) = loyalty::app_with_admin_key(store.clone(), program.clone(), Some(KEY))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });

    let m = args.members;
    let address = serde_json::json!({"name": "n", "phone": "138", "line": "1 Road"});
    let grab = drive(&base, args.requests, args.clients, move |i| {
        let member = (i.wrapping_mul(2_654_435_761)) % m;
        let body = serde_json::json!({"id": format!("r{i}"), "reward": "cup", "address": address});
        (format!("/v1/members/m{member}/redemptions"), body)
    })
    .await?;
    let r = store.reward(&RewardId::parse("cup")?).await?.expect("the item");
    println!(
        "mall grab, {} clients, {} redemptions over {m} members, stock {}:",
        args.clients, args.requests, args.stock
    );
    println!("  {grab}; redeemed {} (must be {})", r.redeemed, args.stock.min(args.requests as i64));
    let draws = drive(&base, args.requests, args.clients, move |i| {
        let member = (i.wrapping_mul(2_654_435_761)) % m;
        (
            "/v1/lotteries/spin/draws".to_owned(),
            serde_json::json!({"id": format!("d{i}"), "member_id": format!("m{member}")}),
        )
    })
    .await?;
    let l = store.lottery(&LotteryId::parse("spin")?).await?.expect("the lottery");
    println!(
        "lottery, {} clients, {} draws: {draws}; drawn {}, prizes cost {} of a budget of 50000",
        args.clients, args.requests, l.draws, l.spent_minor
    );
    let report = loyalty_engine::jobs::verify_all(store.as_ref(), &program, 10).await?;
    println!("verify: {} violations", report.violations.len());
    Ok(())
}
