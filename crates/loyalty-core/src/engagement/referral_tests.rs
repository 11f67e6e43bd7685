//! Unit tests of the referral rules: codes, contacts, states, the table's validation.

use super::*;

fn m(s: &str) -> MemberId {
    MemberId::parse(s).unwrap()
}

/// A code is the same every time for a member, parses back in any case, and a collision
/// moves to the member's next candidate, the same one whoever resolves it.
#[test]
fn codes_are_stable_parse_and_resolve_collisions() {
    let a = code_for(&m("alice"), 0, "s");
    assert_eq!(a, code_for(&m("alice"), 0, "s"));
    assert_ne!(a, code_for(&m("alice"), 0, "other salt"));
    assert_eq!(ReferralCode::parse("referred_by", &a.as_str().to_lowercase()).unwrap(), a);
    for bad in ["", "ABC", "ABCDEFGHJ", "ABCDEFGI", "ABCD EFG", "ÄBCDEFGH"] {
        let e = ReferralCode::parse("referred_by", bad).unwrap_err();
        assert!(e.to_string().starts_with("referred_by: "), "{e}");
    }
    let taken = a.clone();
    let picked = pick_code(&m("alice"), "s", |c| (c == &taken).then(|| m("bob"))).unwrap();
    assert_eq!(picked, code_for(&m("alice"), 1, "s"));
    assert_eq!(pick_code(&m("alice"), "s", |c| (c == &taken).then(|| m("alice"))).unwrap(), a);
    assert!(pick_code(&m("alice"), "s", |_| Some(m("bob"))).is_none());
}

/// Every bad value of `[referral]` is named by its key, the coupon's channel included.
#[test]
fn the_table_validates_by_key() {
    let bad = r#"
[referral]
enabled = true
window_days = -1
monthly_cap = 100000
referrer = { points = -5, coupon = "no such" }
invitee = { growth = 2000000 }
"#;
    let e = crate::Program::from_toml(bad).unwrap_err().to_string();
    for key in [
        "referral.window_days",
        "referral.monthly_cap",
        "referral.referrer.points",
        "referral.referrer.coupon",
        "referral.invitee.growth",
    ] {
        assert!(e.contains(key), "{key} in {e}");
    }
    let off = crate::Program::from_toml("").unwrap();
    assert!(!off.file.referral.enabled);
    assert_eq!(off.file.referral.window_days(off.file.pending_days), off.file.pending_days);
}

/// Contacts compare after normalising and are kept only as hashes.
#[test]
fn contacts_compare_normalised() {
    assert_eq!(phone_hash(Some("+86 138-0013-8000")), phone_hash(Some("8613800138000")));
    assert_eq!(email_hash(Some(" Wei@Example.COM ")), email_hash(Some("wei@example.com")));
    assert_ne!(phone_hash(Some("1")), email_hash(Some("1")));
    assert_eq!(phone_hash(Some("()")), None);
}

/// The life of a referral: pending, qualifying on the first order, cancelled by a refund
/// inside the window only, paid once due, refused over the cap.
#[test]
fn a_referral_moves_through_its_states() {
    let t = |s: i64| Timestamp::from_second(1_800_000_000 + s).unwrap();
    let (a, b) = (m("a"), m("b"));
    let inv = Invitation {
        referrer: &a,
        invitee: &b,
        invitee_existed: false,
        invitee_up_chain: false,
        referrer_contacts: (phone_hash(Some("1")), None),
        invitee_contacts: (phone_hash(Some("2")), None),
    };
    let code = code_for(&a, 0, "");
    let mut r = Referral::new(&inv, &code, t(0));
    assert_eq!((r.state, r.reason), (State::Pending, None));
    assert!(r.first_order("o1", t(10), 7) && !r.first_order("o2", t(20), 7));
    assert!(!r.refunded("o2", t(30)), "another order");
    assert!(!r.refunded("o1", t(10 + 7 * 86_400)), "after the window");
    assert!(!r.is_due(t(10 + 7 * 86_400 - 1)) && r.is_due(t(10 + 7 * 86_400)));
    let mut capped = r.clone();
    assert!(r.settle(t(7 * 86_400 + 10), 202701, 1, 2) && r.state == State::Rewarded);
    assert!(!capped.settle(t(7 * 86_400 + 10), 202701, 2, 2));
    assert_eq!((capped.state, capped.reason), (State::Refused, Some(Refusal::MonthlyCap)));
    let mut c = Referral::new(&inv, &code, t(0));
    c.first_order("o1", t(10), 7);
    assert!(c.refunded("o1", t(20)) && c.reason == Some(Refusal::FirstOrderRefunded));
    for r in [&r, &capped, &c] {
        assert_eq!(r.check(), None);
    }
    let same = Invitation { invitee_contacts: (phone_hash(Some("1")), None), ..inv };
    assert_eq!(refusal(&same), Some(Refusal::SamePhone));
    let selfie = Invitation { invitee: &a, ..same };
    assert_eq!(refusal(&selfie), Some(Refusal::SelfReferral));
}
