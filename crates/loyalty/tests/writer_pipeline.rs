//! The server's writer loads and runs the next batch while the current one commits (SQLite):
//! whatever the interleaving, with another connection writing the same members meanwhile,
//! every order counts once and nothing is lost. Runs on SQLite, and on PostgreSQL (where
//! each batch runs in its own transaction) when `LOYALTY_TEST_DATABASE_URL` is set.

mod common;
use common::*;
use jiff::{SignedDuration, Timestamp};
use loyalty_core::ids::{MemberId, OrderId};
use loyalty_core::order::{LineInput, OrderInput};
use loyalty_engine::{apply_batch, Command, Outcome};

/// An order of ¥`yuan` (as many points under the default programme) paid a month ago.
fn order(app: &TestApp, id: &str, member: &str, yuan: i64, now: Timestamp) -> Command {
    let input = OrderInput {
        id: id.into(),
        member_id: member.into(),
        paid_at: now.checked_sub(SignedDuration::from_hours(24 * 30)).unwrap().to_string(),
        currency: None,
        lines: vec![LineInput::one_unit("S".into(), None, None, yuan * 100)],
        shipping_minor: 0,
        shipping_waived_minor: 0,
        coupons: Vec::new(),
    };
    Command::PlaceOrder { order: input.validate(&app.program, now).unwrap(), create_member: true }
}

async fn metrics(app: &TestApp) -> String {
    match app.get("/metrics").await.1 {
        serde_json::Value::String(text) => text,
        other => panic!("metrics are text: {other}"),
    }
}

fn ahead(metrics: &str, result: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("loyalty_batches_ahead_total") && l.contains(&format!("result=\"{result}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

#[tokio::test]
async fn batches_loaded_ahead_count_every_order_once_with_another_writer_between() {
    let app = spawn_app().await;
    let now = Timestamp::now();
    const MEMBERS: usize = 60;
    const ROUNDS: usize = 8;
    // Members exist first, so that orders need not create them.
    let mut created = Vec::new();
    for m in 0..MEMBERS {
        created.push(order(&app, &format!("wp-0-{m}"), &format!("wp{m}"), 10, now));
    }
    apply_batch(app.store.as_ref(), &app.program, &created, now).await.unwrap();
    let before = ahead(&metrics(&app).await, "written");
    // Another connection (a store of its own, as another process would be) writes orders for
    // the same members all the while, so some batches run ahead must be run again.
    let (url, program) = (app.url.clone(), app.program.clone());
    let outside: Vec<Command> =
        (0..MEMBERS).map(|m| order(&app, &format!("wp-x-{m}"), &format!("wp{m}"), 1, now)).collect();
    let other = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let store = loyalty_store::open(&url).await.unwrap();
            for cmd in outside {
                apply_batch(store.as_ref(), &program, &[cmd], now).await.unwrap();
            }
        })
    });
    // Clients that each send their orders one after another, as HTTP connections do, so that
    // what queues while one batch runs is the next batch; each client's members are its own,
    // and a member's second order in a round names what the batch before changed.
    const CLIENTS: usize = 30;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let cmds: Vec<Command> = (1..=ROUNDS)
            .flat_map(|r| (c..MEMBERS).step_by(CLIENTS).flat_map(move |m| (0..2).map(move |k| (r, m, k))))
            .map(|(r, m, k)| order(&app, &format!("wp-{r}-{m}-{k}"), &format!("wp{m}"), 100, now))
            .collect();
        let writer = app.state.writer.clone();
        tasks.spawn(async move {
            for cmd in cmds {
                let outcome = writer.submit(cmd).await.unwrap();
                assert!(matches!(outcome, Outcome::Order { replayed: false, .. }), "{outcome:?}");
                // Clients come back at different moments (each yields its own number of
                // times), so that commands queue while a batch runs, as HTTP's do.
                for _ in 0..c * 40 {
                    tokio::task::yield_now().await;
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    other.join().unwrap();
    for m in 0..MEMBERS {
        let rec = app.store.member(&MemberId::parse(&format!("wp{m}")).unwrap(), now).await.unwrap().unwrap();
        let b = rec.account.buckets();
        // Every order stored once, and the member holds exactly what they earned (a tier
        // reached on the way raises the multiplier, so the figure is each order's own).
        let mut ids = vec![format!("wp-0-{m}"), format!("wp-x-{m}")];
        ids.extend((1..=ROUNDS).flat_map(|r| (0..2).map(move |k| format!("wp-{r}-{m}-{k}"))));
        let mut earned = 0;
        for id in &ids {
            let o =
                app.store.order(&OrderId::parse(id).unwrap()).await.unwrap().unwrap_or_else(|| panic!("{id} stored"));
            earned += o.0.earned_points.get();
        }
        assert!(earned >= 11 + (ROUNDS as i64) * 200, "member wp{m}: {earned}");
        assert_eq!((b.active + b.pending).get(), earned, "member wp{m}");
    }
    let report = loyalty_engine::jobs::verify_all(app.store.as_ref(), &app.program, 4).await.unwrap();
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    if app.store.backend() == "sqlite" {
        let text = metrics(&app).await;
        let after = ahead(&text, "written");
        assert!(after > before, "some batches were loaded ahead and written ({before} → {after})");
    }
}
