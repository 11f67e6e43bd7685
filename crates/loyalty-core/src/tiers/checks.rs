//! Checks of the tiers, activities, member day and early access sections after parsing: each
//! problem is pushed with its full key, all of them rather than the first.

use super::config::{parse_month_day, Activity, EarlyAccess, Level, MemberDay, Tiers};
use crate::config_file::out_of_range;
use crate::order::MAX_AMOUNT_MINOR;
use crate::program::ConfigIssue;

/// Checks the tiers section; pushes every problem with the field it is in.
pub fn validate(
    t: &Tiers,
    activities: &[Activity],
    member_day: &MemberDay,
    early: &[EarlyAccess],
    issues: &mut Vec<ConfigIssue>,
) {
    let mut bad = |field: String, reason: String| issues.push(ConfigIssue { field, reason });
    if t.levels.is_empty() || t.levels.len() > 20 {
        bad("tiers.levels".into(), format!("holds {} tiers; expected 1 to 20", t.levels.len()));
    }
    for (name, v, lo, hi) in [
        ("term_months", t.term_months, 1, 120),
        ("warning_days", t.warning_days, 0, 365),
        ("grace_days", t.grace_days, 0, 365),
    ] {
        if let Some(reason) = out_of_range(v, lo, hi) {
            bad(format!("tiers.{name}"), reason);
        }
    }
    validate_levels(&t.levels, &mut bad);
    let codes = t.levels.iter().map(|l| l.code.as_str()).collect::<Vec<_>>().join(", ");
    let mut tier_code = |field: String, code: &str| {
        if !t.levels.iter().any(|l| l.code == code) {
            bad(field, format!("unknown tier {code:?}; expected one of {codes}"));
        }
    };
    for (i, code) in member_day.tiers.iter().enumerate() {
        tier_code(format!("member_day.tiers[{i}]"), code);
    }
    for (i, e) in early.iter().enumerate() {
        tier_code(format!("early_access[{i}].min_tier"), &e.min_tier);
    }
    for (i, e) in early.iter().enumerate() {
        if let Some(at) = e.open_to_all_at.as_ref().filter(|at| at.parse::<jiff::Timestamp>().is_err()) {
            bad(
                format!("early_access[{i}].open_to_all_at"),
                format!("{at:?} is not an RFC 3339 timestamp (such as 2026-12-01T00:00:00+08:00)"),
            );
        }
    }
    if let Some(reason) = out_of_range(member_day.day_of_month.into(), 0, 31) {
        bad("member_day.day_of_month".into(), reason);
    }
    if let Some(reason) = out_of_range(member_day.extra_percent, 1, 100) {
        bad("member_day.extra_percent".into(), reason);
    }
    validate_activities(activities, &mut bad);
}

/// Codes, thresholds and benefits of each tier.
fn validate_levels(levels: &[Level], bad: &mut impl FnMut(String, String)) {
    let mut prev_entry: Option<i64> = None;
    for (i, l) in levels.iter().enumerate() {
        let f = |n: &str| format!("tiers.levels[{i}].{n}");
        if crate::ids::MemberId::parse(&l.code).is_err() || l.code.len() > 32 {
            bad(f("code"), format!("{:?} must be 1 to 32 of [A-Za-z0-9._:-]", l.code));
        }
        if levels[..i].iter().any(|o| o.code == l.code) {
            bad(f("code"), format!("{:?} is used by an earlier tier", l.code));
        }
        let ranges = [
            ("entry", l.entry, 0, 1_000_000_000),
            ("discount_percent", l.discount_percent, 1, 100),
            ("free_samples_per_month", l.free_samples_per_month, 0, 1000),
            ("free_shipping_over_minor", l.free_shipping_over_minor.unwrap_or(0), 0, MAX_AMOUNT_MINOR),
        ];
        for (name, v, lo, hi) in ranges {
            if let Some(reason) = out_of_range(v, lo, hi) {
                bad(f(name), reason);
            }
        }
        if !l.invitation_only {
            if prev_entry.is_none() && l.entry != 0 {
                bad(f("entry"), format!("{} given; the first tier reached by growth must start at 0", l.entry));
            }
            if let Some(p) = prev_entry.filter(|p| l.entry <= *p) {
                bad(f("entry"), format!("{} overlaps the tier below (entry {p}); thresholds must increase", l.entry));
            }
            prev_entry = Some(l.entry);
        }
        if let Some(r) = l.retention.filter(|r| *r > l.entry || *r < 0) {
            bad(f("retention"), format!("{r} is out of range; expected an integer between 0 and entry ({})", l.entry));
        }
        for (j, d) in l.special_discounts.iter().enumerate() {
            let g = |n: &str| format!("tiers.levels[{i}].special_discounts[{j}].{n}");
            if let Some(reason) = out_of_range(d.percent, 1, 100) {
                bad(g("percent"), reason);
            }
            if d.category.is_none() && d.brand.is_none() {
                bad(g("category"), "required key is missing: a special discount names a category or a brand".into());
            }
            for (k, w) in d.weekdays.iter().enumerate() {
                if !(1..=7).contains(w) {
                    bad(
                        g(&format!("weekdays[{k}]")),
                        format!("{w} is not a weekday; expected 1 (Monday) to 7 (Sunday)"),
                    );
                }
            }
            for (k, date) in d.dates.iter().enumerate() {
                if parse_month_day(date).is_none() {
                    bad(
                        g(&format!("dates[{k}]")),
                        format!("{date:?} is not a date; expected MM-DD, such as \"11-11\""),
                    );
                }
            }
        }
    }
    if prev_entry.is_none() && !levels.is_empty() {
        bad("tiers.levels".into(), "every tier is invitation_only; at least one must be reachable by growth".into());
    }
}

fn validate_activities(activities: &[Activity], bad: &mut impl FnMut(String, String)) {
    for (i, a) in activities.iter().enumerate() {
        let f = |n: &str| format!("activities[{i}].{n}");
        if crate::ids::MemberId::parse(&a.kind).is_err() {
            bad(f("type"), format!("{:?} must be 1 to 128 of [A-Za-z0-9._:-]", a.kind));
        }
        if activities[..i].iter().any(|o| o.kind == a.kind) {
            bad(f("type"), format!("{:?} is used by an earlier activity", a.kind));
        }
        for (name, v, lo, hi) in
            [("growth", a.growth, 0, 1_000_000), ("points", a.points, 0, 1_000_000), ("cap", a.cap, 1, 10_000)]
        {
            if let Some(reason) = out_of_range(v, lo, hi) {
                bad(f(name), reason);
            }
        }
    }
}
