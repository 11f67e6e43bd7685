//! Access outside the API keys: an operator's console session (`session`), the member
//! centre's short-lived member token (`member_token`), and the CSRF tokens of their forms
//! (`csrf`). Pure rules: the caller brings the random bytes, the secret and `now`; the store
//! keeps sessions and the secret, the HTTP layer carries cookies.

pub mod csrf;
pub mod member_token;
pub mod session;

use sha2::{Digest, Sha256};

/// Hex SHA-256 of `parts` joined by NUL bytes, each part tagged by its position: what a
/// token's derived values are made of.
pub(crate) fn digest(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

/// Compares two secrets in time that depends on their lengths only, never on where they
/// first differ, so a presented token cannot be guessed byte by byte from response times.
pub fn same_secret(expected: &str, presented: &str) -> bool {
    let (a, b) = (expected.as_bytes(), presented.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
