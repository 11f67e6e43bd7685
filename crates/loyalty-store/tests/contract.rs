//! The store's contract, as one story told to each backend: SQLite always, and PostgreSQL when
//! `LOYALTY_TEST_DATABASE_URL` names a server (a fresh database is created for the story and
//! dropped after it). Every capability trait is exercised through `dyn Store`, as the engine
//! holds it, so both implementations of the shared SQL answer the same.

use jiff::{SignedDuration, Timestamp};
use loyalty_core::ids::MemberId;
use loyalty_core::ledger::{EntryKind, SourceKind};
use loyalty_core::member::Profile;
use loyalty_core::{Account, Program};
use loyalty_store::prelude::*;
use loyalty_store::{Changes, IdemRecord, LedgerQuery, MemberRecord};
use std::sync::Arc;

/// A fresh database of each backend the environment offers, with a guard that removes it.
async fn fresh_stores() -> Vec<(Arc<dyn Store>, Cleanup)> {
    let tag = format!("{}_{}", std::process::id(), rand_tag());
    let path = std::env::temp_dir().join(format!("loyalty_store_contract_{tag}.db"));
    let sqlite = loyalty_store::open(&format!("sqlite://{}", path.display())).await.expect("open SQLite");
    let mut out = vec![(sqlite, Cleanup::Sqlite(path))];
    if let Ok(server) = std::env::var("LOYALTY_TEST_DATABASE_URL") {
        if server.starts_with("postgres") {
            let name = format!("loyalty_store_contract_{tag}");
            let admin = sqlx::PgPool::connect(&server).await.expect("connect to the test PostgreSQL server");
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.expect("create the database");
            admin.close().await;
            let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(&server);
            let pg = loyalty_store::open(&format!("{base}/{name}")).await.expect("open PostgreSQL");
            out.push((pg, Cleanup::Postgres { server, name }));
        }
    }
    out
}

fn rand_tag() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish() % 1_000_000_007
}

enum Cleanup {
    Sqlite(std::path::PathBuf),
    Postgres { server: String, name: String },
}

impl Cleanup {
    async fn run(self, store: Arc<dyn Store>) {
        drop(store);
        match self {
            Cleanup::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.as_os_str().to_owned();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Cleanup::Postgres { server, name } => {
                if let Ok(admin) = sqlx::PgPool::connect(&server).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await;
                }
            }
        }
    }
}

/// A member who earned 1,200 points an hour ago: one pending lot, one earn entry.
fn earned(id: &str, program: &Program, now: Timestamp) -> MemberRecord {
    let mut account = Account::new(MemberId::parse(id).unwrap());
    let paid_at = now - SignedDuration::from_hours(1);
    account.earn(program, (SourceKind::Order, "o-1"), loyalty_core::Points::new(1_200), paid_at, now).expect("a lot");
    MemberRecord { profile: Profile::new(paid_at, now), account, plan: None }
}

#[tokio::test]
async fn every_backend_tells_the_same_story() {
    let program = Program::default_program();
    let now: Timestamp = "2026-11-20T12:00:00Z".parse().unwrap();
    for (store, cleanup) in fresh_stores().await {
        story(store.as_ref(), &program, now).await;
        cleanup.run(store).await;
    }
}

async fn story(store: &dyn Store, program: &Program, now: Timestamp) {
    let backend = store.backend();
    assert!(["sqlite", "postgres"].contains(&backend), "{backend}");
    let id = MemberId::parse("alice").unwrap();
    assert!(store.member(&id, now).await.unwrap().is_none(), "{backend}: empty at first");

    // Writes: one transaction carries the member, its lot and entry, and a kept response.
    let mut record = earned("alice", program, now);
    let mut changes = Changes::default();
    changes.take_from(&mut record);
    changes.idempotency.push(IdemRecord {
        principal: "shop".into(),
        key: "k-1".into(),
        request_hash: "h".into(),
        status: 201,
        body: "{\"ok\":true}".into(),
        created_at: now,
    });
    let mut tx = store.begin().await.unwrap();
    tx.write(&changes, now).await.unwrap();
    tx.commit().await.unwrap();

    // LedgerReads: the member, the lot and the entry come back as written.
    let m = store.member(&id, now - SignedDuration::from_hours(24 * 800)).await.unwrap().expect("written");
    assert_eq!((m.account.buckets().pending.get(), m.account.buckets().active.get()), (1_200, 0), "{backend}");
    let lots = store.lots(&id, None, 10).await.unwrap();
    assert_eq!(lots.iter().map(|l| l.remaining.get()).collect::<Vec<_>>(), [1_200], "{backend}");
    let q = LedgerQuery { member_id: "alice".into(), limit: 10, ..Default::default() };
    let entries = store.ledger(&q).await.unwrap();
    assert_eq!(entries.iter().map(|e| (e.kind, e.points.get())).collect::<Vec<_>>(), [(EntryKind::Earn, 1_200)]);
    assert_eq!(store.member_ids(None, 10).await.unwrap(), ["alice"], "{backend}");
    let totals = store.totals().await.unwrap();
    assert_eq!((totals.members, totals.entries), (1, 1), "{backend}");
    let activation = lots[0].activates_at;
    assert!(store.due_members(activation - SignedDuration::from_secs(1), 10).await.unwrap().is_empty());
    assert_eq!(
        store.due_members(activation, 10).await.unwrap(),
        std::slice::from_ref(&id),
        "{backend}: due at activation"
    );
    let histories = store.histories(&["alice".to_owned()]).await.unwrap();
    assert_eq!(histories.len(), 1, "{backend}");

    // MemberVersions: what the cache compares moves with a write, and only then.
    let before = store.member_versions(std::slice::from_ref(&id)).await.unwrap();
    assert!(before.contains_key(&id), "{backend}");
    assert_eq!(store.member_versions(std::slice::from_ref(&id)).await.unwrap(), before, "{backend}: no write, no move");
    record
        .account
        .earn(program, (SourceKind::Order, "o-2"), loyalty_core::Points::new(10), now, now)
        .expect("a second lot");
    let mut more = Changes::default();
    more.take_from(&mut record);
    let mut tx = store.begin().await.unwrap();
    tx.write(&more, now).await.unwrap();
    tx.commit().await.unwrap();
    let after = store.member_versions(std::slice::from_ref(&id)).await.unwrap();
    assert_ne!(after.get(&id), before.get(&id), "{backend}: a write moves the version");

    // Idempotency: the kept response, then its purge by age.
    let kept = store.idem_get("shop", "k-1").await.unwrap().expect("kept");
    assert_eq!((kept.status, kept.body.as_str()), (201, "{\"ok\":true}"), "{backend}");
    assert!(store.idem_get("other", "k-1").await.unwrap().is_none(), "{backend}: keys are per principal");
    assert_eq!(store.idem_purge(now).await.unwrap(), 0, "{backend}: nothing older than now");
    assert_eq!(store.idem_purge(now + SignedDuration::from_secs(1)).await.unwrap(), 1, "{backend}");
    assert!(store.idem_get("shop", "k-1").await.unwrap().is_none(), "{backend}");

    // ApiKeys: only the hash is stored and looked up.
    assert!(store.api_key("no-such-hash").await.unwrap().is_none(), "{backend}");
    store.insert_api_key("hash-1", "checkout", "integration", now).await.unwrap();
    assert_eq!(
        store.api_key("hash-1").await.unwrap(),
        Some(("checkout".to_owned(), "integration".to_owned())),
        "{backend}"
    );
    assert!(store.insert_api_key("hash-1", "again", "admin", now).await.is_err(), "{backend}: hashes are unique");

    // Maintenance: a checkpoint is harmless on either backend.
    store.checkpoint().await.unwrap();
}
