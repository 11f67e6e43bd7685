//! `loyalty bench-tiers`: checkout evaluation over HTTP (64 connections, through the real
//! router, with the member cache and, in the same run, without it — the naive way), and a tier
//! review over many members (batched through the engine, as the scheduler does).

use hdrhistogram::Histogram;
use jiff::{SignedDuration, Timestamp};
use loyalty_core::order::{LineInput, OrderInput};
use loyalty_core::Program;
use loyalty_engine::{apply_batch, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Members with a tier to review.
    #[arg(long, default_value_t = 1_000_000)]
    review_members: u64,
    /// Members the evaluate requests spread over.
    #[arg(long, default_value_t = 10_000)]
    evaluate_members: u64,
    #[arg(long, default_value_t = 200_000)]
    evaluate_requests: u64,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    #[arg(long, default_value = "/tmp/loyalty-bench-tiers")]
    dir: std::path::PathBuf,
}

const KEY: &str = "bench-admin-key-0123456789";
const BATCH: u64 = 5_000;

pub(crate) async fn fresh_store(dir: &std::path::Path, name: &str) -> anyhow::Result<Arc<dyn loyalty_store::Store>> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(loyalty_store::open(&format!("sqlite://{}", path.display())).await?)
}

/// Members `0..n`, each with one order at `at` worth `yuan` (enough growth for silver).
async fn seed(
    store: &dyn loyalty_store::Store,
    program: &Program,
    n: u64,
    yuan: i64,
    at: Timestamp,
) -> anyhow::Result<()> {
    let mut start = 0;
    while start < n {
        let cmds: Vec<Command> = (start..(start + BATCH).min(n))
            .map(|i| {
                let input = OrderInput {
                    id: format!("o{i}"),
                    member_id: format!("m{i}"),
                    paid_at: at.to_string(),
                    currency: None,
                    lines: vec![LineInput::one_unit("S".into(), None, None, yuan * 100)],
                    shipping_minor: 0,
                    shipping_waived_minor: 0,
                    coupons: Vec::new(),
                };
                Command::PlaceOrder {
                    order: input.validate(program, at).expect("valid synthetic order"),
                    create_member: true,
                }
            })
            .collect();
        apply_batch(store, program, &cmds, at).await?;
        start += BATCH;
    }
    Ok(())
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let program = Program::default_program();
    println!("machine: {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let (cached, naive) = evaluate_phase(&args, &program).await?;
    println!(
        "checkout/evaluate, {} connections, {} requests over {} members:",
        args.connections, args.evaluate_requests, args.evaluate_members
    );
    println!("  with the member cache: {cached}");
    println!("  naive (store read per request): {naive}");
    review_phase(&args, &program).await
}

async fn evaluate_phase(args: &Args, program: &Program) -> anyhow::Result<(String, String)> {
    let store = fresh_store(&args.dir, "evaluate.db").await?;
    let now = Timestamp::now();
    seed(store.as_ref(), program, args.evaluate_members, 2_000, now.checked_sub(SignedDuration::from_hours(24 * 10))?)
        .await?;
    let (state, router) = loyalty::app_with_admin_key(store, program.clone(), Some(KEY))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });
    let cached = load(args, &base).await?;
    state.writer.cache.set_enabled(false);
    let naive = load(args, &base).await?;
    Ok((cached, naive))
}

/// Drives `POST /v1/checkout/evaluate` from its own runtime and reports rate and latency.
async fn load(args: &Args, base: &str) -> anyhow::Result<String> {
    let (n, conns, members, base) = (args.evaluate_requests, args.connections, args.evaluate_members, base.to_owned());
    tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        rt.block_on(async move {
            let next = Arc::new(AtomicU64::new(0));
            let started = Instant::now();
            let workers: Vec<_> = (0..conns)
                .map(|_| {
                    let (next, base) = (next.clone(), base.clone());
                    tokio::spawn(async move {
                        let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().expect("client");
                        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
                        let mut errors = 0u64;
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= n {
                                break;
                            }
                            let body = serde_json::json!({"member_id": format!("m{}", i % members), "shipping_minor": 800, "points_to_redeem": 100,
                                "lines": [{"sku": "A", "category": "shoes", "quantity": 2, "unit_price_minor": 12_345}, {"sku": "B", "quantity": 1, "unit_price_minor": 999}]});
                            let t = Instant::now();
                            let ok = client.post(format!("{base}/v1/checkout/evaluate")).bearer_auth(KEY).json(&body).send().await.map(|r| r.status().is_success()).unwrap_or(false);
                            hist.record(t.elapsed().as_micros().max(1) as u64).expect("in bounds");
                            errors += u64::from(!ok);
                        }
                        (hist, errors)
                    })
                })
                .collect();
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let mut errors = 0;
            for w in workers {
                let (h, e) = w.await?;
                hist.add(&h)?;
                errors += e;
            }
            let secs = started.elapsed().as_secs_f64();
            let q = |p: f64| hist.value_at_quantile(p) as f64 / 1000.0;
            Ok(format!("{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms, errors {errors}", n as f64 / secs, q(0.5), q(0.99), hist.max() as f64 / 1000.0))
        })
    })
    .await?
}

async fn review_phase(args: &Args, program: &Program) -> anyhow::Result<()> {
    let store = fresh_store(&args.dir, "review.db").await?;
    let t0: Timestamp = "2025-10-01T10:00:00+08:00".parse()?;
    let started = Instant::now();
    seed(store.as_ref(), program, args.review_members, 2_000, t0).await?;
    println!("tier review: seeded {} silver members in {:.1} s", args.review_members, started.elapsed().as_secs_f64());
    // A year and a month later every member's term and grace have ended without growth.
    let at = t0.checked_add(SignedDuration::from_hours(24 * 400))?;
    let started = Instant::now();
    let r = loyalty_engine::jobs::run_due(store.as_ref(), program, at).await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "tier review of {} members (downgrades and lot activations, batched): {:.1} s, {:.0} members/s",
        r.members,
        secs,
        r.members as f64 / secs
    );
    let v = loyalty_engine::jobs::verify_all(store.as_ref(), program, 10).await?;
    anyhow::ensure!(v.violations.is_empty(), "verify after the review: {:?}", v.violations);
    println!("verify after the review: OK ({} members)", v.members);
    Ok(())
}
