//! Whether the store takes writes: what `serve` checks before it starts and `/healthz` reports.
//! A database can answer reads and refuse every write (a file opened read-only, `PRAGMA
//! query_only`, a PostgreSQL standby or `default_transaction_read_only`); such a refusal is
//! permanent until an operator acts, so it is told apart from a failure a retry may get past.

use crate::{Result, StoreError};
use async_trait::async_trait;

/// What a write probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Writability {
    Writable,
    /// The database refuses writes, and why (the driver's words).
    ReadOnly(String),
}

/// The store's answer to "would a write go through now?", without writing anything.
#[async_trait]
pub trait WriteProbe {
    /// An error is a store that did not answer (unreachable, timed out), not a refusal.
    async fn write_probe(&self) -> Result<Writability>;
}

impl StoreError {
    /// The database refused to write because it is read-only: SQLite's `SQLITE_READONLY` (and
    /// its extended codes), PostgreSQL's `read_only_sql_transaction` (25006).
    pub fn is_read_only(&self) -> bool {
        use sqlx::migrate::MigrateError;
        match self {
            StoreError::Db(e)
            | StoreError::Migrate(MigrateError::Execute(e))
            | StoreError::Migrate(MigrateError::ExecuteMigration(e, _)) => sqlx_read_only(e),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => f.code == rusqlite::ErrorCode::ReadOnly,
            _ => false,
        }
    }
}

fn sqlx_read_only(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else { return false };
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // Extended result codes keep the primary code in their low byte.
        const SQLITE_READONLY: i32 = 8;
        return db.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| c & 0xff == SQLITE_READONLY);
    }
    db.code().as_deref() == Some("25006")
}

/// SQLite: on the connection that writes, take the write lock and run a statement that would
/// write the main database but matches nothing, then roll back. A file opened read-only takes
/// the lock (in WAL mode) and refuses the statement; `query_only` refuses the lock. Nothing is
/// written, so a file made read-only under a running server (a remount) shows only once a
/// write reaches the disk; the writer's own errors say so then.
pub(crate) async fn probe_sqlite(writes: &sqlx::SqlitePool) -> Result<Writability> {
    let mut tx = match writes.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => return classify(e),
    };
    let wrote = sqlx::query("DELETE FROM api_keys WHERE 0").execute(&mut *tx).await;
    tx.rollback().await?;
    match wrote {
        Ok(_) => Ok(Writability::Writable),
        Err(e) => classify(e),
    }
}

/// PostgreSQL: a standby in recovery, or a default of read-only transactions, refuses writes.
pub(crate) async fn probe_postgres(pool: &sqlx::PgPool) -> Result<Writability> {
    let (recovery, read_only): (bool, String) =
        sqlx::query_as("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')").fetch_one(pool).await?;
    Ok(if recovery {
        Writability::ReadOnly("the server is a standby in recovery".into())
    } else if read_only == "on" {
        Writability::ReadOnly("transactions are read-only (default_transaction_read_only is on)".into())
    } else {
        Writability::Writable
    })
}

fn classify(e: sqlx::Error) -> Result<Writability> {
    let e = StoreError::from(e);
    if e.is_read_only() {
        Ok(Writability::ReadOnly(e.to_string()))
    } else {
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    use sqlx::sqlite::SqliteConnectOptions;
    use std::str::FromStr;

    /// A file opened read-only refuses writes (not the write lock, in WAL mode), `query_only`
    /// refuses the lock: the probe reports both, and the errors of real writes say read-only.
    #[tokio::test]
    async fn sqlite_probes_tell_a_read_only_connection_from_a_writable_one() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("probe.db").display());
        let store = crate::SqliteStore::open(&url).await.unwrap();
        assert_eq!(store.write_probe().await.unwrap(), Writability::Writable);
        let opts = SqliteConnectOptions::from_str(&url).unwrap();
        let read_only = sqlx::SqlitePool::connect_with(opts.clone().read_only(true)).await.unwrap();
        assert!(matches!(probe_sqlite(&read_only).await.unwrap(), Writability::ReadOnly(_)));
        let e = sqlx::query("DELETE FROM api_keys").execute(&read_only).await.unwrap_err();
        assert!(StoreError::from(e).is_read_only());
        let query_only = sqlx::SqlitePool::connect_with(opts.pragma("query_only", "ON")).await.unwrap();
        assert!(matches!(probe_sqlite(&query_only).await.unwrap(), Writability::ReadOnly(_)));
        assert_eq!(store.write_probe().await.unwrap(), Writability::Writable, "the probes wrote nothing");
    }

    /// On the server `LOYALTY_TEST_DATABASE_URL` names, when it is PostgreSQL.
    #[tokio::test]
    async fn postgres_probes_tell_read_only_transactions() {
        let Some(url) = std::env::var("LOYALTY_TEST_DATABASE_URL").ok().filter(|u| u.starts_with("postgres")) else {
            return;
        };
        let opts = PgConnectOptions::from_str(&url).unwrap();
        let pool = PgPoolOptions::new().max_connections(1).connect_with(opts.clone()).await.unwrap();
        assert_eq!(probe_postgres(&pool).await.unwrap(), Writability::Writable);
        let read_only = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(opts.options([("default_transaction_read_only", "on")]))
            .await
            .unwrap();
        assert!(matches!(probe_postgres(&read_only).await.unwrap(), Writability::ReadOnly(_)));
        let e = sqlx::query("CREATE TABLE loyalty_never_made (x INT)").execute(&read_only).await.unwrap_err();
        assert!(StoreError::from(e).is_read_only());
    }
}
