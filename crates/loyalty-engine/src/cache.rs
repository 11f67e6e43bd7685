//! A per-process cache of member accounts for hot reads (checkout evaluation, balances, tier).
//!
//! The writer puts every member it commits, so reads after a write through this process see
//! it at once. Entries loaded by reads carry a version (the member's sequence counters and
//! last profile update) and never replace a newer one, so a slow read cannot undo a write.
//! Writes by other processes (an import, another node on PostgreSQL) become visible within
//! the time-to-live: an entry is served only while it was known current less than `TTL` ago.
//!
//! Keeping entries current costs little: every second [`MemberCache::revalidate`] takes the
//! entries that were read since they were last confirmed and are past half their life, reads
//! their versions in one query, and renews those that have not moved. A member read often is
//! thus never reloaded in a request; one that changed elsewhere expires and is loaded afresh.

use jiff::Timestamp;
use loyalty_core::ids::MemberId;
use loyalty_store::{MemberRecord, Store, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

/// Entries kept at most; beyond it the cache starts over (cheap, and bounded).
pub const CAPACITY: usize = 200_000;
pub const TTL: Duration = Duration::from_secs(5);
/// Entries older than this (and read since) are confirmed in the background.
pub const RENEW_AFTER: Duration = Duration::from_millis(2_500);
/// How often the background confirmation runs.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// Most entries confirmed per round.
pub const RENEW_MAX: usize = 50_000;
/// Entries confirmed per query: small enough that decoding one answer never holds a worker
/// thread (and the requests queued on it) for more than a fraction of a millisecond.
pub const RENEW_CHUNK: usize = 500;

type Version = (i64, i64, i64, i64);

fn version(m: &MemberRecord) -> Version {
    let a = &m.account;
    (a.next_seq(), a.next_growth_seq(), a.next_tier_seq(), m.profile.updated_at.as_microsecond())
}

/// Instants as microseconds since the first cache was made, so that an entry's `checked`
/// can be renewed under the read lock (readers are never blocked by a renewal).
fn stamp(t: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(|| t);
    t.saturating_duration_since(epoch).as_micros() as u64
}

fn fresh(checked: &AtomicU64, now: Instant) -> bool {
    stamp(now).saturating_sub(checked.load(Ordering::Relaxed)) < TTL.as_micros() as u64
}

/// A cached member, or only the version the writer last committed when its account was
/// loaded in part (reads need every lot, so they go to the store for it).
struct Entry {
    /// When the record was last known to be current (see [`stamp`]).
    checked: AtomicU64,
    version: Version,
    record: Option<Arc<MemberRecord>>,
    /// Read since `checked`: worth confirming.
    read: AtomicBool,
}

pub struct MemberCache {
    map: RwLock<HashMap<MemberId, Entry>>,
    /// Off: every read goes to the store (for benchmarks' naive comparison).
    enabled: AtomicBool,
    /// Templates and members' coupons, for checkout.
    pub checkout: crate::checkout_cache::CheckoutCache,
}

impl Default for MemberCache {
    fn default() -> Self {
        stamp(Instant::now());
        Self { map: RwLock::default(), enabled: AtomicBool::new(true), checkout: Default::default() }
    }
}

impl MemberCache {
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
        self.map.write().expect("cache lock").clear();
        self.checkout.set_enabled(on);
    }

    /// Keeps `m` unless a newer version is known. A partially loaded account keeps only its
    /// version. Returns what a read should see: `m` unless a newer record is cached.
    fn put(&self, m: MemberRecord, fresh: Instant) -> Arc<MemberRecord> {
        let mut map = self.map.write().expect("cache lock");
        if map.len() >= CAPACITY {
            map.clear();
        }
        let id = m.account.member_id().clone();
        let v = version(&m);
        let m = Arc::new(m);
        match map.get(&id) {
            Some(old) if old.version > v => old.record.clone().unwrap_or(m),
            _ => {
                let record = m.account.is_fully_loaded().then(|| m.clone());
                let entry =
                    Entry { checked: AtomicU64::new(stamp(fresh)), version: v, record, read: AtomicBool::new(false) };
                map.insert(id, entry);
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
    /// `now` is the caller's clock reading: it bounds the growth history a load reads.
    pub async fn member(
        &self,
        store: &dyn Store,
        id: &MemberId,
        now: Timestamp,
    ) -> Result<Option<Arc<MemberRecord>>, StoreError> {
        if !self.enabled.load(Ordering::Relaxed) {
            return Ok(store.member(id, crate::writer::growth_since(now)).await?.map(Arc::new));
        }
        if let Some(e) = self.map.read().expect("cache lock").get(id) {
            if let Some(record) = e.record.as_ref().filter(|_| fresh(&e.checked, Instant::now())) {
                // Load first: most reads find the flag set and leave the cache line shared.
                if !e.read.load(Ordering::Relaxed) {
                    e.read.store(true, Ordering::Relaxed);
                }
                return Ok(Some(record.clone()));
            }
        }
        let started = Instant::now();
        let Some(m) = store.member(id, crate::writer::growth_since(now)).await? else { return Ok(None) };
        Ok(Some(self.put(m, started)))
    }

    /// Confirms, with one read of their versions, the entries read since they were last
    /// confirmed and older than [`RENEW_AFTER`]; renews those still current. Returns how many
    /// were renewed.
    pub async fn revalidate(&self, store: &dyn Store) -> Result<usize, StoreError> {
        self.revalidate_as_of(store, Instant::now()).await
    }

    /// As [`Self::revalidate`], with ages measured at `now` (tests look from later instead of
    /// waiting). Versions are read after `now`, so a renewed entry is at least that fresh.
    pub async fn revalidate_as_of(&self, store: &dyn Store, now: Instant) -> Result<usize, StoreError> {
        // Within `RENEW_AFTER` of the first stamp nothing is that old; saturating to 0 would
        // take an entry stamped at the epoch itself for old.
        let Some(old) = stamp(now).checked_sub(RENEW_AFTER.as_micros() as u64) else { return Ok(0) };
        let ids: Vec<MemberId> = {
            let map = self.map.read().expect("cache lock");
            map.iter()
                .filter(|(_, e)| {
                    e.record.is_some() && e.read.load(Ordering::Relaxed) && e.checked.load(Ordering::Relaxed) <= old
                })
                .map(|(id, _)| id.clone())
                .take(RENEW_MAX)
                .collect()
        };
        if ids.is_empty() {
            return Ok(0);
        }
        let mut renewed = 0;
        for chunk in ids.chunks(RENEW_CHUNK) {
            // Versions read after this instant are at least this fresh.
            let started = stamp(now.max(Instant::now()));
            let current = store.member_versions(chunk).await?;
            // The read lock is enough: entries are only replaced under the write lock, so the
            // one compared is the one renewed.
            {
                let map = self.map.read().expect("cache lock");
                for id in chunk {
                    let Some(e) = map.get(id) else { continue };
                    if e.checked.load(Ordering::Relaxed) < started && current.get(id) == Some(&e.version) {
                        e.checked.fetch_max(started, Ordering::Relaxed);
                        e.read.store(false, Ordering::Relaxed);
                        renewed += 1;
                    }
                }
            }
            tokio::task::yield_now().await;
        }
        Ok(renewed)
    }

    /// Runs [`MemberCache::revalidate`] every [`RENEW_EVERY`] until the cache is dropped.
    pub async fn keep_fresh(cache: Weak<MemberCache>, store: Arc<dyn Store>) {
        let mut tick = tokio::time::interval(RENEW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(cache) = cache.upgrade() else { return };
            if !cache.enabled.load(Ordering::Relaxed) {
                continue;
            }
            if let Err(e) = cache.revalidate(store.as_ref()).await {
                // Nothing is renewed: entries expire and reads load them from the store.
                tracing::warn!(error = %e, "member cache: confirming entries failed");
            }
        }
    }
}
