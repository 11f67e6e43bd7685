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

/// A cached member, or only the version the writer last committed when its account was
/// loaded in part (reads need every lot, so they go to the store for it).
struct Slot {
    fresh: Instant,
    version: Version,
    record: Option<Arc<MemberRecord>>,
}

pub struct MemberCache {
    map: RwLock<HashMap<MemberId, Slot>>,
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

    /// Keeps `m` unless a newer version is known. A partially loaded account keeps only its
    /// version. Returns what a read should see: `m` unless a newer record is cached.
    fn put(&self, m: MemberRecord, fresh: Instant) -> Arc<MemberRecord> {
        let mut map = self.map.write().expect("cache lock");
        if map.len() >= CAPACITY {
            map.clear();
        }
        let id = m.account.member_id.clone();
        let v = version(&m);
        let m = Arc::new(m);
        match map.get(&id) {
            Some(old) if old.version > v => old.record.clone().unwrap_or(m),
            _ => {
                let record = m.account.is_fully_loaded().then(|| m.clone());
                map.insert(id, Slot { fresh, version: v, record });
                m
            }
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
        if let Some(slot) = self.map.read().expect("cache lock").get(id) {
            if let Some(m) = slot.record.as_ref().filter(|_| slot.fresh.elapsed() < TTL) {
                return Ok(Some(m.clone()));
            }
        }
        let started = Instant::now();
        let Some(m) = store.member(id, crate::engine::growth_since(Timestamp::now())).await? else { return Ok(None) };
        Ok(Some(self.put(m, started)))
    }
}
