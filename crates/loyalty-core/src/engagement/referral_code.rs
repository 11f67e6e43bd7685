//! Referral codes (邀请码): derived from the member id by a keyed hash, in Crockford's base32,
//! and the newtype a typed code parses into.

use crate::ids::MemberId;
use crate::DomainError;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Characters of a referral code: Crockford's base32 (no I, L, O, U: nothing to misread).
pub const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
pub const CODE_LEN: usize = 8;
/// Candidates tried for one member's code before the store is out of codes (40 bits each: a
/// second collision for one member is already about one in a trillion at a million members).
pub const CODE_ATTEMPTS: u32 = 8;

/// A referral code as members type it: 8 characters of Crockford's base32, any case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ReferralCode(String);

impl ReferralCode {
    /// Parses a code sent as `field`: trimmed, upper-cased; a wrong length or a character
    /// outside the alphabet is a 422 naming the field.
    pub fn parse(field: &str, raw: &str) -> Result<Self, DomainError> {
        let code = raw.trim().to_ascii_uppercase();
        if code.len() != CODE_LEN {
            return Err(DomainError::unprocessable(field, format!("a referral code has {CODE_LEN} characters")));
        }
        if let Some(bad) = code.chars().find(|c| !c.is_ascii() || !CODE_ALPHABET.contains(&(*c as u8))) {
            return Err(DomainError::unprocessable(
                field,
                format!("contains {bad:?}: a referral code holds only digits and letters other than I, L, O, U"),
            ));
        }
        Ok(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ReferralCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The member's code candidate number `attempt`: 40 bits of SHA-256 over the salt, the member
/// id and the attempt, in base32. Deterministic, so the same member gets the same code on every
/// node; a candidate another member holds is skipped for the next (see [`pick_code`]).
pub fn code_for(member: &MemberId, attempt: u32, salt: &str) -> ReferralCode {
    let mut h = Sha256::new();
    h.update(b"loyalty-referral-code\0");
    h.update(salt.as_bytes());
    h.update(b"\0");
    h.update(member.as_str().as_bytes());
    h.update(attempt.to_be_bytes());
    let d = h.finalize();
    let bits = u64::from_be_bytes([0, 0, 0, d[0], d[1], d[2], d[3], d[4]]);
    let code: String = (0..CODE_LEN).rev().map(|i| CODE_ALPHABET[((bits >> (5 * i)) & 31) as usize] as char).collect();
    ReferralCode(code)
}

/// Every candidate of the member, in the order they are tried.
pub fn candidates(member: &MemberId, salt: &str) -> Vec<ReferralCode> {
    (0..CODE_ATTEMPTS).map(|a| code_for(member, a, salt)).collect()
}

/// The first candidate no other member holds (`holder` answers who holds a code, if anyone):
/// the same answer whoever asks, so a collision resolves the same way on every node.
pub fn pick_code(
    member: &MemberId,
    salt: &str,
    holder: impl Fn(&ReferralCode) -> Option<MemberId>,
) -> Option<ReferralCode> {
    candidates(member, salt).into_iter().find(|c| holder(c).is_none_or(|m| &m == member))
}
