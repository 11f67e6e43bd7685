//! Production storage on PostgreSQL. Batches lock their members' rows with one
//! `SELECT … FOR UPDATE` per batch, so several engine nodes may write safely.

use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

pub struct PgStore {
    pool: sqlx::PgPool,
}

pub struct PgTx {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
}

impl PgStore {
    const BACKEND: &'static str = "postgres";

    pub async fn open(url: &str) -> crate::Result<Self> {
        let pool =
            PgPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(30)).connect(url).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    async fn begin_tx(&self) -> crate::Result<PgTx> {
        Ok(PgTx { tx: self.pool.begin().await? })
    }

    /// PostgreSQL checkpoints on its own schedule.
    async fn truncate_wal(&self) -> crate::Result<()> {
        Ok(())
    }
}

crate::sql::sql_store!(
    PgStore,
    PgTx,
    sqlx::Postgres,
    " ORDER BY member_id FOR UPDATE",
    "json_agg(json_build_array(",
    "(SELECT json_array_elements_text(CAST($1 AS JSON)))"
);
crate::analytics::analytics_sql!(PgStore, sqlx::Postgres);
crate::usage::usage_sql!(PgStore, sqlx::Postgres);
crate::versions::versions_sql!(PgStore, sqlx::Postgres);
