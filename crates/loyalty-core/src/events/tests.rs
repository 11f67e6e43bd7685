use super::*;
use crate::amount::Points;
use crate::ledger::SourceKind;
use crate::{Account, Program};
use jiff::civil::date;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// One payload of every shape, as the deriver makes them.
fn samples() -> Vec<Payload> {
    let t = at("2026-11-08T12:00:00Z");
    vec![
        Payload::MemberCreated(MemberCreated { v: V1 }),
        Payload::MemberUpdated(MemberUpdated {
            v: V1,
            fields: vec!["name".into()],
            status: "active".into(),
            erased: false,
        }),
        Payload::OrderPlaced(OrderPlaced {
            v: V1,
            order_id: "o-1".into(),
            points: 123,
            points_status: "pending".into(),
            activates_at: Some(t),
        }),
        Payload::OrderRefunded(OrderRefunded {
            v: V1,
            order_id: "o-1".into(),
            refund_id: "r-1".into(),
            amount_minor: 500,
            points_clawed_back: 5,
        }),
        Payload::PointsEarned(PointsEarned {
            v: V1,
            entry_seq: 4,
            source: "checkin".into(),
            source_id: "checkin/2026-11-08".into(),
            points: 10,
            points_status: "active".into(),
            activates_at: None,
        }),
        Payload::PointsMoved(PointsMoved {
            v: V1,
            entry_seq: 5,
            source: "hold".into(),
            source_id: "h1".into(),
            points: 100,
        }),
        Payload::PointsTotal(PointsTotal { v: V1, first_entry_seq: 6, points: 300, lots: 2 }),
        Payload::PointsExpiring(PointsExpiring {
            v: V1,
            day: date(2026, 11, 8),
            points: 300,
            lots: 2,
            earliest_expires_at: t,
            within_days: 7,
        }),
        Payload::TierChanged(TierChanged {
            v: V1,
            tier_seq: 2,
            from: Some("normal".into()),
            to: "silver".into(),
            cause: "growth".into(),
            growth_in_window: 1200,
            growth_needed: None,
            deadline: None,
        }),
        Payload::CouponIssued(CouponIssued {
            v: V1,
            coupon_id: "c1".into(),
            template_id: "t1".into(),
            channel: "api".into(),
            valid_until: t,
        }),
        Payload::CouponUsed(CouponUsed {
            v: V1,
            coupon_id: "c1".into(),
            template_id: "t1".into(),
            version: 1,
            order_id: Some("o-1".into()),
        }),
        Payload::CheckinMilestone(CheckinMilestone {
            v: V1,
            day: date(2026, 11, 8),
            streak: 7,
            milestones: vec![7],
            points: 60,
        }),
        Payload::TaskCompleted(TaskCompleted {
            v: V1,
            task_id: "buy3".into(),
            period: "2026-11".into(),
            points: 200,
            growth: 0,
            coupon_id: None,
        }),
        Payload::ReferralRewarded(ReferralRewarded {
            v: V1,
            role: "referrer".into(),
            referrer_id: "a".into(),
            invitee_id: "b".into(),
            points: 100,
            growth: 0,
            coupon_id: None,
        }),
        Payload::MembershipChanged(MembershipChanged {
            v: V1,
            history_seq: 1,
            plan: "plus".into(),
            term_id: Some("p1".into()),
            amount_minor: 9900,
        }),
    ]
}

/// Every payload reads back from its stored form as it was, and that form is the values
/// alone; the API form names the fields and starts with `"v":1`.
#[test]
fn every_payload_reads_back_from_its_stored_form() {
    for p in samples() {
        let stored = p.stored();
        assert!(stored == "[1]" || stored.starts_with("[1,"), "{stored}");
        assert_eq!(Payload::from_stored(p.shape(), &stored).unwrap(), p, "{stored}");
        let api = serde_json::to_value(&p).unwrap();
        assert_eq!(api["v"], 1, "{api}");
    }
    let placed = &samples()[2];
    assert_eq!(placed.stored(), r#"[1,"o-1",123,"pending","2026-11-08T12:00:00Z"]"#);
    assert!(Payload::from_stored(Shape::OrderPlaced, r#"[2,"o-1",123,"pending",null]"#).is_err(), "version 2");
}

/// Names and codes are unique, each type maps back from both, and a type's payload is the
/// one it names; only campaign.message is reserved.
#[test]
fn types_have_unique_names_and_codes() {
    let mut names: Vec<_> = EventType::ALL.iter().map(|t| t.name()).collect();
    let mut codes: Vec<_> = EventType::ALL.iter().map(|t| t.code()).collect();
    names.sort();
    names.dedup();
    codes.sort();
    codes.dedup();
    assert_eq!((names.len(), codes.len()), (EventType::ALL.len(), EventType::ALL.len()));
    for t in EventType::ALL {
        assert_eq!(EventType::from_name(t.name()), Some(*t));
        assert_eq!(EventType::from_code(t.code()), Some(*t));
    }
    let reserved: Vec<_> = EventType::ALL.iter().filter(|t| t.is_reserved()).map(|t| t.name()).collect();
    assert_eq!(reserved, ["campaign.message"]);
    for kind in <crate::membership::EventKind as crate::config_file::Named>::ALL {
        assert!(EventType::of_membership(*kind).name().starts_with("membership."));
    }
}

/// An id depends on the type, the member and the cause's key only: derived again it is the
/// same, and another order, member or type gives another.
#[test]
fn ids_are_derived_from_the_cause() {
    let m = |id: &str| MemberId::parse(id).unwrap();
    let placed = samples()[2].clone();
    let e = Event::new(EventType::OrderPlaced, m("alice"), at("2026-11-01T12:00:00Z"), placed.clone());
    let again = Event::new(EventType::OrderPlaced, m("alice"), at("2026-11-01T12:00:00Z"), placed.clone());
    assert_eq!(e.id(), again.id());
    assert!(e.id().starts_with("evt_") && e.id().len() == 36, "{}", e.id());
    let other = Event::new(EventType::OrderPlaced, m("bob"), e.occurred_at, placed);
    assert_ne!(e.id(), other.id());
    let total = Payload::PointsTotal(PointsTotal { v: V1, first_entry_seq: 6, points: 1, lots: 1 });
    let activated = Event::new(EventType::PointsActivated, m("alice"), e.occurred_at, total.clone());
    let expired = Event::new(EventType::PointsExpired, m("alice"), e.occurred_at, total);
    assert_ne!(activated.id(), expired.id());
}

#[test]
#[should_panic(expected = "carries another payload")]
fn a_type_with_another_payload_is_a_bug() {
    Event::new(
        EventType::OrderRefunded,
        MemberId::parse("a").unwrap(),
        at("2026-11-01T12:00:00Z"),
        samples()[2].clone(),
    );
}

/// One notice a local day, summing every lot expiring after now and within the window;
/// nothing when none does, or when the member was told today already.
#[test]
fn the_expiring_notice_sums_the_window_once_a_day() {
    let p = Program::from_toml("[expiry]\npolicy = \"rolling\"\ndays = 30\n[events]\nexpiring_days = 7\n").unwrap();
    let mut acc = Account::new(MemberId::parse("m").unwrap());
    let now = at("2026-11-20T02:00:00Z");
    // Active at once, expiring 30 days later: 2026-11-25, 2026-11-26 and 2026-12-20.
    acc.earn_now(&p, (SourceKind::Checkin, "a"), Points::new(100), at("2026-10-26T00:00:00Z"));
    acc.earn_now(&p, (SourceKind::Checkin, "b"), Points::new(50), at("2026-10-27T00:00:00Z"));
    acc.earn_now(&p, (SourceKind::Checkin, "c"), Points::new(70), at("2026-11-20T00:00:00Z"));
    acc.advance(now);
    let n = expiring_notice(&acc, &p, now, None).unwrap();
    assert_eq!((n.points, n.lots, n.within_days), (150, 2, 7));
    assert_eq!(n.earliest_expires_at, at("2026-11-25T00:00:00Z"));
    assert_eq!(n.day, date(2026, 11, 20), "the local day in Asia/Shanghai");
    assert!(expiring_notice(&acc, &p, now, Some(date(2026, 11, 20))).is_none(), "told today");
    assert!(expiring_notice(&acc, &p, now, Some(date(2026, 11, 19))).is_some(), "told yesterday");
    let later = at("2026-12-01T00:00:00Z");
    acc.advance(later);
    assert!(expiring_notice(&acc, &p, later, None).is_none(), "nothing within 7 days");
}

#[test]
fn expiring_days_is_bounded_by_its_key() {
    for bad in ["0", "91", "-1"] {
        let err = Program::from_toml(&format!("[events]\nexpiring_days = {bad}\n")).unwrap_err();
        assert_eq!(err.0[0].field, "events.expiring_days", "{bad}");
    }
    let err = Program::from_toml("[events]\nexpiring = 3\n").unwrap_err();
    assert!(err.0[0].field.starts_with("events"), "{:?}", err.0);
    assert_eq!(Program::default_program().file.events.expiring_days, 7);
}
