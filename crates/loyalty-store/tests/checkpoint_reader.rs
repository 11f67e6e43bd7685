//! The background checkpointer never starves the writer: a reader that keeps an old snapshot
//! open (a long analytics query, a backup, another process) makes each RESTART give up after
//! its bounded wait and back off, so writes keep going with bounded latency and none fails.

use loyalty_store::prelude::*;
use loyalty_store::SqliteStore;
use sqlx::{Connection, Executor};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_reader_delays_writes_by_a_bounded_wait_and_fails_none() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let store = SqliteStore::open(&url).await.unwrap();
    store.execute_raw("CREATE TABLE blobs (x BLOB)").await.unwrap();
    // About 40 MiB of log: past the size at which the checkpointer restarts the log.
    for _ in 0..200 {
        store.execute_raw("INSERT INTO blobs VALUES (randomblob(204800))").await.unwrap();
    }
    // A reader holding a snapshot for 12 s: no RESTART can finish meanwhile.
    let mut reader = sqlx::SqliteConnection::connect(&url).await.unwrap();
    reader.execute("BEGIN").await.unwrap();
    reader.fetch_one("SELECT count(*) FROM blobs").await.unwrap();
    let started = Instant::now();
    let (mut slowest, mut writes) = (Duration::ZERO, 0);
    while started.elapsed() < Duration::from_secs(12) {
        let t = Instant::now();
        store.execute_raw("INSERT INTO blobs VALUES (x'00')").await.expect("a write while a reader holds the log");
        slowest = slowest.max(t.elapsed());
        writes += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    reader.execute("COMMIT").await.unwrap();
    // Each RESTART holds writers for at most 2 s; before the back-off a busy RESTART was
    // retried at once and held them for as long as the reader lived.
    assert!(slowest < Duration::from_secs(5), "slowest write {slowest:?} over {writes} writes");
    assert!(writes > 100, "writes kept going: {writes}");
}
