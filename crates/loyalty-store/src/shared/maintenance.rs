//! Maintenance (`Maintenance`) and, for tests only, raw statements (`RawSql`) on this backend.

use super::dialect::*;
use crate::*;

#[async_trait::async_trait]
impl Maintenance for StoreImpl {
    fn backend(&self) -> &'static str {
        Self::BACKEND
    }

    async fn checkpoint(&self) -> Result<()> {
        self.truncate_wal().await
    }

    fn background_checkpoints(&self) -> u64 {
        self.checkpoint_rounds()
    }
}

#[async_trait::async_trait]
impl RawSql for StoreImpl {
    #[cfg(feature = "test-support")]
    async fn execute_raw(&self, sql: &str) -> Result<u64> {
        Ok(sqlx::query(sql).execute(&self.pool).await?.rows_affected())
    }
}
