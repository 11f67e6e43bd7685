//! The embedded default: one SQLite file in WAL mode, durable (synchronous = FULL).

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

pub struct SqliteStore {
    pool: sqlx::SqlitePool,
}

pub struct SqliteTx {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
}

impl SqliteStore {
    const BACKEND: &'static str = "sqlite";

    /// Opens (creating if missing) the file a `sqlite://` URL names and applies migrations.
    pub async fn open(url: &str) -> crate::Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged commit survives power loss, not only a process crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .pragma("cache_size", "-131072")
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(opts).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    async fn begin_tx(&self) -> crate::Result<SqliteTx> {
        // BEGIN IMMEDIATE takes the write lock up front, so a batch never fails half-way on
        // a lock upgrade when another process (an import, say) writes the same file.
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(SqliteTx { tx })
    }
}

crate::sql::sql_store!(SqliteStore, SqliteTx, sqlx::Sqlite, "");
crate::analytics::analytics_sql!(SqliteStore, sqlx::Sqlite);
crate::usage::usage_sql!(SqliteStore, sqlx::Sqlite);
crate::versions::versions_sql!(SqliteStore, sqlx::Sqlite);
