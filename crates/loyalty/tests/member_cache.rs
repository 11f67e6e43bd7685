//! The member cache confirms entries in bulk: an entry read since it was last confirmed and
//! unchanged in the store is renewed without a reload; one that another process changed is
//! left to expire, so that the change is visible within the time-to-live. On SQLite and
//! (with `LOYALTY_TEST_DATABASE_URL`) PostgreSQL.

mod common;
use common::*;
use jiff::Timestamp;
use loyalty_core::ids::MemberId;
use loyalty_core::order::{LineInput, OrderInput};
use loyalty_core::Program;
use loyalty_engine::cache::{MemberCache, RENEW_AFTER};
use loyalty_engine::{apply_batch, Command};

#[tokio::test]
async fn unchanged_entries_are_renewed_and_changed_ones_are_not() {
    let program = Program::from_toml(STABLE).unwrap();
    let (_db, url) = TestDb::fresh().await;
    let store = loyalty_store::open(&url).await.unwrap();
    let now = Timestamp::now();
    let (a, b) = (MemberId::parse("a").unwrap(), MemberId::parse("b").unwrap());
    let join = |id: &MemberId| Command::UpsertMember { id: id.clone(), input: Default::default() };
    for r in apply_batch(store.as_ref(), &program, &[join(&a), join(&b)], now).await.unwrap() {
        r.unwrap();
    }
    let cache = MemberCache::default();
    for id in [&a, &b, &a, &b] {
        assert!(cache.member(store.as_ref(), id, jiff::Timestamp::now()).await.unwrap().is_some());
    }
    // Another process (an import, another node) places an order for b: the store moves on,
    // this cache does not see it.
    let order = OrderInput {
        id: "o-1".into(),
        member_id: "b".into(),
        paid_at: now.to_string(),
        currency: None,
        lines: vec![LineInput::one_unit("S".into(), None, None, 10_000)],
        shipping_minor: 0,
        shipping_waived_minor: 0,
        coupons: Vec::new(),
    };
    let place = Command::PlaceOrder { order: order.validate(&program, now).unwrap(), create_member: false };
    for r in apply_batch(store.as_ref(), &program, &[place], now).await.unwrap() {
        r.unwrap();
    }
    assert_eq!(cache.revalidate(store.as_ref()).await.unwrap(), 0, "young entries are left alone");
    // The cache's ages are monotonic instants: the test looks from RENEW_AFTER later instead of
    // waiting that long.
    let later = std::time::Instant::now() + RENEW_AFTER + std::time::Duration::from_millis(100);
    assert_eq!(cache.revalidate_as_of(store.as_ref(), later).await.unwrap(), 1, "a is renewed, b is not");
    assert_eq!(
        cache.revalidate_as_of(store.as_ref(), later).await.unwrap(),
        0,
        "a was not read since; b still differs"
    );
}
