//! The embedded default: one SQLite file in WAL mode, durable: the write connection commits at
//! `synchronous = NORMAL` and syncs the log itself, at once (`Tx::commit`) or once for several
//! batches (`Tx::commit_deferred` then `Writes::sync_log`), before anything is acknowledged.
//!
//! Checkpoints are kept off the commit path. With SQLite's default auto-checkpoint, the commit
//! that pushes the write-ahead log past 1,000 pages copies every page the log holds back into
//! the database before it returns, so a batch's latency included the write-back of the
//! batches before it (measured: a third of the import's time). Here a background task runs a
//! PASSIVE checkpoint about once a second instead, which never blocks the writer, followed by
//! a short RESTART once the log passes 32 MiB (see `checkpoint_in_background`). An
//! acknowledged batch's log is synced, so it is durable whether or not it has been
//! checkpointed. A large auto-checkpoint threshold stays as a backstop should the
//! task fall behind, and [`Store::checkpoint`] truncates the log after an import.

use crate::analytics::{ActivityQuery, MemberActivity, Registered, Unpacker};
use crate::convert::micros;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

/// How often the background task checkpoints the write-ahead log.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// Pages (4 KiB) the log may reach before a commit checkpoints it itself: the backstop.
pub const AUTOCHECKPOINT_PAGES: u32 = 65_536;
/// Log size (4 KiB pages, 32 MiB) past which the background task starts the log over.
const RESTART_PAGES: i64 = 8_192;
/// How long a statement waits for a lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a RESTART or TRUNCATE checkpoint waits (and so holds new writers) for a lock.
const RESTART_WAIT_MS: u64 = 2_000;
/// After a RESTART that found the log busy (a reader on an old snapshot), the next one waits
/// this long, doubling up to `RESTART_BACKOFF_MAX`: the writer always gets the time between.
const RESTART_BACKOFF: Duration = Duration::from_secs(2);
const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Attempts at truncating the log (each waits at most `RESTART_WAIT_MS`, then 250 ms apart).
const TRUNCATE_TRIES: usize = 20;

pub struct SqliteStore {
    pool: sqlx::SqlitePool,
    /// The one connection that writes (see [`SqliteStore::open`]).
    writes: sqlx::SqlitePool,
    checkpointer: tokio::task::JoinHandle<()>,
    /// Background checkpoint rounds done (each a PASSIVE checkpoint that answered).
    checkpoint_rounds: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Member insight's own read-only connections to the file (`None` for a store in memory).
    readers: Option<std::sync::Arc<InsightReaders>>,
    /// The write-ahead log's file, which `Writes::sync_log` syncs (`None` in memory).
    log: Option<std::sync::Arc<std::path::Path>>,
}

pub struct SqliteTx {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    log: Option<std::sync::Arc<std::path::Path>>,
}

impl SqliteTx {
    fn log(&self) -> Option<std::sync::Arc<std::path::Path>> {
        self.log.clone()
    }

    /// The write connection's number (see `number_write_connection`) and its `PRAGMA
    /// data_version`, which changes only when another connection commits; none can while this
    /// transaction holds the write lock (`BEGIN IMMEDIATE`). The number tells a connection the
    /// pool replaced, whose `data_version` counts from its own start.
    async fn mark(&mut self) -> crate::Result<Option<(i64, i64)>> {
        let (id, version): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT id FROM temp.loyalty_connection), (SELECT data_version FROM pragma_data_version)",
        )
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(Some((id, version)))
    }
}

/// Syncs the write-ahead log to disk: every commit appended to it before this call is
/// durable when it returns. The file is opened anew each time (the log is truncated and
/// reused, never replaced, while the store is open; a missing log holds nothing unsynced: it
/// is removed only after a checkpoint that synced the database). On Linux an `fdatasync`
/// through any descriptor flushes the file's pages, whoever wrote them.
async fn sync_log_file(log: Option<&std::path::Path>) -> crate::Result<()> {
    let Some(log) = log else { return Ok(()) };
    let log = log.to_path_buf();
    let synced = tokio::task::spawn_blocking(move || match std::fs::File::open(&log) {
        Ok(f) => f.sync_data(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    })
    .await;
    match synced {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(crate::StoreError::Sync(e)),
        Err(e) => Err(crate::StoreError::Sync(std::io::Error::other(e.to_string()))),
    }
}

/// Gives each write connection a number of its own, in a table only it sees.
async fn number_write_connection(conn: &mut sqlx::SqliteConnection) -> std::result::Result<(), sqlx::Error> {
    static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    sqlx::query("CREATE TEMP TABLE IF NOT EXISTS loyalty_connection (id INTEGER NOT NULL)").execute(&mut *conn).await?;
    sqlx::query("DELETE FROM temp.loyalty_connection").execute(&mut *conn).await?;
    sqlx::query("INSERT INTO temp.loyalty_connection (id) VALUES ($1)").bind(id).execute(&mut *conn).await?;
    Ok(())
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // The task holds a handle on the pool; stopping it lets the pool close.
        self.checkpointer.abort();
    }
}

impl SqliteStore {
    const BACKEND: &'static str = "sqlite";

    /// Member insight's read of one range of members, on a read-only connection of its own on a
    /// blocking thread (`None` for a store in memory, which only the pool can see). The log rows
    /// are stepped one by one and parsed where SQLite holds them: returning a range as one text
    /// through the pool copied it four times over, which cost more than SQLite's own walk
    /// (BENCHMARKS.md, run H).
    async fn member_activity_direct(&self, q: &ActivityQuery) -> Option<crate::Result<Vec<MemberActivity>>> {
        let readers = self.readers.clone()?;
        let q = q.clone();
        let read = tokio::task::spawn_blocking(move || {
            let mut conn = readers.take()?;
            let read = read_activity_range(&mut conn, q)?;
            readers.put(conn);
            Ok(read)
        })
        .await;
        Some(read.unwrap_or_else(|e| {
            Err(crate::convert::corrupt("member_activity", format!("reading a range failed: {e}")))
        }))
    }

    /// Member insight's ranges, each with its registered members, from one walk of the index on
    /// `members (member_id, registered_at)` on a reader connection of its own (`None` for a store
    /// in memory). Each range is sent as soon as its `page` members are walked, so reading starts
    /// at once; the readers then walk only the activity logs. (Stepping the bounds walked the
    /// members once more, and each range walked its own again.) The walk and the ranges' reads
    /// are separate transactions: a member registered between them and already buying is read
    /// as a buyer, as one registered after `at` is.
    async fn activity_ranges_direct(
        &self,
        at: jiff::Timestamp,
        page: i64,
        out: tokio::sync::mpsc::UnboundedSender<crate::analytics::ActivityRange>,
    ) -> crate::Result<Option<usize>> {
        let Some(readers) = self.readers.clone() else { return Ok(None) };
        let page = usize::try_from(page).ok().filter(|&p| p > 0).expect("a page holds at least one member");
        let walk = tokio::task::spawn_blocking(move || {
            let mut conn = readers.take()?;
            let sent = walk_ranges(&mut conn, micros(at), page, &out)?;
            readers.put(conn);
            Ok(Some(sent))
        })
        .await;
        walk.unwrap_or_else(|e| Err(crate::convert::corrupt("members", format!("walking the members failed: {e}"))))
    }

    /// Opens (creating if missing) the file a `sqlite://` URL names and applies migrations.
    pub async fn open(url: &str) -> crate::Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged commit survives power loss, not only a process crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("cache_size", "-131072")
            .pragma("temp_store", "memory")
            .pragma("wal_autocheckpoint", AUTOCHECKPOINT_PAGES.to_string());
        let file = opts.get_filename().to_path_buf();
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(opts.clone()).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        // Looked for once the pool has created the file: a store in memory has none.
        let readers = Some(file)
            .filter(|f| f.is_file())
            .map(|file| std::sync::Arc::new(InsightReaders { file, idle: std::sync::Mutex::new(Vec::new()) }));
        // Every write goes through one connection of its own. SQLite keeps a page cache per
        // connection and empties it whenever another connection has written since; with the
        // writes spread over the pool, each batch began by reading its pages again.
        // The connection is kept for the store's life (which also keeps a store in memory).
        // The write connection commits at `synchronous=NORMAL`: a commit appends to the log
        // and returns, and durability comes from `sync_log_file`, either at once
        // (`Tx::commit`) or once for several batches (`Tx::commit_deferred`, then
        // `Writes::sync_log`), so the server's writer begins its next batch while the disk
        // syncs the last ones. WAL at NORMAL stays consistent on any crash; what an fsync
        // has not reached is what a power loss can take, and nothing is acknowledged before.
        let log = readers.as_ref().map(|r| {
            let mut wal = r.file.clone().into_os_string();
            wal.push("-wal");
            std::sync::Arc::<std::path::Path>::from(std::path::PathBuf::from(wal))
        });
        let write_opts = opts.synchronous(SqliteSynchronous::Normal);
        let writes = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            // A file's connection does not go stale the way a socket does, and the ping a
            // test sends is one more round trip to the driver's thread in every batch.
            .test_before_acquire(false)
            .after_connect(|conn, _| Box::pin(number_write_connection(conn)))
            .connect_with(write_opts)
            .await?;
        let checkpoint_rounds = std::sync::Arc::default();
        let checkpointer =
            tokio::spawn(checkpoint_in_background(pool.clone(), std::sync::Arc::clone(&checkpoint_rounds)));
        Ok(Self { pool, writes, checkpointer, checkpoint_rounds, readers, log })
    }

    fn checkpoint_rounds(&self) -> u64 {
        self.checkpoint_rounds.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn begin_tx(&self) -> crate::Result<SqliteTx> {
        // BEGIN IMMEDIATE takes the write lock up front, so a batch never fails half-way on
        // a lock upgrade when another process (an import, say) writes the same file.
        let tx = self.writes.begin_with("BEGIN IMMEDIATE").await?;
        Ok(SqliteTx { tx, log: self.log.clone() })
    }

    fn log_file(&self) -> Option<&std::path::Path> {
        self.log.as_deref()
    }

    /// Copies the whole log into the database and empties it. TRUNCATE holds new writers while
    /// it waits for readers, so each attempt waits at most `RESTART_WAIT_MS` (a server writing
    /// the same file is never held longer) and attempts are 250 ms apart; a log left in place
    /// loses nothing, it is only larger.
    async fn truncate_wal(&self) -> crate::Result<()> {
        for _ in 0..TRUNCATE_TRIES {
            if checkpoint_bounded(&self.pool, "TRUNCATE").await? {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        tracing::warn!("the write-ahead log stayed busy; it was not truncated");
        Ok(())
    }
}

/// PASSIVE copies what it can without waiting for any lock, so the writer never waits on it.
/// But the log only starts over from its beginning when a write begins with every frame
/// copied, which a busy writer (HTTP batches back to back) almost never lets happen: the log
/// then grew to the backstop (measured: 271 MB), and both reads and the backstop's
/// checkpoint got slow. So once the log passes `RESTART_PAGES`, a RESTART checkpoint follows
/// the PASSIVE one: it waits for the current batch to commit, copies only what was written
/// since the PASSIVE one (a batch or so), and lets the next batch start the log over. While a
/// reader keeps an old snapshot the RESTART cannot finish: it gives up after `RESTART_WAIT_MS`
/// and the next attempt backs off (2 s, doubling to 60 s), so a long reader costs the writer
/// at most one bounded wait per attempt, never a starved writer.
async fn checkpoint_in_background(pool: sqlx::SqlitePool, rounds: std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use sqlx::Row;
    let mut backoff = Duration::ZERO;
    loop {
        // A full period after each round (not a fixed-rate timer): a round that waited cannot
        // make the next one start at once.
        tokio::time::sleep(CHECKPOINT_EVERY + backoff).await;
        if pool.is_closed() {
            return;
        }
        let passive = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&pool).await;
        let log_pages = match passive.and_then(|r| r.try_get::<i64, _>(1)) {
            Ok(pages) => pages,
            Err(e) => {
                tracing::warn!(error = %e, "background WAL checkpoint failed; the next one retries");
                continue;
            }
        };
        rounds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if log_pages < RESTART_PAGES {
            backoff = Duration::ZERO;
            continue;
        }
        backoff = match checkpoint_bounded(&pool, "RESTART").await {
            Ok(true) => Duration::ZERO,
            Ok(false) => (backoff * 2).clamp(RESTART_BACKOFF, RESTART_BACKOFF_MAX),
            Err(e) => {
                tracing::warn!(error = %e, "WAL restart failed; a later round retries");
                (backoff * 2).clamp(RESTART_BACKOFF, RESTART_BACKOFF_MAX)
            }
        };
    }
}

/// Runs a RESTART or TRUNCATE checkpoint, which holds new writers while it waits: for the
/// batch in flight, then for readers of older snapshots (a long analytics query, another
/// process). Its wait is bounded by its own busy timeout, shorter than the pool's, so it holds
/// the writer for at most `RESTART_WAIT_MS`. Returns whether it completed (false: busy — a
/// reader still needs the log; the caller backs off so the writer is not held again at once).
async fn checkpoint_bounded(pool: &sqlx::SqlitePool, mode: &str) -> crate::Result<bool> {
    use sqlx::Row;
    debug_assert!(mode == "RESTART" || mode == "TRUNCATE");
    let mut conn = pool.acquire().await?;
    // Closed afterwards instead of going back to the pool with the short timeout.
    conn.close_on_drop();
    sqlx::query(&format!("PRAGMA busy_timeout = {RESTART_WAIT_MS}")).execute(&mut *conn).await?;
    let row = sqlx::query(&format!("PRAGMA wal_checkpoint({mode})")).fetch_one(&mut *conn).await?;
    Ok(row.try_get::<i64, _>(0)? == 0)
}

#[async_trait::async_trait]
impl crate::health::WriteProbe for SqliteStore {
    async fn write_probe(&self) -> crate::Result<crate::health::Writability> {
        crate::health::probe_sqlite(&self.writes).await
    }
}

/// The seam between the SQL both backends share (`shared/`, compiled once per backend as
/// modules of this one) and this backend: its driver, its types and the few fragments of SQL
/// that differ.
mod dialect {
    pub type Db = sqlx::Sqlite;
    pub type StoreImpl = super::SqliteStore;
    pub type TxImpl = super::SqliteTx;
    /// Appended to row loads made for update.
    pub const LOCK: &str = ""; // SQLite's one writer needs no row locks
    /// Appended to a load of rows that are not members' (coupon templates) made for update.
    pub const FOR_UPDATE: &str = ""; // SQLite's one writer needs no row locks
    /// Opens the aggregate that packs a statement's rows into one JSON text (`Packed`), closed
    /// by `))` after the column list.
    pub const PACK: &str = "json_group_array(json_array(";
    /// A `FROM` source of one text column, `value`, per element of the JSON array of strings
    /// bound to `param`: many rows from one bound value.
    pub fn json_values(param: &str) -> String {
        format!("json_each({param})")
    }
    /// The element `i` of the JSON array in text column `col`, as text (verify reads an event's
    /// order id from its stored payload).
    pub fn json_item(col: &str, i: usize) -> String {
        format!("json_extract({col}, '$[{i}]')")
    }
    /// Completes `WHERE col` with a test against the elements of the JSON array bound to `$1`.
    pub const IDS: &str = "IN (SELECT value FROM json_each($1))";
    /// Run before member insight reads the orders and refunds, so that none is written meanwhile.
    pub const HOLD_ORDER_WRITES: &str = "";
    /// Run first in a read transaction that must see one snapshot (SQLite's deferred
    /// transaction takes it at its first read).
    pub const SNAPSHOT: &str = "";
}

#[path = "shared/analytics.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod analytics;
#[path = "shared/checkins.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod checkins;
#[path = "shared/coupon_checks.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod coupon_checks;
#[path = "shared/coupons.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod coupons;
#[path = "shared/events.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod events;
#[path = "sqlite_facts.rs"]
mod facts;
#[path = "shared/gifts.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod gifts;
#[path = "shared/idempotency.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod idempotency;
#[path = "shared/keys.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod keys;
#[path = "shared/ledger.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod ledger;
#[path = "shared/load.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod load;
#[path = "shared/maintenance.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod maintenance;
#[path = "shared/membership_facts.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod membership_facts;
#[path = "shared/memberships.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod memberships;
#[path = "shared/personal.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod personal;
#[path = "shared/referral_report.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod referral_report;
#[path = "shared/referrals.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod referrals;
#[path = "shared/reward_checks.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod reward_checks;
#[path = "shared/rewards.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod rewards;
#[path = "shared/rows.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod rows;
#[path = "shared/sessions.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod sessions;
#[path = "shared/tasks.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod tasks;
#[path = "shared/tiers.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod tiers;
#[path = "shared/tx.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod tx;
#[path = "shared/usage.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod usage;
#[path = "shared/versions.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod versions;
#[path = "shared/write.rs"]
#[allow(clippy::duplicate_mod)] // each backend compiles the shared SQL against its own dialect
mod write;
/// Member insight's read-only connections to the store's file, kept between ranges and runs (a
/// connection's page mapping and prepared statements outlive one range).
struct InsightReaders {
    file: std::path::PathBuf,
    idle: std::sync::Mutex<Vec<rusqlite::Connection>>,
}

impl InsightReaders {
    /// Idle connections kept: as many as ranges are read at once, and a few more.
    const KEEP: usize = 4;

    fn take(&self) -> crate::Result<rusqlite::Connection> {
        if let Some(conn) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(conn);
        }
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.file,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Pages are read where the kernel caches them instead of copied out by `pread`: a
        // reader of its own, so no other connection's memory changes.
        conn.pragma_update(None, "mmap_size", INSIGHT_MMAP_BYTES)?;
        Ok(conn)
    }

    /// Returns a connection that finished a read (one that failed is dropped instead).
    fn put(&self, conn: rusqlite::Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < Self::KEEP {
            idle.push(conn);
        }
    }
}

/// See [`SqliteStore::activity_ranges_direct`]: sends ranges of `page` members registered by
/// `at` (microseconds), the last one open-ended, and returns how many were sent.
fn walk_ranges(
    conn: &mut rusqlite::Connection,
    at: i64,
    page: usize,
    out: &tokio::sync::mpsc::UnboundedSender<crate::analytics::ActivityRange>,
) -> crate::Result<usize> {
    use crate::analytics::ActivityRange;
    let tx = conn.transaction()?;
    let mut members = tx.prepare_cached(
        "SELECT member_id FROM members INDEXED BY members_registered WHERE registered_at <= ?1 ORDER BY member_id",
    )?;
    let mut rows = members.query([at])?;
    let (mut sent, mut after, mut range) = (0, None::<String>, Registered::default());
    while let Some(row) = rows.next()? {
        push_member(row, &mut range)?;
        if range.len() == page {
            let through = range.last().map(str::to_owned);
            let full = std::mem::take(&mut range);
            if out
                .send(ActivityRange { after: after.take(), through: through.clone(), registered: Some(full) })
                .is_err()
            {
                return Ok(sent);
            }
            sent += 1;
            after = through;
        }
    }
    // The rest, and every id after the last registered one (buyers registered after `at`).
    if out.send(ActivityRange { after, through: None, registered: Some(range) }).is_ok() {
        sent += 1;
    }
    Ok(sent)
}

/// Appends the member id in `row`'s first column, which must come after the last one.
fn push_member(row: &rusqlite::Row<'_>, into: &mut Registered) -> crate::Result<()> {
    let id = row
        .get_ref(0)?
        .as_str()
        .map_err(|e| crate::convert::corrupt("members", format!("a member id is not text: {e}")))?;
    if !into.push(id) {
        return Err(crate::convert::corrupt("members", "member ids came out of key order under ORDER BY"));
    }
    Ok(())
}

/// How much of the file member insight's read-only connections map into memory.
const INSIGHT_MMAP_BYTES: i64 = 1 << 40;

/// One range of members' activity as of `q.at`, read on `conn` (see
/// [`SqliteStore::member_activity_direct`]): the members registered by `at`, then the log rows
/// in key order.
fn read_activity_range(conn: &mut rusqlite::Connection, mut q: ActivityQuery) -> crate::Result<Vec<MemberActivity>> {
    use rusqlite::params;
    let after = q.after.as_deref().unwrap_or("");
    let (logs_through, members_through) =
        if q.through.is_some() { (" AND member_id <= ?2", " AND member_id <= ?3") } else { ("", "") };
    let through_id = q.through.as_deref().unwrap_or("");
    // One transaction, so that both statements see the same snapshot; dropping it ends the read.
    let tx = conn.transaction()?;
    // The registered members first (one walk of an index, ids only): the buyers are merged with
    // them as the logs are parsed, so the range's figures are built once, in their final order.
    let registered = match q.registered.take() {
        Some(known) => known,
        None => registered_in_range(&tx, &q, after, through_id, members_through)?,
    };
    let mut unpacker = Unpacker::merging(micros(q.at), micros(q.window_start), registered);
    let mut logs = tx.prepare_cached(&format!(
        "SELECT log FROM member_activity WHERE member_id > ?1{logs_through} ORDER BY member_id, span"
    ))?;
    let mut rows =
        if q.through.is_some() { logs.query(params![after, through_id])? } else { logs.query(params![after])? };
    while let Some(row) = rows.next()? {
        let log = row
            .get_ref(0)?
            .as_bytes()
            .map_err(|e| crate::convert::corrupt("member_activity", format!("a log is not text: {e}")))?;
        if !unpacker.feed(log)? {
            return Err(crate::convert::corrupt("member_activity", "rows came out of key order under ORDER BY"));
        }
    }
    unpacker.finish()
}

/// The members of `q`'s range registered by `q.at`, for a range read without them.
fn registered_in_range(
    tx: &rusqlite::Transaction<'_>,
    q: &ActivityQuery,
    after: &str,
    through_id: &str,
    members_through: &str,
) -> crate::Result<Registered> {
    use rusqlite::params;
    let mut registered = Registered::default();
    let mut members = tx.prepare_cached(&format!(
        "SELECT member_id FROM members WHERE member_id > ?1 AND registered_at <= ?2{members_through} ORDER BY member_id"
    ))?;
    let mut rows = if q.through.is_some() {
        members.query(params![after, micros(q.at), through_id])?
    } else {
        members.query(params![after, micros(q.at)])?
    };
    while let Some(row) = rows.next()? {
        push_member(row, &mut registered)?;
    }
    Ok(registered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    #[tokio::test]
    async fn a_new_file_is_read_for_insight_on_connections_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&format!("sqlite://{}", dir.path().join("new.db").display())).await.unwrap();
        assert!(store.readers.is_some(), "the file the pool created is found");
        // A member with one order of 250 in span 0 (offset 5 µs), and one whose log is damaged.
        store
            .execute_raw(
                "INSERT INTO members (member_id, registered_at, status, pending, active, held, debt, next_seq, \
                 next_lot_no, created_at, updated_at) VALUES ('a', 0, 'active', 0, 0, 0, 0, 1, 1, 0, 0), \
                 ('b', 0, 'active', 0, 0, 0, 0, 1, 1, 0, 0)",
            )
            .await
            .unwrap();
        let mut log = crate::analytics::row_head("a", 0);
        crate::analytics::ActivityEvent::Order { paid_at: 5, total_minor: 250 }.write(&mut log);
        store.execute_raw(&format!("INSERT INTO member_activity VALUES ('a', 0, '{log}')")).await.unwrap();
        let at = jiff::Timestamp::from_microsecond(1_000).unwrap();
        let q = ActivityQuery {
            at,
            window_start: jiff::Timestamp::UNIX_EPOCH,
            after: None,
            through: None,
            registered: None,
        };
        let read = store.member_activity(&q).await.unwrap();
        let got: Vec<(&str, i64, i64)> = read.iter().map(|a| (&*a.member_id, a.orders, a.net_minor)).collect();
        assert_eq!(got, [("a", 1, 250), ("b", 0, 0)]);
        assert_eq!(store.readers.as_ref().unwrap().idle.lock().unwrap().len(), 1, "the connection is kept");
        store.execute_raw("INSERT INTO member_activity VALUES ('b', 0, '|b=FVV+')").await.unwrap();
        let err = store.member_activity(&q).await.unwrap_err();
        assert!(err.to_string().contains("member b"), "{err}");

        let memory = SqliteStore::open("sqlite::memory:").await.unwrap();
        assert!(memory.readers.is_none(), "a store in memory is read through the pool");
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        assert_eq!(memory.activity_ranges(at, 2, tx).await.unwrap(), None, "it steps the bounds instead");
    }

    #[tokio::test]
    async fn one_walk_of_the_members_makes_ranges_that_read_as_the_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&format!("sqlite://{}", dir.path().join("ranges.db").display())).await.unwrap();
        // Five members registered at 0 and one ("c2") after the analysis instant, who bought.
        let members: Vec<String> = [("a", 0), ("b", 0), ("c", 0), ("c2", 5_000), ("d", 0), ("e", 0)]
            .iter()
            .map(|(id, at)| format!("('{id}', {at}, 'active', 0, 0, 0, 0, 1, 1, 0, 0)"))
            .collect();
        store
            .execute_raw(&format!(
                "INSERT INTO members (member_id, registered_at, status, pending, active, held, debt, next_seq, \
                 next_lot_no, created_at, updated_at) VALUES {}",
                members.join(", ")
            ))
            .await
            .unwrap();
        for (id, total) in [("b", 10), ("c2", 20), ("e", 30)] {
            let mut log = crate::analytics::row_head(id, 0);
            crate::analytics::ActivityEvent::Order { paid_at: 5, total_minor: total }.write(&mut log);
            store.execute_raw(&format!("INSERT INTO member_activity VALUES ('{id}', 0, '{log}')")).await.unwrap();
        }
        let at = jiff::Timestamp::from_microsecond(1_000).unwrap();
        let ranges = |page| {
            let store = &store;
            async move {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let sent = store.activity_ranges(at, page, tx).await.unwrap().expect("a file walks its members");
                let mut got = Vec::new();
                while let Some(r) = rx.recv().await {
                    got.push(r);
                }
                assert_eq!(got.len(), sent);
                got
            }
        };
        let got = ranges(2).await;
        let bounds: Vec<(Option<&str>, Option<&str>, usize)> = got
            .iter()
            .map(|r| (r.after.as_deref(), r.through.as_deref(), r.registered.as_ref().map_or(99, |x| x.len())))
            .collect();
        // Five registered members, two a range: the last range is open-ended.
        assert_eq!(bounds, [(None, Some("b"), 2), (Some("b"), Some("d"), 2), (Some("d"), None, 1)]);
        let whole = |q: ActivityQuery| {
            let store = &store;
            async move { store.member_activity(&q).await.unwrap() }
        };
        let everyone =
            whole(ActivityQuery { at, window_start: at, after: None, through: None, registered: None }).await;
        let mut by_ranges = Vec::new();
        for r in got {
            let q =
                ActivityQuery { at, window_start: at, after: r.after, through: r.through, registered: r.registered };
            by_ranges.extend(whole(q).await);
        }
        assert_eq!(by_ranges, everyone, "the ranges together read as one whole read");
        let ids: Vec<(&str, i64)> = everyone.iter().map(|a| (&*a.member_id, a.net_minor)).collect();
        assert_eq!(ids, [("a", 0), ("b", 10), ("c", 0), ("c2", 20), ("d", 0), ("e", 30)]);
        // A page that divides the members exactly leaves an empty, open-ended last range.
        let got = ranges(5).await;
        assert_eq!(got.len(), 2);
        assert_eq!((got[1].after.as_deref(), got[1].through.as_deref()), (Some("e"), None));
        assert_eq!(got[1].registered.as_ref().map(|r| r.len()), Some(0));
    }
}
