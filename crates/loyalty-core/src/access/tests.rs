use super::member_token::{self, TokenError};
use super::session::{session_hash, SessionPolicy, SessionState};
use super::*;
use crate::ids::MemberId;
use jiff::{SignedDuration, Timestamp};

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A session is live until it is idle for the idle timeout or reaches its absolute end,
/// whichever comes first, and asks for its last use to be written at most once a minute.
#[test]
fn a_session_ends_when_idle_or_at_its_absolute_end() {
    let p = SessionPolicy::default();
    let signed_in = at("2026-12-01T09:00:00Z");
    assert_eq!(p.state(signed_in, signed_in, signed_in), SessionState::Live { touch: false });
    let seen = at("2026-12-01T09:20:00Z");
    assert_eq!(p.state(signed_in, seen, at("2026-12-01T09:20:30Z")), SessionState::Live { touch: false });
    assert_eq!(p.state(signed_in, seen, at("2026-12-01T09:21:00Z")), SessionState::Live { touch: true });
    assert_eq!(p.state(signed_in, seen, at("2026-12-01T09:49:59Z")), SessionState::Live { touch: true });
    assert_eq!(p.state(signed_in, seen, at("2026-12-01T09:50:00Z")), SessionState::Idle);
    // Used every minute, it still ends twelve hours after sign-in.
    let busy = at("2026-12-01T20:59:30Z");
    assert_eq!(p.state(signed_in, busy, at("2026-12-01T20:59:59Z")), SessionState::Live { touch: false });
    assert_eq!(p.state(signed_in, busy, at("2026-12-01T21:00:00Z")), SessionState::Expired);
    assert_eq!(p.idle_before(at("2026-12-01T10:00:00Z")), at("2026-12-01T09:30:00Z"));
    assert_eq!(p.expires_at(signed_in).duration_since(signed_in), SignedDuration::from_hours(12));
}

/// The store keeps a hash that is not the id, and the CSRF token is neither the id nor
/// that hash (a leaked table signs nobody in and forges no form).
#[test]
fn the_stored_hash_and_the_csrf_token_are_not_the_session_id() {
    let id = session::session_id([7; session::SESSION_ID_BYTES]);
    assert!(session::looks_like_session_id(&id));
    assert!(!session::looks_like_session_id("zz"));
    let (hash, csrf) = (session_hash(&id), csrf::console_token(&id));
    assert_ne!(hash, id);
    assert_ne!(csrf, id);
    assert_ne!(csrf, hash);
    assert_eq!(csrf, csrf::console_token(&id), "derived, so the same for every form of the session");
    assert_ne!(csrf::member_token("t"), csrf::console_token("t"), "each kind of token has its own tag");
}

/// A form's token matches only when it is exactly the session's; a missing or empty one never.
#[test]
fn csrf_tokens_match_only_exactly() {
    let t = csrf::console_token("abc");
    assert!(csrf::matches(&t, Some(&t)));
    assert!(!csrf::matches(&t, None));
    assert!(!csrf::matches(&t, Some("")));
    assert!(!csrf::matches(&t, Some(&t[1..])));
    let mut other = t.clone();
    other.replace_range(0..1, if t.starts_with('0') { "1" } else { "0" });
    assert!(!csrf::matches(&t, Some(&other)));
    assert!(same_secret("", ""));
}

/// A token names its member until it expires; another secret, another member's id, a
/// changed expiry or any changed character is refused.
#[test]
fn a_member_token_names_one_member_until_it_expires() {
    let secret = b"0123456789abcdef0123456789abcdef";
    let ling = MemberId::parse("ling").unwrap();
    let now = at("2026-12-01T09:00:00Z");
    let expires = now + SignedDuration::from_secs(900);
    let token = member_token::sign(secret, &ling, expires);
    assert!(token.starts_with("lm1."), "{token}");
    assert!(token.len() <= member_token::MAX_TOKEN_LEN);
    assert_eq!(member_token::verify(secret, &token, now), Ok((ling.clone(), expires)));
    assert_eq!(member_token::verify(secret, &token, expires), Err(TokenError::Expired(expires)));
    assert_eq!(member_token::verify(b"another secret", &token, now), Err(TokenError::Invalid));
    // Swapping in another member's id (or a later expiry) breaks the signature.
    let parts: Vec<&str> = token.split('.').collect();
    let other = format!("lm1.{}.{}.{}", hex::encode("wei"), parts[2], parts[3]);
    assert_eq!(member_token::verify(secret, &other, now), Err(TokenError::Invalid));
    let later = format!("lm1.{}.{}.{}", parts[1], expires.as_second() + 3600, parts[3]);
    assert_eq!(member_token::verify(secret, &later, now), Err(TokenError::Invalid));
    for bad in ["", "lm1", "lm1...", "lm2.x.1.2", &format!("{token}.x"), &token[..token.len() - 1]] {
        assert_eq!(member_token::verify(secret, bad, now), Err(TokenError::Invalid), "{bad:?}");
    }
    assert_eq!(member_token::verify(secret, &"a".repeat(5_000), now), Err(TokenError::Invalid));
}

#[test]
fn a_token_lifetime_is_bounded() {
    assert_eq!(member_token::ttl(None).unwrap(), member_token::DEFAULT_TTL_SECS);
    assert_eq!(member_token::ttl(Some(60)).unwrap(), 60);
    assert!(member_token::ttl(Some(59)).is_err());
    assert!(member_token::ttl(Some(3_601)).is_err());
}
