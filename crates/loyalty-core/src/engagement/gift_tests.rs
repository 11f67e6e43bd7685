//! The gift rules: the scheduler's `MM-DD` ranges admit exactly the birthdays the writer's
//! `birthday_due` does, with the same period, on every day of two years; the member day; the
//! birthday change limit.

use super::gifts::*;
use crate::tiers::{Birthday, MemberDay};
use jiff::civil::{date, Date};
use jiff::{Timestamp, ToSpan};

fn every_day(from: Date, to: Date) -> impl Iterator<Item = Date> {
    std::iter::successors(Some(from), move |d| d.tomorrow().ok().filter(|n| *n <= to))
}

fn settings(when: GiftWhen, days_before: i64) -> Birthday {
    Birthday { gift: Some("bday".into()), gift_when: when, days_before, ..Default::default() }
}

/// The ranges the scheduler reads are the writer's rule: a birthday in a range on a day is due
/// that day for the range's period, and no other birthday is.
#[test]
fn the_schedulers_ranges_admit_exactly_the_birthdays_due() {
    let birthdays: Vec<Date> =
        every_day(date(1996, 1, 1), date(1996, 12, 31)).step_by(3).chain([date(1996, 2, 29)]).collect();
    for b in
        [settings(GiftWhen::BeforeMonth, 7), settings(GiftWhen::BeforeMonth, 60), settings(GiftWhen::OnBirthday, 0)]
    {
        for today in every_day(date(2026, 1, 1), date(2027, 12, 31)) {
            let ranges = birthday_ranges(&b, today);
            for bd in &birthdays {
                let md = format!("{:02}-{:02}", bd.month(), bd.day());
                let by_range = ranges.iter().find(|(f, t, _)| *f <= md && md <= *t).map(|(_, _, p)| p.clone());
                assert_eq!(by_range, birthday_due(&b, *bd, today), "{b:?} {today} {bd}");
            }
        }
    }
}

#[test]
fn the_window_opens_n_days_before_the_month_or_on_the_birthday_and_ends_with_the_month() {
    let before = settings(GiftWhen::BeforeMonth, 7);
    assert_eq!(birthday_window(&before, date(1990, 12, 20), 2026), Some((date(2026, 11, 24), date(2026, 12, 31))));
    assert_eq!(birthday_due(&before, date(1990, 1, 5), date(2026, 12, 25)).as_deref(), Some("2027"));
    assert_eq!(birthday_due(&before, date(1990, 1, 5), date(2026, 12, 24)), None);
    let on = settings(GiftWhen::OnBirthday, 0);
    assert_eq!(birthday_window(&on, date(1996, 2, 29), 2027), Some((date(2027, 2, 28), date(2027, 2, 28))));
    assert_eq!(birthday_due(&on, date(1990, 5, 20), date(2026, 6, 1)), None, "May is over");
    assert_eq!(birthday_due(&Birthday::default(), date(1990, 5, 20), date(2026, 5, 20)), None, "no gift set");
}

#[test]
fn a_member_day_pack_is_due_from_the_day_to_the_months_end_for_its_tiers() {
    let md = MemberDay {
        day_of_month: 31,
        tiers: vec!["gold".into()],
        pack: vec![PackItem { template: "md".into(), count: 1 }],
        ..Default::default()
    };
    assert_eq!(
        member_day_due(&md, "gold", date(2026, 4, 30)).as_deref(),
        Some("2026-04"),
        "30 April stands for the 31st"
    );
    assert_eq!(member_day_due(&md, "gold", date(2026, 5, 30)), None);
    assert_eq!(member_day_due(&md, "base", date(2026, 5, 31)), None, "not a chosen tier");
    assert_eq!(member_day_period(&md, date(2026, 5, 31)).as_deref(), Some("2026-05"));
    assert!(valid_period(GiftKind::MemberDay, "2026-05") && !valid_period(GiftKind::MemberDay, "2026-13"));
    assert!(valid_period(GiftKind::Birthday, "2026") && !valid_period(GiftKind::Birthday, "26"));
}

#[test]
fn a_set_birthday_changes_once_in_365_days() {
    let t0: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
    let (a, b) = (date(1990, 3, 1), date(1990, 4, 1));
    assert_eq!(birthday_change(None, None, a, t0), Ok(false), "the first time is free");
    assert_eq!(birthday_change(Some(a), None, a, t0), Ok(false), "the same date is no change");
    assert_eq!(birthday_change(Some(a), None, b, t0), Ok(true));
    let soon = t0.checked_add(364.hours() * 24).unwrap();
    assert!(birthday_change(Some(b), Some(t0), a, soon).is_err());
    let later = t0.checked_add(365.hours() * 24).unwrap();
    assert_eq!(birthday_change(Some(b), Some(t0), a, later), Ok(true));
}
