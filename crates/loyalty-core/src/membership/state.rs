//! A member's subscription: its terms, its history and its status at any instant.

use crate::ids::MemberId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

crate::config_file::named_enum! {
    /// Where a membership stands at an instant.
    pub enum Status {
        /// In a trial term.
        Trial = "trial",
        /// In a paid term that renews.
        Active = "active",
        /// In a paid term that will not renew (auto-renew off): benefits until its end.
        Cancelled = "cancelled",
        /// The term ended, its renewal is due and may still be posted: benefits continue.
        InGrace = "in_grace",
        /// No benefits: the term ended (and its grace), or it was refunded.
        Lapsed = "lapsed",
    }
}

impl Status {
    /// Whether the plan's benefits apply.
    pub fn has_benefits(self) -> bool {
        !matches!(self, Self::Lapsed)
    }
}

/// One term a member paid for (or a trial): `[starts_at, ends_at)`, cut short at `ended_at`
/// by a refund or an upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Term {
    /// The store's id of the payment (the request's idempotency key); unique within the member.
    pub term_id: String,
    pub plan: String,
    pub trial: bool,
    pub paid_minor: i64,
    pub payment_ref: String,
    /// The instant the store said the payment was made (`started_at` of the request).
    pub paid_at: Timestamp,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// Credit carried in from the term an upgrade ended.
    pub credit_minor: i64,
    /// Refunded of this term's fee, by `refund_id`.
    pub refunded_minor: i64,
    pub refund_id: Option<String>,
    /// Carried out of this term into an upgrade's new term.
    pub credited_minor: i64,
    /// When a refund or an upgrade cut the term short.
    pub ended_at: Option<Timestamp>,
    /// Monthly coupon packs issued for this term so far (pack k at `starts_at` + k months).
    pub packs_issued: i64,
    /// The member's tier and value segment (latest insight run) when the term was bought:
    /// the cell the report compares the member in.
    pub tier: String,
    pub segment: Option<String>,
    pub created_at: Timestamp,
    #[serde(skip)]
    pub dirty: bool,
}

impl Term {
    /// The instant the term stops giving benefits.
    pub fn end(&self) -> Timestamp {
        self.ended_at.map_or(self.ends_at, |e| e.min(self.ends_at))
    }

    /// The term's fee: what was paid plus what an upgrade carried in.
    pub fn fee_minor(&self) -> i64 {
        self.paid_minor + self.credit_minor
    }

    /// What may still be refunded or carried out of this term.
    pub fn fee_left_minor(&self) -> i64 {
        self.fee_minor() - self.refunded_minor - self.credited_minor
    }

    pub fn covers(&self, at: Timestamp) -> bool {
        self.starts_at <= at && at < self.end()
    }
}

crate::config_file::named_enum! {
    /// Why a membership's history has an entry.
    pub enum EventKind {
        TrialStarted = "trial_started",
        Started = "started",
        /// A paid term after a trial.
        Converted = "converted",
        Renewed = "renewed",
        Upgraded = "upgraded",
        Cancelled = "cancelled",
        Resumed = "resumed",
        Refunded = "refunded",
        Invited = "invited",
        RenewalDue = "renewal_due",
        InGrace = "in_grace",
        Lapsed = "lapsed",
        PackIssued = "pack_issued",
    }
}

/// One change of a membership, kept for good, with its cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub member_id: MemberId,
    pub seq: i64,
    pub at: Timestamp,
    pub kind: EventKind,
    pub plan: String,
    pub term_id: Option<String>,
    pub amount_minor: i64,
    /// Why, in words (the operator's reason, the figures of a refund, the coupons of a pack).
    pub detail: String,
}

/// The benefits window the member record carries, so that pricing needs no other read: the
/// plan's benefits apply to a purchase at `t` when `from <= t < until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cover {
    pub plan: String,
    pub from: Timestamp,
    pub until: Timestamp,
}

impl Cover {
    pub fn applies_at(&self, t: Timestamp) -> bool {
        self.from <= t && t < self.until
    }
}

/// A member's membership: every term, and what the scheduler has recorded of the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub member_id: MemberId,
    /// The plan of the latest term.
    pub plan: String,
    pub renews: bool,
    pub trial_used: bool,
    /// Plans operations invited the member to.
    pub invitations: Vec<String>,
    /// Every term, by start.
    pub terms: Vec<Term>,
    /// The chain end a `renewal_due`, an `in_grace` and a `lapsed` were recorded for.
    pub noticed_for: Option<Timestamp>,
    pub grace_noted_for: Option<Timestamp>,
    pub lapse_noted_for: Option<Timestamp>,
    pub next_seq: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// History entries appended since loading.
    #[serde(skip)]
    pub new_events: Vec<Event>,
    #[serde(skip)]
    pub dirty: bool,
}

/// Most terms one member may have: a monthly plan renewed for 80 years. Every loop over the
/// terms is bounded by it.
pub const MAX_TERMS: usize = 1_000;

impl Membership {
    pub fn new(member_id: MemberId, plan: &str, now: Timestamp) -> Self {
        Self {
            member_id,
            plan: plan.to_owned(),
            renews: false,
            trial_used: false,
            invitations: Vec::new(),
            terms: Vec::new(),
            noticed_for: None,
            grace_noted_for: None,
            lapse_noted_for: None,
            next_seq: 1,
            created_at: now,
            updated_at: now,
            new_events: Vec::new(),
            dirty: true,
        }
    }

    /// The terms that still count (not cut to nothing), by start.
    fn live_terms(&self) -> impl Iterator<Item = &Term> {
        self.terms.iter().filter(|t| t.end() > t.starts_at)
    }

    /// The term giving benefits at `at`.
    pub fn term_at(&self, at: Timestamp) -> Option<&Term> {
        self.live_terms().find(|t| t.covers(at))
    }

    /// The last term that counts, and so the end of the chain.
    pub fn last_term(&self) -> Option<&Term> {
        self.live_terms().max_by_key(|t| t.end())
    }

    /// Whether the chain ended in a refund: no grace follows it. (A refund cuts every term
    /// it refunds, so the last term that counts is the refunded one.)
    fn refunded(&self) -> bool {
        self.last_term().is_some_and(|t| t.refund_id.is_some())
    }

    /// The end of the benefits: the chain's end, plus the grace when it renews.
    pub fn benefits_until(&self, grace_days: i64) -> Option<Timestamp> {
        let last = self.last_term()?;
        let grace = if self.renews && !self.refunded() { grace_days * 86_400 } else { 0 };
        Some(crate::calendar::plus_secs(last.end(), grace))
    }

    pub fn status_at(&self, at: Timestamp, grace_days: i64) -> Option<Status> {
        let last = self.terms.last()?;
        if let Some(t) = self.term_at(at) {
            return Some(if t.trial {
                Status::Trial
            } else if self.renews {
                Status::Active
            } else {
                Status::Cancelled
            });
        }
        let until = self.benefits_until(grace_days).unwrap_or(last.starts_at);
        let end = self.last_term().map_or(last.starts_at, |t| t.end());
        Some(if at >= end && at < until { Status::InGrace } else { Status::Lapsed })
    }

    /// The benefits window for the member record: from the start of the chain that gives
    /// benefits now (or next), to its end with grace. `None` once nothing is left to give.
    pub fn cover(&self, grace_days: i64) -> Option<Cover> {
        let until = self.benefits_until(grace_days)?;
        // The chain: walk back from the last term over terms that meet end to start.
        let mut from = self.last_term()?.starts_at;
        let mut live: Vec<&Term> = self.live_terms().collect();
        live.sort_by_key(|t| std::cmp::Reverse(t.starts_at));
        for t in live {
            if t.end() >= from && t.starts_at < from {
                from = t.starts_at;
            }
        }
        Some(Cover { plan: self.plan.clone(), from, until })
    }

    /// Appends a history entry.
    pub(crate) fn record(&mut self, at: Timestamp, kind: EventKind, term: Option<&str>, amount: i64, detail: String) {
        self.new_events.push(Event {
            member_id: self.member_id.clone(),
            seq: self.next_seq,
            at,
            kind,
            plan: self.plan.clone(),
            term_id: term.map(str::to_owned),
            amount_minor: amount,
            detail,
        });
        self.next_seq += 1;
        self.dirty = true;
    }

    /// What must hold after every change; a broken one is a bug.
    pub fn assert_invariants(&self) {
        assert!(self.terms.len() <= MAX_TERMS, "{}: more than {MAX_TERMS} terms", self.member_id);
        assert!(self.terms.iter().filter(|t| t.trial).count() <= 1, "{}: one trial per member", self.member_id);
        let mut live: Vec<&Term> = self.live_terms().collect();
        live.sort_by_key(|t| t.starts_at);
        for w in live.windows(2) {
            assert!(
                w[0].end() <= w[1].starts_at,
                "{}: terms {} and {} overlap",
                self.member_id,
                w[0].term_id,
                w[1].term_id
            );
        }
        for t in &self.terms {
            assert!(t.fee_left_minor() >= 0, "{}: term {} gave back more than its fee", self.member_id, t.term_id);
            assert!(t.starts_at <= t.ends_at, "{}: term {} ends before it starts", self.member_id, t.term_id);
        }
    }
}
