//! Identifiers that parse: once a value of these types exists, it is valid.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an identifier was refused, for the error a user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IdError(pub String);

/// Longest identifier accepted anywhere. A limit on everything (TIGER_STYLE).
pub const MAX_ID_LEN: usize = 128;

/// The characters an identifier may hold besides ASCII letters and digits. The parser and the
/// OpenAPI pattern ([`id_pattern`]) are both made from it.
pub const ID_PUNCTUATION: [char; 4] = ['.', '_', ':', '-'];

/// The JSON Schema pattern of an identifier, made from the parser's own alphabet and length.
/// `-` comes last in the class, so it needs no escape in either regex dialect.
pub fn id_pattern() -> String {
    let punct: String = ID_PUNCTUATION.iter().collect();
    format!("^[A-Za-z0-9{punct}]{{1,{MAX_ID_LEN}}}$")
}

/// The pattern of an identifier hex-encoded (the insight member list's cursor): pairs of hex
/// digits, each one byte of the identifier alphabet, in either case.
pub fn hex_id_pattern() -> String {
    let bytes = (b'0'..=b'9').chain(b'A'..=b'Z').chain(b'a'..=b'z').chain(ID_PUNCTUATION.iter().map(|c| *c as u8));
    let pairs: Vec<String> = bytes.flat_map(|b| [format!("{b:02x}"), format!("{b:02X}")]).collect();
    let mut pairs = pairs;
    pairs.sort();
    pairs.dedup();
    format!("^(?:{}){{1,{MAX_ID_LEN}}}$", pairs.join("|"))
}

/// Why `raw` is not an identifier, if it is not; `noun` ("an order id") names it in the answer.
fn check_id(raw: &str, noun: &str) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError(format!("is empty: {noun} has 1 to {MAX_ID_LEN} characters")));
    }
    if raw.len() > MAX_ID_LEN {
        return Err(IdError(format!("is {} characters long: {noun} has at most {MAX_ID_LEN}", raw.len())));
    }
    if let Some(bad) = raw.chars().find(|c| !(c.is_ascii_alphanumeric() || ID_PUNCTUATION.contains(c))) {
        return Err(IdError(format!("contains {bad:?}: {noun} holds only letters, digits and . _ : -")));
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $noun:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(String);

        // Written as its text, borrowed: `serde(into)` would clone every id it writes.
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl $name {
            /// Parses a store-supplied identifier (1–128 chars of `[A-Za-z0-9._:-]`).
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                check_id(raw, $noun)?;
                Ok(Self(raw.to_owned()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(raw: String) -> Result<Self, IdError> {
                check_id(&raw, $noun)?;
                Ok(Self(raw))
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::schema::id(concat!("The ", stringify!($name), ": ", $noun, ", as the parser accepts it.")).into()
            }
        }
        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// The store's own customer id.
    MemberId,
    "a member id"
);
string_id!(
    /// The store's order number; unique across the store.
    OrderId,
    "an order id"
);
string_id!(
    /// The store's refund number; unique within its order.
    RefundId,
    "a refund id"
);
string_id!(
    /// A hold (points reserved at checkout); unique within its member.
    HoldId,
    "a hold id"
);
string_id!(
    /// A manual adjustment's id; unique within its member.
    AdjustmentId,
    "an adjustment id"
);

string_id!(
    /// The store's id for a member activity (a review, a share, …); unique within its member.
    ActivityId,
    "an activity id"
);
string_id!(
    /// The store's id for a free-sample claim; unique within its member.
    ClaimId,
    "a claim id"
);

string_id!(
    /// A coupon template's code, chosen by operations (`spring-200-20`); unique in the store.
    TemplateId,
    "a coupon template id"
);
string_id!(
    /// A task's (任务) code, chosen by operations (`order-3-in-december`); unique in the store.
    TaskId,
    "a task id"
);
string_id!(
    /// A coupon held by a member: the id the store gave when it was issued or claimed (the
    /// request's idempotency key); unique within its member.
    CouponId,
    "a coupon id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_accept_the_documented_alphabet_and_nothing_else() {
        assert!(MemberId::parse("cust-001:A_b.c").is_ok());
        assert!(MemberId::parse("").is_err());
        assert!(MemberId::parse("a b").is_err());
        assert!(MemberId::parse("会员").is_err());
        assert!(MemberId::parse(&"x".repeat(128)).is_ok());
        assert!(MemberId::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn the_schema_pattern_is_the_parsers_alphabet() {
        assert_eq!(id_pattern(), "^[A-Za-z0-9._:-]{1,128}$");
    }

    #[test]
    fn refusals_name_the_kind_of_id() {
        let e = ActivityId::parse("a b").unwrap_err();
        assert_eq!(e.0, "contains ' ': an activity id holds only letters, digits and . _ : -");
        assert_eq!(ClaimId::parse("").unwrap_err().0, "is empty: a claim id has 1 to 128 characters");
        assert!(OrderId::parse(&"o".repeat(129)).unwrap_err().0.contains("an order id has at most 128"));
    }
}

string_id!(
    /// An item of the points mall's catalogue, chosen by operations; unique in the store.
    RewardId,
    "a reward id"
);

string_id!(
    /// A member's redemption in the points mall: the id the store sends (idempotency key);
    /// unique within its member.
    RedemptionId,
    "a redemption id"
);

string_id!(
    /// A points lottery, chosen by operations; unique in the store.
    LotteryId,
    "a lottery id"
);

string_id!(
    /// One draw of a lottery: the id the store sends, unique within its member. The draw's
    /// outcome is derived from it (see `rewards::lottery::roll`).
    DrawId,
    "a draw id"
);

/// An id made from `parts` joined by `.` (a coupon a redemption or a draw issued, named after
/// it), or, when that would pass `MAX_ID_LEN`, `h.` and the hex of a 64-bit FNV-1a hash of the
/// joined parts: stable, so a retry derives the same id.
pub fn derived_id(parts: &[&str]) -> String {
    let joined = parts.join(".");
    if joined.len() <= MAX_ID_LEN {
        return joined;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in joined.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("h.{h:016x}.{}", &joined[joined.len() - 64..])
}

string_id!(
    /// The store's id of a payment for a paid plan's term (the request's idempotency key);
    /// unique within its member.
    PaymentId,
    "a payment id"
);
