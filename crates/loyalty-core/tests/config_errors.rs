//! Every kind of programme-file error names its full key and what the key accepts.

use loyalty_core::program::{ExpiryPolicy, Period, ProgramFile};
use loyalty_core::tiers::Window;
use loyalty_core::Program;

/// The one issue `text` is refused with, as `key: reason`.
fn refusal(text: &str) -> String {
    let err = Program::from_toml(text).expect_err(text);
    assert_eq!(err.0.len(), 1, "one issue for {text:?}: {err}");
    err.0[0].to_string()
}

const LEVEL: &str = "[[tiers.levels]]\ncode = \"base\"\nname = \"Base\"\nentry = 0\n";

#[test]
fn an_unknown_value_names_the_key_and_every_value() {
    let windows = "expected one of rolling_12_months, calendar_year, lifetime";
    assert_eq!(
        refusal("[tiers]\nwindow = \"rolling_13_months\"\n"),
        format!("tiers.window: unknown value \"rolling_13_months\"; {windows}")
    );
    assert_eq!(refusal("[tiers]\nwindow = 12\n"), format!("tiers.window: found integer `12`; {windows}"));
    assert_eq!(
        refusal("refund_policy = \"forgive\"\n"),
        "refund_policy: unknown value \"forgive\"; expected one of debt, clamp"
    );
    assert_eq!(
        refusal("[tiers]\ndowngrade = \"two_down\"\n"),
        "tiers.downgrade: unknown value \"two_down\"; expected one of one_down, to_qualified"
    );
    assert_eq!(
        refusal("[tiers]\nmultipliers = \"sum\"\n"),
        "tiers.multipliers: unknown value \"sum\"; expected one of max, product"
    );
    let activity = "[[activities]]\ntype = \"review\"\ngrowth = 1\ncap = 1\ncap_period = \"day\"\n";
    assert_eq!(
        refusal(&format!("{activity}[[activities]]\ntype = \"share\"\ngrowth = 1\ncap = 1\ncap_period = \"year\"\n")),
        "activities[1].cap_period: unknown value \"year\"; expected one of day, week, month"
    );
    assert_eq!(
        refusal("currency = \"XBT\"\n"),
        "currency: unknown value \"XBT\"; expected one of CNY, HKD, TWD, MOP, USD, EUR, GBP, SGD, MYR, THB, AUD, \
         CAD, CHF, NZD, PHP, IDR, INR, VND, JPY, KRW, KWD"
    );
    assert_eq!(
        refusal("[member_day]\ntiers = [\"gold\", \"platinum\"]\n"),
        "member_day.tiers[1]: unknown tier \"platinum\"; expected one of base, silver, gold, diamond"
    );
    assert_eq!(
        refusal(&format!("{LEVEL}[[early_access]]\nsku = \"X\"\nmin_tier = \"gold\"\n")),
        "early_access[0].min_tier: unknown tier \"gold\"; expected one of base"
    );
}

#[test]
fn the_documented_window_spelling_is_read_and_printed() {
    let p = Program::from_toml("[tiers]\nwindow = \"rolling_12_months\"\n").unwrap();
    assert_eq!(p.file.tiers.window, Window::Rolling12Months);
    let printed = toml::to_string_pretty(&p.file).unwrap();
    assert!(printed.contains("window = \"rolling_12_months\""), "{printed}");
    // The spelling earlier check-config output carried still reads.
    let p = Program::from_toml("[tiers]\nwindow = \"rolling12_months\"\n").unwrap();
    assert_eq!(p.file.tiers.window, Window::Rolling12Months);
}

#[test]
fn what_check_config_prints_reads_back_as_the_same_programme() {
    let mut f = ProgramFile::default();
    for expiry in [
        ExpiryPolicy::Never,
        ExpiryPolicy::Rolling { days: 365 },
        ExpiryPolicy::EndOfPeriod { period: Period::Quarter, periods: 4 },
    ] {
        f.expiry = expiry;
        let text = toml::to_string_pretty(&f).unwrap();
        assert_eq!(Program::from_toml(&text).unwrap().file, f, "{text}");
    }
}

#[test]
fn unknown_and_missing_keys_are_named_with_what_fits() {
    assert_eq!(
        refusal("[tiers]\nwindows = \"lifetime\"\n"),
        "tiers.windows: unknown key; expected one of window, term_months, warning_days, grace_days, downgrade, \
         multipliers, levels"
    );
    assert_eq!(
        refusal("[[tiers.levels]]\ncode = \"base\"\nentry = 0\n"),
        "tiers.levels[0].name: required key is missing"
    );
    assert_eq!(
        refusal("[[activities]]\ntype = \"review\"\ngrowth = 1\ncap = 1\n"),
        "activities[0].cap_period: required key is missing; expected one of day, week, month"
    );
    assert_eq!(refusal("pending_dayz = 3\n").split(';').next(), Some("pending_dayz: unknown key"));
}

#[test]
fn expiry_keys_are_checked_against_the_policy() {
    let policies = "expected one of never, rolling, end_of_period";
    assert_eq!(
        refusal("[expiry]\npolicy = \"monthly\"\n"),
        format!("expiry.policy: unknown value \"monthly\"; {policies}")
    );
    assert_eq!(refusal("[expiry]\ndays = 30\n"), format!("expiry.policy: required key is missing; {policies}"));
    assert_eq!(
        refusal("[expiry]\npolicy = \"rolling\"\n"),
        "expiry.days: required with policy = \"rolling\"; expected an integer between 1 and 36500"
    );
    assert_eq!(
        refusal("[expiry]\npolicy = \"never\"\ndays = 30\n"),
        "expiry.days: not used with policy = \"never\"; expected policy only"
    );
    assert_eq!(
        refusal("[expiry]\npolicy = \"end_of_period\"\nperiods = 2\n"),
        "expiry.period: required with policy = \"end_of_period\"; expected one of month, quarter, year"
    );
    assert_eq!(
        refusal("[expiry]\npolicy = \"end_of_period\"\nperiod = \"week\"\nperiods = 2\n"),
        "expiry.period: unknown value \"week\"; expected one of month, quarter, year"
    );
    assert_eq!(
        refusal("[expiry]\npolicy = \"rolling\"\ndays = -1\n"),
        "expiry.days: -1 is out of range; expected an integer between 1 and 36500"
    );
}

#[test]
fn numbers_out_of_range_name_the_key_and_the_range() {
    // Found while parsing (the Rust type is narrower than the file's integer) …
    assert_eq!(
        refusal("[member_day]\nday_of_month = 300\n"),
        "member_day.day_of_month: 300 is out of range; expected an integer between 0 and 31"
    );
    assert_eq!(
        refusal(&format!(
            "{LEVEL}[[tiers.levels.special_discounts]]\ncategory = \"x\"\npercent = 90\nweekdays = [1, 300]\n"
        )),
        "tiers.levels[0].special_discounts[0].weekdays[1]: 300 is out of range; expected an integer between 1 and 7"
    );
    assert_eq!(
        refusal(&format!("{LEVEL}points_multiplier = 250\n")),
        "tiers.levels[0].points_multiplier: 250 is out of range; expected a number between 0 and 100 with at most 3 \
         decimals"
    );
    // … or by validation, the same words.
    assert_eq!(
        refusal("pending_days = -1\n"),
        "pending_days: -1 is out of range; expected an integer between 0 and 3650"
    );
    assert_eq!(
        refusal(&format!(
            "{LEVEL}[[tiers.levels]]\ncode = \"gold\"\nname = \"Gold\"\nentry = 10\ndiscount_percent = 150\n"
        )),
        "tiers.levels[1].discount_percent: 150 is out of range; expected an integer between 1 and 100"
    );
    assert_eq!(
        refusal("[growth]\nper_order = -5\n"),
        "growth.per_order: -5 is out of range; expected an integer between 0 and 1000000"
    );
    assert_eq!(
        refusal("[[activities]]\ntype = \"review\"\ngrowth = 1\npoints = -1\ncap = 1\ncap_period = \"day\"\n"),
        "activities[0].points: -1 is out of range; expected an integer between 0 and 1000000"
    );
}

#[test]
fn wrong_types_and_syntax_errors_name_the_key() {
    assert_eq!(refusal("pending_days = 1.5\n"), "pending_days: found floating point `1.5`; expected an integer");
    assert_eq!(
        refusal(&format!(
            "{LEVEL}[[tiers.levels]]\ncode = \"s\"\nname = \"S\"\nentry = 9\ndiscount_percent = \"90\"\n"
        )),
        "tiers.levels[1].discount_percent: found string \"90\"; expected an integer"
    );
    assert_eq!(refusal("[tiers]\nlevels = 3\n"), "tiers.levels: found integer `3`; expected an array");
    let syntax = refusal("[redemption]\nmin_points = 100\nmax_share_percent = fifty\n");
    assert!(
        syntax.starts_with("redemption.max_share_percent: ") && syntax.ends_with("(line 3, column 21)"),
        "{syntax}"
    );
}

#[test]
fn validation_names_the_element_at_fault() {
    assert_eq!(
        refusal(&format!("{LEVEL}[[tiers.levels.special_discounts]]\nbrand = \"acme\"\npercent = 90\ndates = [\"11-11\", \"13-01\"]\n")),
        "tiers.levels[0].special_discounts[0].dates[1]: \"13-01\" is not a date; expected MM-DD, such as \"11-11\""
    );
    assert_eq!(
        refusal("[[tiers.levels]]\ncode = \"silver\"\nname = \"S\"\nentry = 1000\n"),
        "tiers.levels[0].entry: 1000 given; the first tier reached by growth must start at 0"
    );
    let err = Program::from_toml("timezone = \"Mars/Base\"\n[redemption]\nmax_share_percent = 150\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid programme: timezone: \"Mars/Base\" is not an IANA time zone name (such as Asia/Shanghai)\n  \
         redemption.max_share_percent: 150 is out of range; expected an integer between 0 and 100"
    );
}
