//! `loyalty-bench bench-coupons`: a coupon grab (秒杀券: many clients claiming one template of
//! limited stock over HTTP), checkout/evaluate with two coupons on a 10-line cart, and issuing
//! one template to every member through the engine (the path campaigns will use).

use hdrhistogram::Histogram;
use jiff::Timestamp;
use loyalty_core::coupons::{Channel, TemplateInput};
use loyalty_core::ids::{CouponId, MemberId, TemplateId};
use loyalty_core::member::MemberInput;
use loyalty_core::Program;
use loyalty_engine::{apply_batch, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Members who grab and evaluate.
    #[arg(long, default_value_t = 100_000)]
    members: u64,
    /// Stock of the grabbed template.
    #[arg(long, default_value_t = 1_000)]
    stock: i64,
    /// Claim requests sent in the grab (each by a random member, each with its own id).
    #[arg(long, default_value_t = 50_000)]
    claims: u64,
    #[arg(long, default_value_t = 200)]
    clients: usize,
    #[arg(long, default_value_t = 100_000)]
    evaluate_requests: u64,
    /// Members whose carts are evaluated, round robin: the members a store's checkout is busy
    /// with at once (as `bench-tiers --evaluate-members`). The whole population is a cold read each time.
    #[arg(long, default_value_t = 5_000)]
    evaluate_members: u64,
    /// Members one template is issued to through the engine.
    #[arg(long, default_value_t = 1_000_000)]
    issue_members: u64,
    /// One-time codes generated in one request (`POST /v1/coupon-templates/{id}/codes`).
    #[arg(long, default_value_t = 1_000_000)]
    codes: i64,
    #[arg(long, default_value = "/tmp/loyalty-bench-coupons")]
    dir: std::path::PathBuf,
}

pub(crate) const KEY: &str = "bench-admin-key-0123456789";
const BATCH: u64 = 5_000;

fn template(id: &str, stock: Option<i64>, extra: serde_json::Value) -> TemplateInput {
    let mut t = serde_json::json!({
        "id": id, "name": id,
        "benefit": {"kind": "amount_off", "value_minor": 2000, "threshold_minor": 20000},
        "validity": {"relative": {"days": 30}}, "stock": stock, "stackable": true,
    });
    for (k, v) in extra.as_object().expect("an object") {
        t[k] = v.clone();
    }
    serde_json::from_value(t).expect("a valid template")
}

pub(crate) async fn members(
    store: &dyn loyalty_store::Store,
    program: &Program,
    n: u64,
    now: Timestamp,
) -> anyhow::Result<()> {
    let mut start = 0;
    while start < n {
        let cmds: Vec<Command> = (start..(start + BATCH).min(n))
            .map(|i| Command::UpsertMember {
                id: MemberId::parse(&format!("m{i}")).expect("id"),
                input: MemberInput::default(),
            })
            .collect();
        apply_batch(store, program, &cmds, now).await?;
        start += BATCH;
    }
    Ok(())
}

async fn issue_all(
    store: &dyn loyalty_store::Store,
    program: &Program,
    template: &str,
    n: u64,
    now: Timestamp,
) -> anyhow::Result<u64> {
    let (mut start, mut issued) = (0, 0);
    let tpl = TemplateId::parse(template)?;
    while start < n {
        let cmds: Vec<Command> = (start..(start + BATCH).min(n))
            .map(|i| Command::IssueCoupon {
                member: MemberId::parse(&format!("m{i}")).expect("id"),
                template: Some(tpl.clone()),
                code: None,
                coupon: CouponId::parse(&format!("{template}-{i}")).expect("id"),
                channel: Channel::Issue,
            })
            .collect();
        for r in apply_batch(store, program, &cmds, now).await? {
            issued += u64::from(r.is_ok());
        }
        start += BATCH;
    }
    Ok(issued)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let program = Program::default_program();
    println!("machine: {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let store = crate::tiers::fresh_store(&args.dir, "coupons.db").await?;
    let now = Timestamp::now();
    members(store.as_ref(), &program, args.members, now).await?;
    for (id, stock, extra) in [
        ("grab", Some(args.stock), serde_json::json!({"limits": {"lifetime": 1}})),
        ("off20", None, serde_json::json!({})),
        ("pct10", None, serde_json::json!({"benefit": {"kind": "percent_off", "percent_off": 10}})),
    ] {
        store.insert_template(&template(id, stock, extra).validate(&program, now)?).await?;
    }
    // Every member of the evaluate phase holds two stackable coupons.
    for id in ["off20", "pct10"] {
        issue_all(store.as_ref(), &program, id, args.members, now).await?;
    }
    // The setup wrote some 200,000 coupons: fold its log into the database now, so that the
    // checkpoint it would need is not taken in the middle of the measured grab.
    store.checkpoint().await?;
    let (state, router) = loyalty::app_with_admin_key(store.clone(), program.clone(), Some(KEY))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });

    let m = args.members;
    let grab = drive(&base, args.claims, args.clients, move |i| {
        let member = (i.wrapping_mul(2_654_435_761)) % m;
        let body = serde_json::json!({"template": "grab", "source": "claim", "id": format!("g{i}")});
        (format!("/v1/members/m{member}/coupons"), body)
    })
    .await?;
    let t = store.template(&TemplateId::parse("grab")?).await?.expect("the grab template");
    println!("coupon grab, {} clients, {} claims over {} members, stock {}:", args.clients, args.claims, m, args.stock);
    println!("  {grab}; issued {} (must be {})", t.issued, args.stock.min(args.claims as i64));

    let lines: Vec<serde_json::Value> = (0..10)
        .map(|k| serde_json::json!({"sku": format!("S{k}"), "category": format!("c{}", k % 3), "quantity": 1 + k % 2, "unit_price_minor": 3_000 + 1_111 * k}))
        .collect();
    // With the checkout cache and without it (every request reads the member's coupons and
    // their templates from the store), alternating, so that drift on a shared machine hits both.
    let hot = args.evaluate_members.clamp(1, m);
    // The same carts naming no coupon: what evaluate costs without them, for reference.
    let plain = lines.clone();
    let eval = drive(&base, args.evaluate_requests, 64, move |i| {
        let body = serde_json::json!({"member_id": format!("m{}", i % hot), "lines": plain, "shipping_minor": 800});
        ("/v1/checkout/evaluate".to_owned(), body)
    })
    .await?;
    println!("checkout/evaluate without coupons, 10 lines, {hot} members, 64 connections: {eval}");
    for cached in [true, false, true, false] {
        state.writer.cache.checkout.set_enabled(cached);
        let lines = lines.clone();
        let eval = drive(&base, args.evaluate_requests, 64, move |i| {
            let member = i % hot;
            let body = serde_json::json!({"member_id": format!("m{member}"), "lines": lines, "shipping_minor": 800,
                "coupons": [format!("off20-{member}"), format!("pct10-{member}")]});
            ("/v1/checkout/evaluate".to_owned(), body)
        })
        .await?;
        let how = if cached { "checkout cache" } else { "store reads" };
        println!("checkout/evaluate with two coupons, 10 lines, {hot} members, 64 connections, {how}: {eval}");
    }
    state.writer.cache.checkout.set_enabled(true);

    store
        .insert_template(&template("codes", None, serde_json::json!({"channels": ["code"]})).validate(&program, now)?)
        .await?;
    let started = Instant::now();
    let answer = reqwest::Client::new()
        .post(format!("{base}/v1/coupon-templates/codes/codes"))
        .bearer_auth(KEY)
        .json(&serde_json::json!({"count": args.codes, "batch": "b1"}))
        .timeout(std::time::Duration::from_secs(600))
        .send()
        .await?;
    let status = answer.status();
    let made: serde_json::Value = answer.json().await?;
    println!(
        "{} unique one-time codes in one request: {status}, {} codes in {:.1} s",
        args.codes,
        made["count"],
        started.elapsed().as_secs_f64()
    );

    let big = crate::tiers::fresh_store(&args.dir, "issue.db").await?;
    members(big.as_ref(), &program, args.issue_members, now).await?;
    big.insert_template(&template("campaign", None, serde_json::json!({})).validate(&program, now)?).await?;
    let started = Instant::now();
    let issued = issue_all(big.as_ref(), &program, "campaign", args.issue_members, now).await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "issuing one template to {} members through the engine: {issued} issued in {secs:.1} s ({:.0}/s)",
        args.issue_members,
        issued as f64 / secs
    );
    let report = loyalty_engine::jobs::verify_all(big.as_ref(), &program, 10).await?;
    println!("verify after the issue: {} violations", report.violations.len());
    Ok(())
}

/// Sends `n` requests from `clients` connections on a runtime of its own; rate and latency.
pub(crate) async fn drive(
    base: &str,
    n: u64,
    clients: usize,
    request: impl Fn(u64) -> (String, serde_json::Value) + Send + Sync + 'static,
) -> anyhow::Result<String> {
    let base = base.to_owned();
    let request = Arc::new(request);
    tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        rt.block_on(async move {
            let next = Arc::new(AtomicU64::new(0));
            let started = Instant::now();
            let workers: Vec<_> = (0..clients)
                .map(|_| {
                    let (next, base, request) = (next.clone(), base.clone(), request.clone());
                    tokio::spawn(async move {
                        let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().expect("client");
                        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
                        let mut errors = 0u64;
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= n {
                                break;
                            }
                            let (path, body) = request(i);
                            let t = Instant::now();
                            let sent = client.post(format!("{base}{path}")).bearer_auth(KEY).json(&body).send().await;
                            // A refused claim (409 out of stock or over the limit) is an answer.
                            let ok =
                                sent.map(|r| r.status().is_success() || r.status().as_u16() == 409).unwrap_or(false);
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
            Ok(format!(
                "{:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, {errors} errors",
                n as f64 / secs,
                hist.value_at_quantile(0.5) as f64 / 1e3,
                hist.value_at_quantile(0.99) as f64 / 1e3
            ))
        })
    })
    .await?
}
