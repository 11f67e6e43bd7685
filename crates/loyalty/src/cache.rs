//! A per-process cache of member accounts for hot reads (checkout evaluation, balances, tier).
//!
//! The writer puts every member it commits, so reads after a write through this process see
//! it at once. Entries loaded by reads carry a version (the member's sequence counters and
//! last profile update) and never replace a newer one, so a slow read cannot undo a write.
//! Writes by other processes (an import, another node on PostgreSQL) become visible within
//! the time-to-live.

use jiff::Timestamp;
use loyalty_core::ids::MemberId;
use loyalty_store::{MemberRecord, Store, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Entries kept at most; beyond it the cache starts over (cheap, and bounded).
pub const CAPACITY: usize = 200_000;
pub const TTL: Duration = Duration::from_secs(5);

type Version = (i64, i64, i64, i64);

fn version(m: &MemberRecord) -> Version {
    let a = &m.account;
    (a.next_seq, a.next_growth_seq, a.next_tier_seq, m.profile.updated_at.as_microsecond())
}

pub struct MemberCache {
    map: RwLock<HashMap<MemberId, (Instant, Arc<MemberRecord>)>>,
    /// Off: every read goes to the store (for benchmarks' naive comparison).
    enabled: AtomicBool,
}

impl Default for MemberCache {
    fn default() -> Self {
        Self { map: RwLock::default(), enabled: AtomicBool::new(true) }
    }
}

impl MemberCache {
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
        self.map.write().expect("cache lock").clear();
    }

    fn put(&self, m: MemberRecord, fresh: Instant) {
        let mut map = self.map.write().expect("cache lock");
        if map.len() >= CAPACITY {
            map.clear();
        }
        let id = m.account.member_id.clone();
        let keep_old = map.get(&id).is_some_and(|(_, old)| version(old) > version(&m));
        if !keep_old {
            map.insert(id, (fresh, Arc::new(m)));
        }
    }

    /// What the writer committed.
    pub fn put_committed(&self, members: &[MemberRecord]) {
        let now = Instant::now();
        for m in members {
            self.put(m.clone(), now);
        }
    }

    /// The member, from the cache when fresh, else from the store.
    pub async fn member(&self, store: &dyn Store, id: &MemberId) -> Result<Option<Arc<MemberRecord>>, StoreError> {
        if !self.enabled.load(Ordering::Relaxed) {
            return Ok(store.member(id, crate::engine::growth_since(Timestamp::now())).await?.map(Arc::new));
        }
        if let Some((at, m)) = self.map.read().expect("cache lock").get(id) {
            if at.elapsed() < TTL {
                return Ok(Some(m.clone()));
            }
        }
        let started = Instant::now();
        let Some(m) = store.member(id, crate::engine::growth_since(Timestamp::now())).await? else { return Ok(None) };
        self.put(m, started);
        Ok(self.map.read().expect("cache lock").get(id).map(|(_, m)| m.clone()))
    }
}
