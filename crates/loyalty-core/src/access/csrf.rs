//! CSRF tokens. Every form of the console carries its session's token and every POST must
//! send it back; the member centre's forms carry one derived from the member token. A token
//! is derived from the secret in the `HttpOnly` cookie (a session id or a member token), so a
//! page of another site can neither read it nor compute it, and nothing more is stored.

/// The CSRF token of a console session (its id is the secret in the cookie).
pub fn console_token(session_id: &str) -> String {
    super::digest(&[b"loyalty-console-csrf", session_id.as_bytes()])
}

/// The CSRF token of the sign-in form, before there is a session: derived from a random
/// value the sign-in page sets in a cookie of its own (a double-submit token).
pub fn login_token(nonce: &str) -> String {
    super::digest(&[b"loyalty-console-login", nonce.as_bytes()])
}

/// The CSRF token of a member centre page opened with `member_token`.
pub fn member_token(member_token: &str) -> String {
    super::digest(&[b"loyalty-member-csrf", member_token.as_bytes()])
}

/// Whether `presented` (a form's field, absent when the form sent none) is `expected`,
/// compared in constant time.
pub fn matches(expected: &str, presented: Option<&str>) -> bool {
    presented.is_some_and(|p| !p.is_empty() && super::same_secret(expected, p))
}
