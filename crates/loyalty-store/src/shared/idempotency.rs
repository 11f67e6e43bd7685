//! Kept `Idempotency-Key` responses (`Idempotency`) on this backend.

use super::dialect::*;
use crate::convert::*;
use crate::*;
use sqlx::Row;

#[async_trait::async_trait]
impl Idempotency for StoreImpl {
    async fn idem_get(&self, principal: &str, key: &str) -> Result<Option<IdemRecord>> {
        let row = sqlx::query(
            "SELECT request_hash, status, body, created_at FROM idempotency WHERE principal = $1 AND idem_key = $2",
        )
        .bind(principal.to_owned())
        .bind(key.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(IdemRecord {
                principal: principal.to_owned(),
                key: key.to_owned(),
                request_hash: r.try_get("request_hash")?,
                status: u16::try_from(r.try_get::<i64, _>("status")?).map_err(|_| corrupt("idempotency", "status"))?,
                body: r.try_get("body")?,
                created_at: ts("idempotency", r.try_get("created_at")?)?,
            })
        })
        .transpose()
    }

    async fn idem_purge(&self, before: jiff::Timestamp) -> Result<u64> {
        let r = sqlx::query("DELETE FROM idempotency WHERE created_at < $1")
            .bind(micros(before))
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }
}
