//! OpenAPI schemas of the values the parsers accept, made from the parsers' own constants
//! (`MAX_ID_LEN`, `ID_PUNCTUATION`, `MAX_AMOUNT_MINOR`, `MAX_POINTS`, `MAX_QUANTITY`, …), so
//! the document cannot promise more, or less, than the edge accepts. Fields name them with
//! `#[schema(schema_with = …)]`.

use crate::ids::{id_pattern, MAX_ID_LEN};
use crate::limits::MAX_POINTS;
use crate::order::{MAX_AMOUNT_MINOR, MAX_LINES, MAX_QUANTITY, MAX_TEXT};
use crate::text::MAX_REASON_CHARS;
use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;

/// No control character (Rust's `char::is_control`: Unicode category Cc), as `text::check` refuses.
const PRINTABLE: &str = "\\u0000-\\u001f\\u007f-\\u009f";

pub(crate) fn int(lo: i64, hi: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(lo as f64))
        .maximum(Some(hi as f64))
}

/// An identifier: what `ids::check_id` accepts.
pub fn id(description: &str) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_ID_LEN))
        .pattern(Some(id_pattern()))
        .description(Some(description))
        .into()
}

/// A string field holding an identifier.
pub fn id_field() -> Schema {
    id("1 to 128 letters, digits and . _ : -")
}

/// An optional identifier field (absent or null, else an identifier).
pub fn id_field_opt() -> Schema {
    nullable(id_field())
}

/// An amount in minor units: 0 to `MAX_AMOUNT_MINOR` (`order::check_amount`).
pub fn amount() -> Schema {
    int(0, MAX_AMOUNT_MINOR).into()
}

/// An optional amount.
pub fn amount_opt() -> Schema {
    nullable(amount())
}

/// A refund's amount: 1 to `MAX_AMOUNT_MINOR`, or absent (when lines are sent).
pub fn refund_amount_opt() -> Schema {
    nullable(int(1, MAX_AMOUNT_MINOR).into())
}

/// A line's quantity: 1 to `MAX_QUANTITY`.
pub fn quantity() -> Schema {
    int(1, MAX_QUANTITY).into()
}

/// Points one request holds or redeems: 1 to `MAX_POINTS` (`limits::check_hold_input`).
pub fn points() -> Schema {
    int(1, MAX_POINTS).into()
}

/// Points to redeem at checkout: 0 to `MAX_POINTS`, or absent.
pub fn points_opt() -> Schema {
    nullable(int(0, MAX_POINTS).into())
}

/// An adjustment's points: non-zero, at most `MAX_POINTS` either way (`limits::check_adjustment`).
pub fn signed_points() -> Schema {
    OneOfBuilder::new().item(int(-MAX_POINTS, -1)).item(int(1, MAX_POINTS)).into()
}

/// Free text of 1 to `MAX_TEXT` printable characters (`text::check`).
pub fn text() -> Schema {
    text_of(1, MAX_TEXT).into()
}

/// Optional free text of 1 to `MAX_TEXT` printable characters.
pub fn text_opt() -> Schema {
    nullable(text())
}

/// 1 to `MAX_REASON_CHARS` printable characters, not only spaces (`text::Reason`).
pub fn reason() -> Schema {
    reason_of(MAX_REASON_CHARS)
}

/// An erasure's reason (`member::erase_reason`).
pub fn erase_reason() -> Schema {
    reason_of(crate::member::MAX_ERASE_REASON)
}

fn reason_of(max: usize) -> Schema {
    let c = PRINTABLE;
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(format!("^[^{c}]*[^\\s{c}][^{c}]*$")))
        .into()
}

/// A string of `lo..=hi` characters with no control character.
pub fn text_of(lo: usize, hi: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(lo))
        .max_length(Some(hi))
        .pattern(Some(format!("^[^{PRINTABLE}]*$")))
}

/// An order's lines: 1 to `MAX_LINES`.
pub fn order_lines() -> Schema {
    lines_of(<crate::order::LineInput as utoipa::PartialSchema>::schema())
}

/// A cart's lines: 1 to `MAX_LINES`.
pub fn cart_lines() -> Schema {
    lines_of(<crate::checkout::CartLine as utoipa::PartialSchema>::schema())
}

fn lines_of(item: RefOr<Schema>) -> Schema {
    ArrayBuilder::new().items(item).min_items(Some(1)).max_items(Some(MAX_LINES)).into()
}

/// A refund's lines: 1 to `MAX_LINES`, or absent.
pub fn refund_lines_opt() -> Schema {
    nullable(lines_of(<crate::order::RefundLineInput as utoipa::PartialSchema>::schema()))
}

/// An activity's type: 1 to `MAX_TYPE_CHARS` printable characters (`tiers::ActivityInput::parse`).
pub fn activity_type() -> Schema {
    text_of(1, crate::tiers::MAX_TYPE_CHARS).into()
}

/// An activity's reference: up to `MAX_REFERENCE_CHARS` printable characters, or absent.
pub fn reference_opt() -> Schema {
    nullable(text_of(0, crate::tiers::MAX_REFERENCE_CHARS).into())
}

/// An integer of `lo..=hi`, for bounds that live outside the core (a hold's TTL).
pub fn int_range(lo: i64, hi: i64) -> Schema {
    int(lo, hi).into()
}

/// An instant: RFC 3339 with an offset, as `instant::parse_instant` accepts it, spelt as a
/// pattern rather than `format: date-time`: the format alone allows the years 0000 to 9999
/// and offsets to ±23:59, and a generator filtering those by a pattern finds almost nothing.
/// (29 February is left out: a pattern cannot tell leap years; nor can it see that the
/// first and last hours of the range, written with an offset, fall outside it in UTC.)
pub fn instant() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(instant_pattern()))
        .description(Some("RFC 3339 with an offset, from 1970 to before 2200, offset within ±14:00"))
        .into()
}

/// The years within `EARLIEST..END` (1970 to 2199), real months and days, and the offset
/// within ±`MAX_OFFSET_SECS`; the constants are held to the spelling.
fn instant_pattern() -> String {
    use crate::instant::{EARLIEST, END, MAX_OFFSET_SECS};
    let year = |t: jiff::Timestamp| t.to_zoned(jiff::tz::TimeZone::UTC).year();
    assert_eq!((year(EARLIEST), year(END)), (1970, 2200), "instant_pattern spells the accepted years");
    assert_eq!(MAX_OFFSET_SECS % 3600, 0, "the widest offset is whole hours");
    let max_hours = MAX_OFFSET_SECS / 3600;
    let below = max_hours - 1;
    let offset = format!("Z|[+-](0[0-9]|{}[0-{}]):[0-5][0-9]|[+-]{max_hours}:00", below / 10, below % 10);
    let years = "(19[7-9][0-9]|2[01][0-9][0-9])";
    let days =
        "((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))";
    let time = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?";
    format!("^{years}-{days}T{time}({offset})$")
}

/// An optional instant.
pub fn instant_opt() -> Schema {
    nullable(instant())
}

/// A calendar day, `YYYY-MM-DD`.
pub fn date() -> Schema {
    ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))).into()
}

/// One of `values`, as a parser of these names accepts them (`EntryKind::parse`, …).
pub fn one_of<'a>(values: impl IntoIterator<Item = &'a str>) -> Schema {
    let values: Vec<serde_json::Value> = values.into_iter().map(Into::into).collect();
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values)).into()
}

/// A comma-separated list of `values`, empty items ignored, as the ledger's `kind` filter reads it.
pub fn list_of<'a>(values: impl IntoIterator<Item = &'a str>) -> Schema {
    let any = values.into_iter().collect::<Vec<_>>().join("|");
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(format!("^,*(({any})(,+({any}))*)?,*$"))).into()
}

/// A member status a profile may be set to.
pub fn member_status_opt() -> Schema {
    nullable(one_of(crate::ledger::MemberStatus::ALL.iter().map(|s| s.as_str())))
}

/// A member's name: up to `MAX_TEXT` printable characters.
pub fn member_name() -> Schema {
    nullable(text_of(0, MAX_TEXT).into())
}

/// A phone number: digits and `PHONE_PUNCTUATION`, up to `MAX_PHONE` characters.
pub fn phone() -> Schema {
    use crate::member::{MAX_PHONE, PHONE_PUNCTUATION};
    // In a class no character of these needs an escape once `-` comes last.
    let mut punct: String = PHONE_PUNCTUATION.chars().filter(|c| *c != '-').collect();
    if PHONE_PUNCTUATION.contains('-') {
        punct.push('-');
    }
    let s = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_PHONE))
        .pattern(Some(format!("^[0-9{punct}]*$")));
    nullable(s.into())
}

/// An email address as the profile check reads one: text, an @, text; up to `MAX_EMAIL`
/// printable characters.
pub fn email() -> Schema {
    let c = PRINTABLE;
    let s = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(crate::member::MAX_EMAIL))
        .pattern(Some(format!("^[^@{c}][^{c}]*@[^{c}]*[^@{c}]$")));
    nullable(s.into())
}

/// A birthday, `YYYY-MM-DD`.
pub fn birthday() -> Schema {
    nullable(date())
}

/// A sales channel: up to `MAX_CHANNEL` printable characters.
pub fn channel() -> Schema {
    nullable(text_of(0, crate::member::MAX_CHANNEL).into())
}

/// `schema`, or null (serde's `Option` takes both absent and `null`).
pub fn nullable(schema: Schema) -> Schema {
    OneOfBuilder::new().item(schema).item(ObjectBuilder::new().schema_type(Type::Null)).into()
}

pub(crate) fn closed(props: &[(&str, Schema)], required: &[&str]) -> ObjectBuilder {
    let mut o = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::<Schema>::FreeForm(false)));
    for (name, s) in props {
        o = o.property(*name, s.clone());
    }
    for r in required {
        o = o.required(*r);
    }
    o
}

pub(crate) fn boolean() -> Schema {
    ObjectBuilder::new().schema_type(Type::Boolean).into()
}

/// A coupon template's validity (`coupons::template::Validity`): `{"fixed": {from, until}}` or
/// `{"relative": {days, end_of_day}}`, nothing else in either.
pub fn coupon_validity() -> Schema {
    use crate::coupons::template::MAX_VALID_DAYS;
    let fixed = closed(&[("from", instant()), ("until", instant())], &["from", "until"]);
    let relative = closed(&[("days", int_range(1, MAX_VALID_DAYS)), ("end_of_day", boolean())], &["days"]);
    OneOfBuilder::new()
        .item(closed(&[("fixed", fixed.into())], &["fixed"]))
        .item(closed(&[("relative", relative.into())], &["relative"]))
        .into()
}

/// What a coupon gives (`coupons::template::Benefit`): one object per `kind`, each with its own
/// fields and bounds, nothing else.
pub fn coupon_benefit() -> Schema {
    let kind = |k: &str| one_of([k]);
    let money = || amount();
    let positive = || int_range(1, MAX_AMOUNT_MINOR);
    let opt_positive = || nullable(int_range(1, MAX_AMOUNT_MINOR));
    OneOfBuilder::new()
        .item(closed(
            &[
                ("kind", kind("amount_off")),
                ("value_minor", positive()),
                ("threshold_minor", money()),
                ("step", boolean()),
                ("max_off_minor", opt_positive()),
            ],
            &["kind", "value_minor"],
        ))
        .item(closed(
            &[
                ("kind", kind("percent_off")),
                ("percent_off", int_range(1, 99)),
                ("max_off_minor", opt_positive()),
                ("threshold_minor", money()),
            ],
            &["kind", "percent_off"],
        ))
        .item(closed(&[("kind", kind("free_shipping")), ("threshold_minor", money())], &["kind"]))
        .item(closed(
            &[
                ("kind", kind("points_multiplier")),
                ("multiplier_percent", int_range(101, 1000)),
                ("threshold_minor", money()),
            ],
            &["kind", "multiplier_percent"],
        ))
        .item(closed(
            &[("kind", kind("gift")), ("sku", text()), ("value_minor", money()), ("threshold_minor", money())],
            &["kind", "sku", "value_minor"],
        ))
        .into()
}

/// A list of goods names in a coupon's scope: at most `MAX_SCOPE_ENTRIES` texts.
pub fn scope_list() -> Schema {
    ArrayBuilder::new().items(RefOr::T(text())).max_items(Some(crate::coupons::template::MAX_SCOPE_ENTRIES)).into()
}

/// An audience's segments: member insight's segment codes, each at most once
/// (`coupons::audience::check_names`).
pub fn audience_segments() -> Schema {
    names_once(&crate::coupons::audience::SEGMENTS)
}

/// An audience's lifecycle stages: member insight's stage codes, each at most once.
pub fn audience_stages() -> Schema {
    names_once(&crate::coupons::audience::STAGES)
}

fn names_once(known: &[&str]) -> Schema {
    ArrayBuilder::new()
        .items(RefOr::T(one_of(known.iter().copied())))
        .max_items(Some(known.len()))
        .unique_items(true)
        .into()
}

/// A coupon code as `coupons::code::normalize` accepts it (surrounding blanks aside).
pub fn coupon_code_opt() -> Schema {
    use crate::coupons::code::{MAX_CODE_LEN, MIN_CODE_LEN};
    let s = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^[A-Za-z0-9-]{{{MIN_CODE_LEN},{MAX_CODE_LEN}}}$")));
    nullable(s.into())
}

/// A template's stock: 0 to `MAX_STOCK`, or absent/null for unlimited.
pub fn coupon_stock_opt() -> Schema {
    nullable(int_range(0, crate::coupons::template::MAX_STOCK))
}

/// A per-member limit: 1 to `MAX_PER_MEMBER`, or absent/null for none.
pub fn coupon_limit_opt() -> Schema {
    nullable(int_range(1, crate::coupons::template::MAX_PER_MEMBER))
}

/// At most `MAX_COUPONS_PER_CART` coupon ids.
pub fn coupon_ids() -> Schema {
    ArrayBuilder::new().items(RefOr::T(id_field())).max_items(Some(crate::coupons::MAX_COUPONS_PER_CART)).into()
}

pub use crate::schema_rewards::*;
