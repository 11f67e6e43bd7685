//! `loyalty check-config` refuses each kind of mistake naming the full key and what it accepts.

use std::process::Command;

/// check-config on `text`: its stderr, which must report a refusal.
fn refused(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("program.toml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_loyalty")).arg("check-config").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{text:?} is refused");
    let err = String::from_utf8(out.stderr).unwrap();
    let prefix = format!("{}: invalid programme: ", file.display());
    err.strip_prefix(&prefix).unwrap_or_else(|| panic!("{err:?} starts with {prefix:?}")).trim_end().to_owned()
}

#[test]
fn an_unknown_value() {
    assert_eq!(
        refused("[tiers]\nwindow = \"rolling_13_months\"\n"),
        "tiers.window: unknown value \"rolling_13_months\"; expected one of rolling_12_months, calendar_year, lifetime"
    );
    assert_eq!(
        refused("[insight]\nscheme = \"rfm\"\n"),
        "insight.scheme: unknown value \"rfm\"; expected one of value, score, lifecycle"
    );
    assert_eq!(
        refused("[insight.rfm]\nmethod = \"deciles\"\n"),
        "insight.rfm.method: unknown value \"deciles\"; expected one of quintiles, fixed"
    );
}

#[test]
fn a_value_of_the_wrong_type() {
    assert_eq!(
        refused("[tiers]\ndowngrade = true\n"),
        "tiers.downgrade: found boolean `true`; expected one of one_down, to_qualified"
    );
    assert_eq!(
        refused("[[tiers.levels]]\ncode = \"base\"\nname = \"B\"\nentry = \"0\"\n"),
        "tiers.levels[0].entry: found string \"0\"; expected an integer"
    );
}

#[test]
fn an_unknown_key() {
    assert_eq!(
        refused("[redemption]\nmax_share = 50\n"),
        "redemption.max_share: unknown key; expected one of points_per_unit, max_share_percent, min_points"
    );
    assert_eq!(
        refused("[insight.lifecycle]\nnew_dayz = 3\n"),
        "insight.lifecycle.new_dayz: unknown key; expected one of new_days, active_days, at_risk_days, \
         sleeping_days, p_alive_floor"
    );
}

#[test]
fn a_missing_key() {
    assert_eq!(refused("[[early_access]]\nsku = \"X\"\n"), "early_access[0].min_tier: required key is missing");
    assert_eq!(
        refused("[expiry]\nperiods = 3\n"),
        "expiry.policy: required key is missing; expected one of never, rolling, end_of_period"
    );
}

#[test]
fn a_number_out_of_range() {
    assert_eq!(
        refused("[member_day]\nday_of_month = -1\n"),
        "member_day.day_of_month: -1 is out of range; expected an integer between 0 and 31"
    );
    assert_eq!(
        refused("[insight]\nwindow_days = 0\n"),
        "insight.window_days: 0 is out of range; expected an integer between 1 and 3650"
    );
    assert_eq!(
        refused("[insight]\ndaily_hour = 300\n"),
        "insight.daily_hour: 300 is out of range; expected an integer between 0 and 23"
    );
    assert_eq!(
        refused("[insight.clv]\nsteps = 0\n"),
        "insight.clv.steps: 0 is out of range; expected an integer between 1 and 1200"
    );
}

#[test]
fn a_reference_to_a_tier_the_ladder_lacks() {
    assert_eq!(
        refused("[[tiers.levels]]\ncode = \"base\"\nname = \"B\"\nentry = 0\n[member_day]\ntiers = [\"gold\"]\n"),
        "member_day.tiers[0]: unknown tier \"gold\"; expected one of base"
    );
}

#[test]
fn a_syntax_error_names_the_key_and_line() {
    assert_eq!(
        refused("currency = \"CNY\"\ntimezone = Asia/Shanghai\n"),
        "timezone: string values must be quoted, expected literal string (line 2, column 12)"
    );
}
