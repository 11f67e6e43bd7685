//! Production storage on PostgreSQL. Batches lock their members' rows with one
//! `SELECT … FOR UPDATE` per batch, so several engine nodes may write safely.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

pub struct PgStore {
    pool: sqlx::PgPool,
}

impl PgTx {
    /// PostgreSQL has no number that tells whether others committed since (see `Tx::commit_mark`):
    /// a transaction's reads are never carried into the next one.
    async fn mark(&mut self) -> crate::Result<Option<(i64, i64)>> {
        Ok(None)
    }
}

pub struct PgTx {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
}

impl PgTx {
    /// PostgreSQL's commit is durable when it returns: there is no log of ours to sync.
    fn log(&self) -> Option<std::sync::Arc<std::path::Path>> {
        None
    }
}

/// PostgreSQL's commits are durable when they return (`synchronous_commit` on).
async fn sync_log_file(_log: Option<&std::path::Path>) -> crate::Result<()> {
    Ok(())
}

impl PgStore {
    const BACKEND: &'static str = "postgres";

    /// PostgreSQL reads every range through the pool (see `SqliteStore::member_activity_direct`).
    async fn member_activity_direct(
        &self,
        _q: &crate::analytics::ActivityQuery,
    ) -> Option<crate::Result<Vec<crate::analytics::MemberActivity>>> {
        None
    }

    /// PostgreSQL reads the report's ranges through the pool (see `SqliteStore::member_facts_direct`).
    async fn member_facts_direct(
        &self,
        _q: &crate::membership_facts::FactsQuery,
    ) -> Option<crate::Result<Vec<crate::membership_facts::MemberFacts>>> {
        None
    }

    /// PostgreSQL steps the bounds instead (see `SqliteStore::activity_ranges_direct`).
    async fn activity_ranges_direct(
        &self,
        _at: jiff::Timestamp,
        _page: i64,
        _out: tokio::sync::mpsc::UnboundedSender<crate::analytics::ActivityRange>,
    ) -> crate::Result<Option<usize>> {
        Ok(None)
    }

    pub async fn open(url: &str) -> crate::Result<Self> {
        // Every execution is planned for its own arguments and the tables' current size. The
        // write path's statements have fixed texts (ids travel as one JSON array), so a
        // generic plan would be made once per connection, and one made while a table was
        // small kept scanning it after it grew: measured, a pending-lots load through the
        // wrong partial index, 25 ms a batch at 100,000 lots (HTTP 1,066 orders/s).
        let opts = PgConnectOptions::from_str(url)?.options([("plan_cache_mode", "force_custom_plan")]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    fn log_file(&self) -> Option<&std::path::Path> {
        None
    }

    async fn begin_tx(&self) -> crate::Result<PgTx> {
        Ok(PgTx { tx: self.pool.begin().await? })
    }

    /// PostgreSQL checkpoints on its own schedule: the store runs no rounds of its own.
    fn checkpoint_rounds(&self) -> u64 {
        0
    }

    /// PostgreSQL checkpoints on its own schedule.
    async fn truncate_wal(&self) -> crate::Result<()> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::health::WriteProbe for PgStore {
    async fn write_probe(&self) -> crate::Result<crate::health::Writability> {
        crate::health::probe_postgres(&self.pool).await
    }
}

/// The seam between the SQL both backends share (`shared/`, compiled once per backend as
/// modules of this one) and this backend: its driver, its types and the few fragments of SQL
/// that differ.
mod dialect {
    pub type Db = sqlx::Postgres;
    pub type StoreImpl = super::PgStore;
    pub type TxImpl = super::PgTx;
    /// Appended to row loads made for update.
    pub const LOCK: &str = " ORDER BY member_id FOR UPDATE";
    /// Appended to a load of rows that are not members' (coupon templates) made for update.
    pub const FOR_UPDATE: &str = " FOR UPDATE";
    /// Opens the aggregate that packs a statement's rows into one JSON text (`Packed`), closed
    /// by `))` after the column list.
    pub const PACK: &str = "json_agg(json_build_array(";
    // `= ANY(array)`, not `IN (SELECT …)`: planned as an index scan for a handful of ids;
    // the semi-join form was planned as a scan of the whole table when the statistics were
    // taken while the table was small.
    /// A `FROM` source of one text column, `value`, per element of the JSON array of strings
    /// bound to `param`: many rows from one bound value.
    pub fn json_values(param: &str) -> String {
        format!("json_array_elements_text(CAST({param} AS JSON)) AS j(value)")
    }
    /// The element `i` of the JSON array in text column `col`, as text (verify reads an event's
    /// order id from its stored payload).
    pub fn json_item(col: &str, i: usize) -> String {
        format!("(CAST({col} AS JSON) ->> {i})")
    }
    /// Completes `WHERE col` with a test against the elements of the JSON array bound to `$1`.
    pub const IDS: &str = "= ANY(ARRAY(SELECT json_array_elements_text(CAST($1 AS JSON))))";
    /// Run before member insight reads the orders and refunds, so that none is written meanwhile.
    pub const HOLD_ORDER_WRITES: &str = "LOCK TABLE orders, refunds IN SHARE MODE";
    /// Run first in a read transaction that must see one snapshot.
    pub const SNAPSHOT: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";
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
