//! What checkout weighs besides the member's account, kept per process: coupon templates and
//! each member's coupons. Checkout evaluation writes nothing, and an order re-decides every
//! coupon in its own transaction, so what is kept here needs only the member cache's promise:
//! after a write through this process a read sees it at once, and writes elsewhere (another
//! node on PostgreSQL) are seen within [`TTL`].
//!
//! The writer drops a member's coupons when a batch it committed changed any of them. A read
//! that loaded them from the store keeps them only if no such drop happened meanwhile (a
//! generation counter), so a slow read cannot put back what a write replaced.

use loyalty_core::coupons::{Coupon, Template};
use loyalty_core::ids::{MemberId, TemplateId};
use loyalty_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

pub use crate::cache::TTL;

/// Members whose coupons are kept at most; beyond it the map starts over.
pub const MEMBERS: usize = 200_000;
/// Coupons kept in all (about 200 bytes each); beyond it the map starts over.
pub const COUPONS: usize = 1_000_000;
/// Templates kept at most; beyond it the map starts over.
pub const TEMPLATES: usize = 10_000;
/// A member holding more coupons than this (used ones included) is read from the store each
/// time: checkout then reads only the coupons it needs.
pub const MAX_KEPT_COUPONS: usize = 200;

struct Kept<T> {
    at: Instant,
    value: T,
}

impl<T> Kept<T> {
    fn fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.at) < TTL
    }
}

/// Members' coupons, and how many coupons they hold in all.
#[derive(Default)]
struct MemberCoupons {
    map: HashMap<MemberId, Kept<Arc<[Coupon]>>>,
    coupons: usize,
}

impl MemberCoupons {
    fn clear(&mut self) {
        self.map.clear();
        self.coupons = 0;
    }
    fn remove(&mut self, m: &MemberId) {
        if let Some(k) = self.map.remove(m) {
            self.coupons -= k.value.len();
        }
    }
    fn insert(&mut self, m: MemberId, k: Kept<Arc<[Coupon]>>) {
        self.remove(&m);
        if self.map.len() >= MEMBERS || self.coupons + k.value.len() > COUPONS {
            self.clear();
        }
        self.coupons += k.value.len();
        self.map.insert(m, k);
    }
}

pub struct CheckoutCache {
    templates: RwLock<HashMap<TemplateId, Kept<Arc<Template>>>>,
    /// Every coupon of the member (at most [`MAX_KEPT_COUPONS`]), soonest end first.
    coupons: RwLock<MemberCoupons>,
    /// Moves on every drop of a member's coupons.
    generation: AtomicU64,
    enabled: AtomicBool,
}

impl Default for CheckoutCache {
    fn default() -> Self {
        Self {
            templates: RwLock::default(),
            coupons: RwLock::default(),
            generation: AtomicU64::new(0),
            enabled: AtomicBool::new(true),
        }
    }
}

impl CheckoutCache {
    /// Off: checkout reads the store on every request (the benchmark's naive comparison).
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
        self.templates.write().expect("cache lock").clear();
        self.coupons.write().expect("cache lock").clear();
    }

    /// The template, kept for [`TTL`] (its terms never change; its name may be patched).
    pub async fn template(&self, store: &dyn Store, id: &TemplateId) -> Result<Option<Arc<Template>>, StoreError> {
        let on = self.enabled.load(Ordering::Relaxed);
        if on {
            if let Some(k) = self.templates.read().expect("cache lock").get(id).filter(|k| k.fresh(Instant::now())) {
                return Ok(Some(k.value.clone()));
            }
        }
        let at = Instant::now();
        let Some(t) = store.template(id).await? else { return Ok(None) };
        let t = Arc::new(t);
        if on {
            let mut map = self.templates.write().expect("cache lock");
            if map.len() >= TEMPLATES {
                map.clear();
            }
            map.insert(id.clone(), Kept { at, value: t.clone() });
        }
        Ok(Some(t))
    }

    /// Every coupon the member holds, soonest end first, or `None` when the member holds more
    /// than [`MAX_KEPT_COUPONS`] (the caller then asks the store for what it needs).
    pub async fn coupons(&self, store: &dyn Store, member: &MemberId) -> Result<Option<Arc<[Coupon]>>, StoreError> {
        let on = self.enabled.load(Ordering::Relaxed);
        if on {
            if let Some(k) =
                self.coupons.read().expect("cache lock").map.get(member).filter(|k| k.fresh(Instant::now()))
            {
                return Ok(Some(k.value.clone()));
            }
        }
        let (at, generation) = (Instant::now(), self.generation.load(Ordering::Acquire));
        let held = store.member_coupons(member, None, jiff::Timestamp::UNIX_EPOCH, MAX_KEPT_COUPONS as i64 + 1).await?;
        if held.len() > MAX_KEPT_COUPONS {
            return Ok(None);
        }
        let held: Arc<[Coupon]> = held.into();
        if on {
            let mut map = self.coupons.write().expect("cache lock");
            // Under the lock a drop cannot slip in between the test and the insert.
            if self.generation.load(Ordering::Acquire) == generation {
                map.insert(member.clone(), Kept { at, value: held.clone() });
            }
        }
        Ok(Some(held))
    }

    /// Drops the coupons of `members`: a batch that changed them has committed.
    pub fn coupons_changed<'a>(&self, members: impl IntoIterator<Item = &'a MemberId>) {
        let mut members = members.into_iter().peekable();
        if members.peek().is_none() {
            return;
        }
        let mut map = self.coupons.write().expect("cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        for m in members {
            map.remove(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loyalty_core::coupons::{Channel, CouponStatus};
    use loyalty_core::ids::CouponId;

    fn coupons(member: &str, n: usize) -> Kept<Arc<[Coupon]>> {
        let t = jiff::Timestamp::UNIX_EPOCH;
        let one = |i: usize| Coupon {
            member_id: MemberId::parse(member).unwrap(),
            coupon_id: CouponId::parse(&format!("c{i}")).unwrap(),
            template_id: TemplateId::parse("t").unwrap(),
            status: CouponStatus::Available,
            source: Channel::Issue,
            issued_at: t,
            valid_from: t,
            valid_until: t,
            order_id: None,
            used_at: None,
            reserved_until: None,
            version: 1,
            dirty: false,
        };
        Kept { at: Instant::now(), value: (0..n).map(one).collect() }
    }

    #[test]
    fn the_count_of_kept_coupons_follows_every_insert_replace_and_remove() {
        let mut m = MemberCoupons::default();
        let (a, b) = (MemberId::parse("a").unwrap(), MemberId::parse("b").unwrap());
        m.insert(a.clone(), coupons("a", 3));
        m.insert(b.clone(), coupons("b", 2));
        assert_eq!(m.coupons, 5);
        m.insert(a.clone(), coupons("a", 1));
        assert_eq!(m.coupons, 3, "a replaced entry stops counting");
        m.remove(&b);
        m.remove(&b);
        assert_eq!((m.coupons, m.map.len()), (1, 1));
        m.insert(b.clone(), coupons("b", COUPONS));
        assert_eq!((m.coupons, m.map.len()), (COUPONS, 1), "past the bound the map starts over");
    }
}
