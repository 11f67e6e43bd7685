use super::*;
use crate::ids::MemberId;
use crate::DomainError;
use jiff::civil::{date, Date};
use jiff::Timestamp;

fn settings() -> CheckinSettings {
    crate::Program::from_toml(
        r#"
[checkin]
points = 5
growth = 1
cycle = true
milestones = [{ day = 3, points = 10 }, { day = 7, points = 50, growth = 5, coupon = "c7" }]
[checkin.makeup]
days = 7
per_month = 2
cost_points = 20
"#,
    )
    .unwrap()
    .file
    .checkin
}

fn cal() -> Calendar {
    Calendar::new(MemberId::parse("m").unwrap(), date(2026, 1, 1), [])
}

fn at() -> Timestamp {
    "2026-12-01T00:00:00Z".parse().unwrap()
}

fn day(n: i8) -> Date {
    date(2026, 12, n)
}

fn code(e: DomainError) -> &'static str {
    match e {
        DomainError::Checkin { code, .. } => code,
        DomainError::Unprocessable { .. } => "unprocessable",
        other => panic!("{other:?}"),
    }
}

#[test]
fn seven_days_pay_the_milestones_and_the_cycle_starts_again() {
    let s = settings();
    let mut c = cal();
    let points: Vec<i64> = (1..=14).map(|n| c.check_in(&s, day(n), at()).unwrap().points).collect();
    assert_eq!(points, [5, 5, 15, 5, 5, 5, 55, 5, 5, 15, 5, 5, 5, 55]);
    assert_eq!(c.current_streak(day(14)), 14);
    assert_eq!(c.days[&day(7)].milestones, [7]);
    assert_eq!(s.next_milestone(14).map(|(d, m)| (d, m.day)), Some((17, 3)));
    assert_eq!(s.next_milestone(4).map(|(d, m)| (d, m.day)), Some((7, 7)));
    assert_eq!(s.next_milestone(0).map(|(d, m)| (d, m.day)), Some((3, 3)));
}

#[test]
fn a_second_check_in_the_same_day_is_refused_and_a_gap_restarts_the_streak() {
    let s = settings();
    let mut c = cal();
    c.check_in(&s, day(1), at()).unwrap();
    assert_eq!(code(c.check_in(&s, day(1), at()).unwrap_err()), "already_checked_in");
    c.check_in(&s, day(2), at()).unwrap();
    c.check_in(&s, day(4), at()).unwrap();
    assert_eq!(c.streak_on(day(4)), 1);
    assert_eq!(c.current_streak(day(5)), 1, "alive until today ends");
    assert_eq!(c.current_streak(day(6)), 0);
    assert!(c.check().is_empty());
}

#[test]
fn a_make_up_mends_the_streak_and_pays_the_milestone_the_joined_run_reaches() {
    let s = settings();
    let mut c = cal();
    for n in [1, 2, 3, 5, 6, 7] {
        c.check_in(&s, day(n), at()).unwrap();
    }
    // Days 1–3 paid the day-3 milestone; 5–7 are a run of 3 that paid it again.
    assert_eq!(c.days[&day(7)].milestones, [3]);
    let r = c.make_up(&s, (day(4), day(7)), &MakeupPay::Points, at()).unwrap();
    // Joined, the week pays day 3 once and day 7 once (a 7-day cycle); the parts paid day 3
    // twice, which stays paid, so only day 7 is owed.
    assert_eq!(
        (r.points, r.growth, r.milestones.clone(), r.coupons.clone(), r.cost_points),
        (55, 6, vec![7], vec!["c7".to_owned()], 20)
    );
    assert_eq!(c.current_streak(day(7)), 7);
    assert!(c.check().is_empty(), "{:?}", c.check());
    assert_eq!(c.makeups_left(&s, day(7)), 1);
}

#[test]
fn make_ups_are_bounded_by_window_month_and_day() {
    let s = settings();
    let mut c = cal();
    c.check_in(&s, day(10), at()).unwrap();
    let today = day(10);
    assert_eq!(code(c.make_up(&s, (day(10), today), &MakeupPay::Points, at()).unwrap_err()), "unprocessable");
    assert_eq!(code(c.make_up(&s, (day(2), today), &MakeupPay::Points, at()).unwrap_err()), "unprocessable");
    c.make_up(&s, (day(9), today), &MakeupPay::Card("card-1".into()), at()).unwrap();
    assert_eq!((c.days[&day(9)].cost_points, c.days[&day(9)].card.as_deref()), (0, Some("card-1")));
    assert_eq!(code(c.make_up(&s, (day(9), today), &MakeupPay::Points, at()).unwrap_err()), "already_checked_in");
    c.make_up(&s, (day(8), today), &MakeupPay::Points, at()).unwrap();
    assert_eq!(code(c.make_up(&s, (day(7), today), &MakeupPay::Points, at()).unwrap_err()), "makeup_limit_reached");
    assert_eq!(c.streak_on(day(10)), 3);
}

#[test]
fn mended_runs_never_pay_less_than_a_run_checked_in_day_by_day() {
    // Every set of check-ins in a fortnight, then every missing day made up, latest or
    // earliest first (limits lifted): each milestone is paid at least as often as in fourteen
    // straight days, and at most once more per run the gaps made.
    let mut s = settings();
    s.makeup.days = 31;
    s.makeup.per_month = 31;
    let straight: Vec<i64> = {
        let mut c = cal();
        (1..=14).flat_map(|n| c.check_in(&s, day(n), at()).unwrap().milestones).collect()
    };
    for mask in 0_u32..(1 << 14) {
        let mut c = cal();
        let mut paid = Vec::new();
        for n in 1..=14 {
            if mask & (1 << (n - 1)) != 0 {
                paid.extend(c.check_in(&s, day(n), at()).unwrap().milestones);
            }
        }
        let missing: Vec<i8> = (1..=14).filter(|n| mask & (1 << (n - 1)) == 0).collect();
        // Made up latest first or earliest first, by the mask's parity.
        let order: Vec<i8> = if mask % 2 == 0 { missing.iter().rev().copied().collect() } else { missing };
        let today = day(15);
        for n in &order {
            paid.extend(c.make_up(&s, (day(*n), today), &MakeupPay::Points, at()).unwrap().milestones);
        }
        let runs = 1 + (1..14).filter(|n| mask & (1 << (n - 1)) != 0 && mask & (1 << n) == 0).count();
        for m in [3, 7] {
            let (got, want) = (paid.iter().filter(|&&d| d == m).count(), straight.iter().filter(|&&d| d == m).count());
            assert!(got >= want && got <= want + runs, "mask {mask:b}: milestone {m} paid {got}, straight {want}");
        }
        assert!(c.check().is_empty());
    }
}

#[test]
fn check_in_settings_are_checked_by_key() {
    let err = crate::Program::from_toml(
        "[checkin]\npoints = -1\nmilestones = [{ day = 7 }, { day = 3, coupon = \"bad id!\" }]\n[checkin.makeup]\ndays = 40\n",
    )
    .unwrap_err();
    let fields: Vec<&str> = err.0.iter().map(|i| i.field.as_str()).collect();
    assert_eq!(
        fields,
        ["checkin.milestones[1].day", "checkin.milestones[1].coupon", "checkin.points", "checkin.makeup.days"],
        "{err:?}"
    );
}
