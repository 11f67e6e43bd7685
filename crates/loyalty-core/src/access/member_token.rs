//! The member centre's token: a store's server asks for one with its integration key, the
//! member's page or app presents it. It names one member and when it stops working, signed
//! with HMAC-SHA256 under a secret only the engine holds, so it needs no row of its own and
//! any node holding the secret can check it.
//!
//! Form: `lm1.{member id, hex}.{expiry, Unix seconds}.{HMAC-SHA256, hex}`, the MAC over the
//! version, the member id and the expiry. Hex keeps it to the characters a URL carries as
//! they are. It cannot be revoked before it expires, which is why it lives minutes.

use crate::ids::MemberId;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;

const VERSION: &str = "lm1";
/// Shortest, default and longest lifetimes a store may ask for.
pub const MIN_TTL_SECS: i64 = 60;
pub const DEFAULT_TTL_SECS: i64 = 900;
pub const MAX_TTL_SECS: i64 = 3_600;
/// Bytes of the secret a new store makes.
pub const SECRET_BYTES: usize = 32;
/// Longest token accepted: a member id of 128 characters, hex, and the rest.
pub const MAX_TOKEN_LEN: usize = 3 + 1 + 2 * crate::ids::MAX_ID_LEN + 1 + 20 + 1 + 64;

/// Why a token was refused. The messages say what to do, never what was wrong in detail
/// beyond the expiry (a forger learns nothing from them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the member token is not one this engine issued")]
    Invalid,
    #[error("the member token expired at {0}; ask the store for a new one")]
    Expired(Timestamp),
}

fn mac(secret: &[u8], member_hex: &str, expires: i64) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    for part in [VERSION, member_hex, &expires.to_string()] {
        m.update(part.as_bytes());
        m.update(&[0]);
    }
    m
}

/// A token for `member` that works until `expires_at` (whole seconds).
pub fn sign(secret: &[u8], member: &MemberId, expires_at: Timestamp) -> String {
    let member_hex = hex::encode(member.as_str());
    let expires = expires_at.as_second();
    let tag = hex::encode(mac(secret, &member_hex, expires).finalize().into_bytes());
    format!("{VERSION}.{member_hex}.{expires}.{tag}")
}

/// The member a token names and when it expires, if it is this engine's and still works at `now`.
pub fn verify(secret: &[u8], token: &str, now: Timestamp) -> Result<(MemberId, Timestamp), TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Invalid);
    }
    let mut parts = token.split('.');
    let (Some(VERSION), Some(member_hex), Some(expires), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Invalid);
    };
    let expires: i64 = expires.parse().map_err(|_| TokenError::Invalid)?;
    let tag = hex::decode(tag).map_err(|_| TokenError::Invalid)?;
    // The signature first: nothing else of a token is believed before it is checked.
    mac(secret, member_hex, expires).verify_slice(&tag).map_err(|_| TokenError::Invalid)?;
    let member = hex::decode(member_hex)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|id| MemberId::parse(&id).ok())
        .ok_or(TokenError::Invalid)?;
    let expires_at = Timestamp::from_second(expires).map_err(|_| TokenError::Invalid)?;
    if now >= expires_at {
        return Err(TokenError::Expired(expires_at));
    }
    Ok((member, expires_at))
}

/// A lifetime a store asked for, if it is within bounds: the field's refusal otherwise.
pub fn ttl(raw: Option<i64>) -> Result<i64, crate::DomainError> {
    let ttl = raw.unwrap_or(DEFAULT_TTL_SECS);
    crate::limits::check_range("ttl_seconds", ttl, MIN_TTL_SECS, MAX_TTL_SECS)?;
    Ok(ttl)
}
