//! The write path's shortcuts keep it exact: members that only earn or advance are loaded in
//! part, spenders in full (in a later batch or in the same one), and SQLite's background
//! checkpoints never lose an acknowledged batch. Runs on SQLite, and on PostgreSQL when
//! `LOYALTY_TEST_DATABASE_URL` is set (the checkpoint test is SQLite's own).

mod common;
use common::*;
use jiff::{SignedDuration, Timestamp};
use loyalty_core::ids::MemberId;
use loyalty_core::ids::OrderId;
use loyalty_core::order::{LineInput, OrderInput, RefundInput};
use loyalty_engine::{apply_batch, Command, Outcome};

fn days_before(t: Timestamp, d: i64) -> Timestamp {
    t.checked_sub(SignedDuration::from_hours(24 * d)).unwrap()
}

/// An order of `yuan` (100 points under the default programme for ¥100) paid at `paid_at`.
fn place(app: &TestApp, id: &str, member: &str, yuan: i64, paid_at: Timestamp, now: Timestamp) -> Command {
    let input = OrderInput {
        id: id.into(),
        member_id: member.into(),
        paid_at: paid_at.to_string(),
        currency: None,
        lines: vec![LineInput::one_unit("S".into(), None, None, yuan * 100)],
        shipping_minor: 0,
        shipping_waived_minor: 0,
        coupons: Vec::new(),
    };
    Command::PlaceOrder { order: input.validate(&app.program, now).unwrap(), create_member: true }
}

fn hold(member: &str, order: &str, points: i64) -> Command {
    Command::Hold {
        member: MemberId::parse(member).unwrap(),
        order_id: order.into(),
        points: loyalty_core::Points::new(points),
        order_amount_minor: loyalty_core::Money::new(1_000_000),
        ttl_seconds: 600,
        coupons: Vec::new(),
    }
}

async fn run(app: &TestApp, cmds: Vec<Command>, now: Timestamp) -> Vec<Outcome> {
    apply_batch(app.store.as_ref(), &app.program, &cmds, now).await.unwrap().into_iter().map(|r| r.unwrap()).collect()
}

#[tokio::test]
async fn a_spend_after_partial_loads_takes_the_oldest_points_first() {
    let app = spawn_app().await;
    let now = Timestamp::now();
    // Three batches of orders only: after the first, the member is loaded without its active lots.
    for (i, d) in [90, 60, 30].into_iter().enumerate() {
        run(&app, vec![place(&app, &format!("pl-{i}"), "pl", 100, days_before(now, d), now)], now).await;
    }
    let stored = app.store.member(&MemberId::parse("pl").unwrap(), now).await.unwrap().unwrap();
    assert_eq!((stored.account.buckets().active.get(), stored.account.lots().len()), (300, 3), "three active lots");
    // A hold needs the spending order, so this batch loads the member in full.
    let out = run(&app, vec![hold("pl", "cart-1", 150)], now).await;
    let Outcome::Hold { hold, balances, .. } = &out[0] else { panic!("a hold: {out:?}") };
    let lot_of = |i: usize| stored.account.lots().iter().find(|l| l.source_id == format!("pl-{i}")).unwrap().lot_no;
    let taken: Vec<(i64, i64)> = hold.allocations.iter().map(|a| (a.lot_no, a.points.get())).collect();
    assert_eq!(taken, vec![(lot_of(0), 100), (lot_of(1), 50)], "the oldest lot first, then the next");
    assert_eq!((balances.active.get(), balances.held.get()), (150, 150));
    app.assert_verified().await;
}

#[tokio::test]
async fn orders_and_a_spend_in_one_batch_load_the_member_in_full() {
    let app = spawn_app().await;
    let now = Timestamp::now();
    run(&app, vec![place(&app, "mx-0", "mx", 100, days_before(now, 40), now)], now).await;
    run(&app, vec![place(&app, "mx-1", "mx", 100, days_before(now, 20), now)], now).await;
    let out = run(
        &app,
        vec![
            place(&app, "mx-2", "mx", 100, days_before(now, 10), now),
            hold("mx", "cart-1", 250),
            place(&app, "mx-3", "mx", 100, days_before(now, 1), now),
        ],
        now,
    )
    .await;
    let Outcome::Hold { balances, .. } = &out[1] else { panic!("a hold: {out:?}") };
    assert_eq!((balances.active.get(), balances.held.get(), balances.pending.get()), (50, 250, 0));
    let stored = app.store.member(&MemberId::parse("mx").unwrap(), now).await.unwrap().unwrap();
    assert_eq!((stored.account.buckets().active.get(), stored.account.buckets().pending.get()), (50, 100));
    app.assert_verified().await;
}

#[tokio::test]
async fn a_refund_of_an_order_placed_in_the_same_batch_loads_the_member_in_full() {
    let app = spawn_app().await;
    let now = Timestamp::now();
    run(&app, vec![place(&app, "rf-0", "rf", 100, days_before(now, 60), now)], now).await;
    // Both orders' points are active (paid 60 and 30 days ago), so refunding the new order in
    // full takes its points from active points, soonest expiry first: the spending order,
    // which a partial load does not have.
    let refund = Command::Refund {
        order_id: OrderId::parse("rf-1").unwrap(),
        input: RefundInput { id: "r1".into(), amount_minor: Some(10_000), lines: None, refunded_at: None },
    };
    let out = run(&app, vec![place(&app, "rf-1", "rf", 100, days_before(now, 30), now), refund], now).await;
    let Outcome::Refund { order, .. } = &out[1] else { panic!("a refund: {out:?}") };
    assert_eq!(order.clawed_back_points.get(), 100);
    let m = app.store.member(&MemberId::parse("rf").unwrap(), now).await.unwrap().unwrap();
    assert_eq!((m.account.buckets().active.get(), m.account.buckets().debt.get()), (100, 0));
    let older = m.account.lots().iter().find(|l| l.source_id == "rf-0");
    assert!(older.is_none(), "the older lot gave its points first and holds none now: {:?}", m.account.lots());
    app.assert_verified().await;
}

#[tokio::test]
async fn advancing_a_partially_loaded_member_activates_and_expires_what_is_due() {
    let app = spawn_app().await;
    let now = Timestamp::now();
    run(&app, vec![place(&app, "ad-0", "ad", 100, days_before(now, 2), now)], now).await;
    run(&app, vec![place(&app, "ad-1", "ad", 200, days_before(now, 30), now)], now).await;
    let member = MemberId::parse("ad").unwrap();
    // Ten days on, the first order's points activate; years on, every lot has expired.
    let later = now.checked_add(SignedDuration::from_hours(24 * 10)).unwrap();
    run(&app, vec![Command::Advance { member: member.clone() }], later).await;
    let m = app.store.member(&member, later).await.unwrap().unwrap();
    assert_eq!((m.account.buckets().pending.get(), m.account.buckets().active.get()), (0, 300));
    let much_later = now.checked_add(SignedDuration::from_hours(24 * 365 * 3)).unwrap();
    run(&app, vec![Command::Advance { member: member.clone() }], much_later).await;
    let m = app.store.member(&member, much_later).await.unwrap().unwrap();
    assert_eq!((m.account.buckets().pending.get(), m.account.buckets().active.get()), (0, 0), "every lot expired");
    app.assert_verified().await;
}

#[tokio::test]
async fn background_checkpoints_keep_every_acknowledged_batch() {
    if std::env::var("LOYALTY_TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        return; // SQLite's write-ahead log only.
    }
    let app = spawn_app().await;
    let now = Timestamp::now();
    let mut acknowledged = 0;
    // Batches before, between and after background checkpoints (about one a second).
    for b in 0..6 {
        let cmds: Vec<Command> = (0..50)
            .map(|i| place(&app, &format!("ck-{b}-{i}"), &format!("ck{}", i % 7), 10 + i, days_before(now, 9), now))
            .collect();
        acknowledged += run(&app, cmds, now).await.len();
        if b % 2 == 1 {
            // A background checkpoint runs between this batch and the next: wait for it, not
            // for a time it usually takes.
            let seen = app.store.background_checkpoints();
            for _ in 0..1_000 {
                if app.store.background_checkpoints() > seen {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            assert!(app.store.background_checkpoints() > seen, "a background checkpoint ran");
        }
    }
    // A second handle on the same file sees every acknowledged order.
    let reopened = loyalty_store::open(&app.url).await.unwrap();
    assert_eq!(reopened.totals().await.unwrap().orders, acknowledged as i64);
    reopened.checkpoint().await.unwrap();
    let TestDb::Sqlite(path) = &app.db else { unreachable!("SQLite only") };
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0, "TRUNCATE empties the log");
    let r = loyalty_engine::jobs::verify_all(reopened.as_ref(), &app.program, 50).await.unwrap();
    assert!(r.violations.is_empty(), "{:?}", r.violations);
}

/// `apply_batches` runs a batch's rules while the batch before is written, on what it loaded
/// in the transaction before. A write by another connection in between must be seen: the
/// batch is loaded and run again (SQLite: the commit mark changed). The other writer here is
/// a second store on the same database, writing to the next batch's member between the two
/// transactions (from `done`, which runs between them).
#[tokio::test]
async fn batches_run_early_are_run_again_after_another_connection_writes() {
    let app = spawn_app().await;
    let now = Timestamp::now();
    let program = std::sync::Arc::new(app.program.clone());
    let batches = vec![
        (1, vec![place(&app, "pe-1", "pe-a", 100, days_before(now, 30), now)]),
        (2, vec![place(&app, "pe-2", "pe-b", 200, days_before(now, 20), now)]),
        (3, vec![place(&app, "pe-3", "pe-c", 300, days_before(now, 10), now)]),
    ];
    let outside = place(&app, "pe-x", "pe-b", 50, days_before(now, 25), now);
    let mut seen = Vec::new();
    loyalty_engine::apply_batches(
        app.store.as_ref(),
        &program,
        &loyalty_engine::SystemClock,
        batches,
        |tag, replies| {
            assert!(replies.iter().all(|r| r.is_ok()), "{replies:?}");
            if tag == 1 {
                // Another connection writes to pe-b, whose batch may already have been run. (A
                // store of its own, on a runtime of its own: this test's runtime is blocked here.)
                let (url, program, cmd) = (app.url.clone(), app.program.clone(), outside.clone());
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    rt.block_on(async {
                        let other = loyalty_store::open(&url).await.unwrap();
                        apply_batch(other.as_ref(), &program, &[cmd], now).await.unwrap()
                    })
                })
                .join()
                .unwrap();
            }
            seen.push(tag);
        },
    )
    .await
    .unwrap();
    assert_eq!(seen, vec![1, 2, 3], "each batch's replies, in order");
    let b = app.store.member(&MemberId::parse("pe-b").unwrap(), now).await.unwrap().unwrap();
    assert_eq!(b.account.buckets().active.get(), 250, "both of pe-b's orders count: neither write was lost");
    for id in ["pe-1", "pe-2", "pe-3", "pe-x"] {
        assert!(app.store.order(&OrderId::parse(id).unwrap()).await.unwrap().is_some(), "{id} stored");
    }
    let report = loyalty_engine::jobs::verify_all(app.store.as_ref(), &app.program, 4).await.unwrap();
    assert!(report.violations.is_empty(), "{:?}", report.violations);
}

/// Batches that touch the same member are never run early: the second sees the first's write.
#[tokio::test]
async fn batches_on_the_same_member_see_each_other() {
    let app = spawn_app().await;
    let now = Timestamp::now();
    let program = std::sync::Arc::new(app.program.clone());
    let batches = vec![
        ((), vec![place(&app, "ps-1", "ps", 100, days_before(now, 30), now)]),
        ((), vec![place(&app, "ps-2", "ps", 100, days_before(now, 20), now), hold("ps", "cart", 150)]),
        ((), vec![place(&app, "ps-1", "ps", 100, days_before(now, 30), now)]),
    ];
    let mut replies = Vec::new();
    loyalty_engine::apply_batches(app.store.as_ref(), &program, &loyalty_engine::SystemClock, batches, |_, r| {
        replies.extend(r)
    })
    .await
    .unwrap();
    assert!(matches!(replies[2], Ok(Outcome::Hold { .. })), "the hold saw the first batch's points: {:?}", replies[2]);
    assert!(matches!(replies[3], Ok(Outcome::Order { replayed: true, .. })), "a replay: {:?}", replies[3]);
    let report = loyalty_engine::jobs::verify_all(app.store.as_ref(), &app.program, 4).await.unwrap();
    assert!(report.violations.is_empty(), "{:?}", report.violations);
}
