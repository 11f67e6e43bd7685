//! API keys (`ApiKeys`) on this backend: only hashes are stored.

use super::dialect::*;
use crate::convert::*;
use crate::*;
use sqlx::Row;

const KEY_COLS: &str = "name, scope, created_at, last_used_at, revoked_at";

fn key_row(r: &<Db as sqlx::Database>::Row) -> Result<ApiKeyInfo> {
    let t = "api_keys";
    Ok(ApiKeyInfo {
        name: r.try_get("name")?,
        scope: r.try_get("scope")?,
        created_at: ts(t, r.try_get("created_at")?)?,
        last_used_at: opt_ts(t, r.try_get("last_used_at")?)?,
        revoked_at: opt_ts(t, r.try_get("revoked_at")?)?,
    })
}

#[async_trait::async_trait]
impl ApiKeys for StoreImpl {
    async fn api_key(&self, key_hash: &str) -> Result<Option<(String, String)>> {
        let row = sqlx::query("SELECT name, scope FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
            .bind(key_hash.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get("name")?, r.try_get("scope")?))).transpose()
    }

    async fn insert_api_key(&self, key_hash: &str, name: &str, scope: &str, now: jiff::Timestamp) -> Result<bool> {
        // One statement, so that two keys of one name cannot both be made live.
        let done = sqlx::query(
            "INSERT INTO api_keys (key_hash, name, scope, created_at) \
             SELECT $1, $2, $3, CAST($4 AS BIGINT) \
             WHERE NOT EXISTS (SELECT 1 FROM api_keys WHERE name = $2 AND revoked_at IS NULL)",
        )
        .bind(key_hash.to_owned())
        .bind(name.to_owned())
        .bind(scope.to_owned())
        .bind(micros(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn api_keys(&self, limit: i64) -> Result<Vec<ApiKeyInfo>> {
        let rows = sqlx::query(&format!("SELECT {KEY_COLS} FROM api_keys ORDER BY name, created_at LIMIT $1"))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_row).collect()
    }

    async fn revoke_api_key(&self, name: &str, now: jiff::Timestamp) -> Result<(u64, Vec<ApiKeyInfo>)> {
        let revoked = sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL")
            .bind(name.to_owned())
            .bind(micros(now))
            .execute(&self.pool)
            .await?
            .rows_affected();
        let rows = sqlx::query(&format!("SELECT {KEY_COLS} FROM api_keys WHERE name = $1 ORDER BY created_at"))
            .bind(name.to_owned())
            .fetch_all(&self.pool)
            .await?;
        Ok((revoked, rows.iter().map(key_row).collect::<Result<_>>()?))
    }

    async fn touch_api_key(&self, key_hash: &str, at: jiff::Timestamp) -> Result<()> {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $2 WHERE key_hash = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
        )
        .bind(key_hash.to_owned())
        .bind(micros(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
