//! Referral (邀请有礼): the `[referral]` table, members' referral codes, and the rules of one
//! referral from the invitation to its reward. Pure: the engine passes the profiles, what the
//! store already knows of the invitee and `now`.
//!
//! A referral's life: `pending` (the invitee registered with the referrer's code) →
//! `qualifying` (the invitee's first order is recorded; due at its `paid_at` + the window) →
//! `rewarded` (both sides paid by the scheduler once due), or `cancelled` (a refund of the first
//! order inside the window), or `refused` (an abuse rule, at the invitation or, for the monthly
//! cap, when it would be paid). Every refusal keeps its reason on the row.

use crate::config_file::{out_of_range, ConfigIssue};
use crate::ids::MemberId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use super::referral_code::*;

const MAX_REWARD_POINTS: i64 = 1_000_000;
/// The longest return window a programme may set, and the highest monthly cap.
pub const MAX_WINDOW_DAYS: i64 = 365;
pub const MAX_MONTHLY_CAP: i64 = 10_000;
/// How far up the chain of inviters a `loop` is looked for.
pub const MAX_CHAIN: usize = 16;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReferralSettings {
    /// Off: `referred_by` is refused with a 422 and the scheduler pays nothing.
    pub enabled: bool,
    /// Days after the first order's `paid_at` before the referral pays; unset, the programme's
    /// `pending_days` (the return window that already holds order points pending).
    pub window_days: Option<i64>,
    pub referrer: Side,
    pub invitee: Side,
    /// Rewarded invitees per referrer per local calendar month (of the payment); 0 = no cap.
    pub monthly_cap: i64,
    /// Mixed into every code's hash so that codes cannot be computed from member ids by anyone
    /// who read this source. Changing it changes no code already given (codes are stored).
    pub code_salt: String,
}

/// What one side of a referral is given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Side {
    pub points: i64,
    pub growth: i64,
    /// A coupon template (channel `engagement`).
    pub coupon: Option<String>,
}

impl Default for ReferralSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            window_days: None,
            referrer: Side { points: 200, growth: 0, coupon: None },
            invitee: Side { points: 100, growth: 0, coupon: None },
            monthly_cap: 20,
            code_salt: String::new(),
        }
    }
}

impl ReferralSettings {
    pub fn window_days(&self, pending_days: i64) -> i64 {
        self.window_days.unwrap_or(pending_days)
    }
}

/// Checks `[referral]`, every problem by its key (`referral.referrer.points`).
pub(crate) fn validate(s: &ReferralSettings, issues: &mut Vec<ConfigIssue>) {
    let mut ranges = vec![("referral.monthly_cap".to_owned(), s.monthly_cap, 0, MAX_MONTHLY_CAP)];
    if let Some(w) = s.window_days {
        ranges.push(("referral.window_days".into(), w, 0, MAX_WINDOW_DAYS));
    }
    for (name, side) in [("referrer", &s.referrer), ("invitee", &s.invitee)] {
        ranges.push((format!("referral.{name}.points"), side.points, 0, MAX_REWARD_POINTS));
        ranges.push((format!("referral.{name}.growth"), side.growth, 0, MAX_REWARD_POINTS));
        if let Some(t) = &side.coupon {
            if crate::ids::TemplateId::parse(t).is_err() {
                issues.push(ConfigIssue {
                    field: format!("referral.{name}.coupon"),
                    reason: format!("{t:?} is not a template id"),
                });
            }
        }
    }
    if s.code_salt.len() > 256 {
        issues.push(ConfigIssue { field: "referral.code_salt".into(), reason: "holds more than 256 bytes".into() });
    }
    for (field, v, lo, hi) in ranges {
        if let Some(reason) = out_of_range(v, lo, hi) {
            issues.push(ConfigIssue { field, reason });
        }
    }
}

/// Why an invitation or a reward was refused (or a referral cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    SelfReferral,
    SamePhone,
    SameEmail,
    InviteeExisted,
    Loop,
    MonthlyCap,
    FirstOrderRefunded,
}

impl Refusal {
    pub const ALL: [Self; 7] = [
        Self::SelfReferral,
        Self::SamePhone,
        Self::SameEmail,
        Self::InviteeExisted,
        Self::Loop,
        Self::MonthlyCap,
        Self::FirstOrderRefunded,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SelfReferral => "self_referral",
            Self::SamePhone => "same_phone",
            Self::SameEmail => "same_email",
            Self::InviteeExisted => "invitee_existed",
            Self::Loop => "loop",
            Self::MonthlyCap => "monthly_cap",
            Self::FirstOrderRefunded => "first_order_refunded",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Qualifying,
    Rewarded,
    Cancelled,
    Refused,
}

impl State {
    pub const ALL: [Self; 5] = [Self::Pending, Self::Qualifying, Self::Rewarded, Self::Cancelled, Self::Refused];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Qualifying => "qualifying",
            Self::Rewarded => "rewarded",
            Self::Cancelled => "cancelled",
            Self::Refused => "refused",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
    /// Whether the referral still counts as the invitee's one referral.
    pub fn is_live(self) -> bool {
        self != Self::Refused
    }
}

/// What one side was given: recorded on the referral row when it pays.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Given {
    pub points: i64,
    pub growth: i64,
    pub coupon: Option<String>,
}

/// One referral (or one refused attempt), keyed by referrer and invitee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Referral {
    pub referrer_id: MemberId,
    pub invitee_id: MemberId,
    pub code: String,
    pub state: State,
    pub reason: Option<Refusal>,
    pub created_at: Timestamp,
    /// SHA-256 of the invitee's normalised phone and email when invited: compared, never shown.
    #[serde(skip)]
    pub phone_hash: Option<String>,
    #[serde(skip)]
    pub email_hash: Option<String>,
    pub first_order_id: Option<String>,
    pub ordered_at: Option<Timestamp>,
    pub due_at: Option<Timestamp>,
    pub settled_at: Option<Timestamp>,
    /// The local month (202612) it was rewarded or refused for the cap in: what the cap counts.
    pub settled_month: Option<i64>,
    pub referrer_given: Given,
    pub invitee_given: Given,
}

/// Digits only: `+86 138-0013-8000` and `8613800138000` are one phone.
pub fn normalise_phone(raw: &str) -> Option<String> {
    let d: String = raw.chars().filter(char::is_ascii_digit).collect();
    (!d.is_empty()).then_some(d)
}

pub fn normalise_email(raw: &str) -> Option<String> {
    let e = raw.trim().to_lowercase();
    (!e.is_empty()).then_some(e)
}

/// Hex SHA-256 of a normalised contact: what a referral row keeps.
pub fn contact_hash(kind: &str, normalised: &str) -> String {
    let d =
        Sha256::new().chain_update(kind.as_bytes()).chain_update(b"\0").chain_update(normalised.as_bytes()).finalize();
    d.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn phone_hash(p: Option<&str>) -> Option<String> {
    p.and_then(normalise_phone).map(|p| contact_hash("phone", &p))
}

pub fn email_hash(e: Option<&str>) -> Option<String> {
    e.and_then(normalise_email).map(|e| contact_hash("email", &e))
}

/// What the engine knows when a member is registered with someone's code.
pub struct Invitation<'a> {
    pub referrer: &'a MemberId,
    pub invitee: &'a MemberId,
    /// The invitee existed before this request (so could not be a new customer).
    pub invitee_existed: bool,
    /// The invitee is the referrer's inviter, or an inviter of one up the chain.
    pub invitee_up_chain: bool,
    pub referrer_contacts: (Option<String>, Option<String>),
    pub invitee_contacts: (Option<String>, Option<String>),
}

/// Why the invitation is refused, if it is, the most specific reason first.
pub fn refusal(i: &Invitation) -> Option<Refusal> {
    let same = |a: &Option<String>, b: &Option<String>| a.is_some() && a == b;
    if i.referrer == i.invitee {
        Some(Refusal::SelfReferral)
    } else if i.invitee_up_chain {
        Some(Refusal::Loop)
    } else if i.invitee_existed {
        Some(Refusal::InviteeExisted)
    } else if same(&i.referrer_contacts.0, &i.invitee_contacts.0) {
        Some(Refusal::SamePhone)
    } else if same(&i.referrer_contacts.1, &i.invitee_contacts.1) {
        Some(Refusal::SameEmail)
    } else {
        None
    }
}

impl Referral {
    /// A new invitation, pending or refused for `why`.
    pub fn new(i: &Invitation, code: &ReferralCode, now: Timestamp) -> Self {
        let reason = refusal(i);
        Self {
            referrer_id: i.referrer.clone(),
            invitee_id: i.invitee.clone(),
            code: code.to_string(),
            state: if reason.is_some() { State::Refused } else { State::Pending },
            reason,
            created_at: now,
            phone_hash: i.invitee_contacts.0.clone(),
            email_hash: i.invitee_contacts.1.clone(),
            first_order_id: None,
            ordered_at: None,
            due_at: None,
            settled_at: None,
            settled_month: None,
            referrer_given: Given::default(),
            invitee_given: Given::default(),
        }
    }

    /// The invitee's first order: a pending referral starts qualifying, due `window_days` after
    /// the order was paid. Whether it changed.
    pub fn first_order(&mut self, order: &str, paid_at: Timestamp, window_days: i64) -> bool {
        if self.state != State::Pending {
            return false;
        }
        self.state = State::Qualifying;
        self.first_order_id = Some(order.to_owned());
        self.ordered_at = Some(paid_at);
        self.due_at = Some(crate::calendar::plus_secs(paid_at, window_days * 86_400));
        true
    }

    /// A refund of `order` at `at`: any refund, whole or in part, of the first order before the
    /// referral is due cancels it (a partial return is the cheapest way to farm a reward).
    pub fn refunded(&mut self, order: &str, at: Timestamp) -> bool {
        let inside = self.due_at.is_some_and(|d| at < d);
        if self.state != State::Qualifying || self.first_order_id.as_deref() != Some(order) || !inside {
            return false;
        }
        self.state = State::Cancelled;
        self.reason = Some(Refusal::FirstOrderRefunded);
        true
    }

    pub fn is_due(&self, now: Timestamp) -> bool {
        self.state == State::Qualifying && self.due_at.is_some_and(|d| d <= now)
    }

    /// Decides a due referral at `now` in local month `month`: refused for the cap when the
    /// referrer already has `rewarded_this_month` ≥ `cap` (0 = none), else rewarded (the
    /// caller records what each side was given). Whether it pays.
    pub fn settle(&mut self, now: Timestamp, month: i64, rewarded_this_month: i64, cap: i64) -> bool {
        assert!(self.is_due(now), "only a due referral is settled");
        self.settled_at = Some(now);
        self.settled_month = Some(month);
        if cap > 0 && rewarded_this_month >= cap {
            self.state = State::Refused;
            self.reason = Some(Refusal::MonthlyCap);
            return false;
        }
        self.state = State::Rewarded;
        true
    }

    /// What `verify` and the store hold of every row: the fields each state must have.
    pub fn check(&self) -> Option<String> {
        let ok = match self.state {
            State::Pending => self.first_order_id.is_none() && self.reason.is_none(),
            State::Qualifying => self.due_at.is_some() && self.reason.is_none(),
            State::Rewarded => self.settled_at.is_some() && self.reason.is_none(),
            State::Cancelled => self.reason == Some(Refusal::FirstOrderRefunded),
            State::Refused => self.reason.is_some(),
        };
        (!ok).then(|| {
            format!(
                "referral {}/{}: state {} with reason {:?}",
                self.invitee_id,
                self.referrer_id,
                self.state.as_str(),
                self.reason.map(Refusal::as_str)
            )
        })
    }
}

/// The local calendar month of `at` as YYYYMM (202612): what the monthly cap counts in.
pub fn local_month(program: &crate::Program, at: Timestamp) -> i64 {
    let d = super::local_day(program, at);
    i64::from(d.year()) * 100 + i64::from(d.month())
}

/// A YYYYMM month as shown: `2026-12`.
pub fn month_text(month: i64) -> String {
    format!("{:04}-{:02}", month / 100, month % 100)
}

#[cfg(test)]
#[path = "referral_tests.rs"]
mod tests;
