//! API keys (`ApiKeys`) on this backend: only hashes are stored.

use super::dialect::*;
use crate::convert::*;
use crate::*;
use sqlx::Row;

#[async_trait::async_trait]
impl ApiKeys for StoreImpl {
    async fn api_key(&self, key_hash: &str) -> Result<Option<(String, String)>> {
        let row = sqlx::query("SELECT name, scope FROM api_keys WHERE key_hash = $1")
            .bind(key_hash.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get("name")?, r.try_get("scope")?))).transpose()
    }

    async fn insert_api_key(&self, key_hash: &str, name: &str, scope: &str, now: jiff::Timestamp) -> Result<()> {
        sqlx::query("INSERT INTO api_keys (key_hash, name, scope, created_at) VALUES ($1, $2, $3, $4)")
            .bind(key_hash.to_owned())
            .bind(name.to_owned())
            .bind(scope.to_owned())
            .bind(micros(now))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
