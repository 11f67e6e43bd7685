//! Coupon codes: a template's public code (one code many members type, e.g. `SPRING2026`) and
//! batches of unique one-time codes, each redeemable by one member once. Codes are compared
//! without case; one-time codes are 16 characters of Crockford's base32 (80 random bits, no
//! I, L, O or U), so they cannot be guessed and read back without ambiguity.

use crate::error::DomainError;

/// Shortest and longest code accepted.
pub const MIN_CODE_LEN: usize = 4;
pub const MAX_CODE_LEN: usize = 32;
/// Most one-time codes one request generates.
pub const MAX_CODES_PER_BATCH: i64 = 1_000_000;
/// Crockford's base32 alphabet.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A code as typed, made canonical (upper case, surrounding blanks removed); refused naming
/// `field` when it is not 4–32 letters, digits or `-`.
pub fn normalize(field: &str, raw: &str) -> Result<String, DomainError> {
    let code = raw.trim().to_ascii_uppercase();
    if !(MIN_CODE_LEN..=MAX_CODE_LEN).contains(&code.len()) {
        return Err(DomainError::unprocessable(
            field,
            format!("{raw:?} must have {MIN_CODE_LEN} to {MAX_CODE_LEN} characters"),
        ));
    }
    if let Some(bad) = code.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
        return Err(DomainError::unprocessable(field, format!("{raw:?} contains {bad:?}: use letters, digits and -")));
    }
    Ok(code)
}

/// The one-time code that 10 random bytes spell: 16 base32 characters.
pub fn one_time(bytes: [u8; 10]) -> String {
    let mut bits: u128 = 0;
    for b in bytes {
        bits = (bits << 8) | u128::from(b);
    }
    (0..16).rev().map(|i| char::from(ALPHABET[((bits >> (i * 5)) & 31) as usize])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_canonical_and_one_time_codes_use_every_bit() {
        assert_eq!(normalize("code", " spring-2026 ").unwrap(), "SPRING-2026");
        assert!(normalize("code", "abc").is_err());
        assert!(normalize("code", "spring 2026").is_err());
        assert_eq!(one_time([0; 10]), "0000000000000000");
        assert_eq!(one_time([255; 10]), "ZZZZZZZZZZZZZZZZ");
        assert_eq!(one_time([0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), "0000000000000001");
        let c = one_time([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(normalize("code", &c.to_lowercase()).unwrap(), c);
    }
}

/// A one-time code as stored: redeemed by at most one member, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeCode {
    pub code: String,
    pub template_id: crate::ids::TemplateId,
    pub batch_id: String,
    pub created_at: jiff::Timestamp,
    /// The member and coupon it was redeemed for, and when.
    pub redeemed: Option<(crate::ids::MemberId, crate::ids::CouponId, jiff::Timestamp)>,
}
