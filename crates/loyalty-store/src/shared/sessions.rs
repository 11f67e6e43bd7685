//! Console sessions, the engine's secrets and the contact search on this backend.

use super::dialect::*;
use crate::convert::*;
use crate::sessions::*;
use crate::Result;
use loyalty_core::ids::MemberId;
use sqlx::Row;

const SESSION_COLS: &str = "session_hash, principal, scope, key_hash, created_at, last_seen_at, expires_at";

/// The digits of `phone`, as SQL both databases run: what `members_phone_digits` indexes
/// (a stored phone holds only digits, spaces and `+ - ( )`, so this is `normalise_phone`).
const PHONE_DIGITS: &str =
    "replace(replace(replace(replace(replace(phone, ' ', ''), '+', ''), '-', ''), '(', ''), ')', '')";
/// What `members_email_lower` indexes.
const EMAIL_LOWER: &str = "lower(trim(email))";

fn session_row(r: &<Db as sqlx::Database>::Row) -> Result<ConsoleSession> {
    let t = "console_sessions";
    Ok(ConsoleSession {
        session_hash: r.try_get("session_hash")?,
        principal: r.try_get("principal")?,
        scope: r.try_get("scope")?,
        key_hash: r.try_get("key_hash")?,
        created_at: ts(t, r.try_get("created_at")?)?,
        last_seen_at: ts(t, r.try_get("last_seen_at")?)?,
        expires_at: ts(t, r.try_get("expires_at")?)?,
    })
}

#[async_trait::async_trait]
impl Sessions for StoreImpl {
    async fn insert_session(&self, s: &ConsoleSession) -> Result<()> {
        sqlx::query(&format!("INSERT INTO console_sessions ({SESSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
            .bind(s.session_hash.clone())
            .bind(s.principal.clone())
            .bind(s.scope.clone())
            .bind(s.key_hash.clone())
            .bind(micros(s.created_at))
            .bind(micros(s.last_seen_at))
            .bind(micros(s.expires_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn session(&self, session_hash: &str) -> Result<Option<ConsoleSession>> {
        let row = sqlx::query(&format!("SELECT {SESSION_COLS} FROM console_sessions WHERE session_hash = $1"))
            .bind(session_hash.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_row).transpose()
    }

    async fn touch_session(&self, session_hash: &str, at: jiff::Timestamp) -> Result<()> {
        sqlx::query("UPDATE console_sessions SET last_seen_at = $2 WHERE session_hash = $1 AND last_seen_at < $2")
            .bind(session_hash.to_owned())
            .bind(micros(at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, session_hash: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE session_hash = $1")
            .bind(session_hash.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn purge_sessions(&self, now: jiff::Timestamp, idle_before: jiff::Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1 OR last_seen_at < $2")
            .bind(micros(now))
            .bind(micros(idle_before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn server_secret(&self, name: &str, candidate: &str, now: jiff::Timestamp) -> Result<String> {
        sqlx::query(
            "INSERT INTO server_secrets (name, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.to_owned())
        .bind(candidate.to_owned())
        .bind(micros(now))
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT secret FROM server_secrets WHERE name = $1")
            .bind(name.to_owned())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("secret")?)
    }
}

#[async_trait::async_trait]
impl MemberSearch for StoreImpl {
    async fn members_by_contact(&self, contact: Contact, normalised: &str, limit: i64) -> Result<Vec<MemberId>> {
        // The expression and the partial index's condition are written as the index has them,
        // so that both databases answer with a probe of it.
        let (expr, col) = match contact {
            Contact::Phone => (PHONE_DIGITS, "phone"),
            Contact::Email => (EMAIL_LOWER, "email"),
        };
        let sql = format!(
            "SELECT member_id FROM members WHERE {col} IS NOT NULL AND {expr} = $1 ORDER BY member_id LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(normalised.to_owned())
            .bind(limit.clamp(1, MAX_CONTACT_MATCHES))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("member_id")?;
                MemberId::parse(&id).map_err(|e| corrupt("members", e.0))
            })
            .collect()
    }
}
