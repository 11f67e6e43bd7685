//! Coupons on a cart: which apply and why not, what each takes off which line, and the best
//! combination the stacking rules allow. Pure, and the same for `checkout/evaluate` and for
//! the order that follows it, so the two agree to the fen.
//!
//! The rules, in the order they run:
//! - A coupon applies when it is usable at the instant (not used, valid), and its eligible
//!   goods — the lines its scope admits, at member price — reach its threshold.
//! - Coupons stack only when every coupon of the order is `stackable`, and never two of one
//!   kind; a coupon refused for stacking says which coupon it collides with.
//! - Discounts run by kind, amount off before percent off, each on what the coupons before it
//!   left of its eligible lines (thresholds are always on member price).
//! - A coupon's discount is spread over its eligible lines in proportion to what is left of
//!   each, rounded down; the fen left over go to the largest line first (then the next largest),
//!   so the lines' shares add up to the discount exactly.

use super::coupon::Coupon;
use super::template::{Benefit, Template};
use jiff::Timestamp;
use serde::Serialize;

/// Most coupons one cart may name.
pub const MAX_COUPONS_PER_CART: usize = 20;
/// Most coupons `best_coupons` weighs (the soonest to expire first).
pub const MAX_CANDIDATES: usize = 200;
/// Stackable coupons of one kind `best_coupons` tries in combinations (the most valuable).
const BEST_PER_KIND: usize = 4;

/// A line as coupons see it.
#[derive(Debug, Clone)]
pub struct CartGoods<'a> {
    pub sku: &'a str,
    pub category: Option<&'a str>,
    pub brand: Option<&'a str>,
    /// The line's member price.
    pub price: i64,
}

/// What one coupon did to the cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CouponResult {
    pub coupon_id: String,
    pub template_id: String,
    pub kind: String,
    pub applied: bool,
    /// Why it did not apply: `used`, `reserved` (for another order), `not_valid_yet`, `expired`, `no_eligible_goods`,
    /// `below_threshold`, `not_stackable`, `one_per_kind`; absent when applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
    /// In words: what it gave, or why it did not apply.
    pub reason: String,
    /// For `below_threshold`: how much more eligible goods it needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_minor: Option<i64>,
    /// Eligible goods at member price.
    pub eligible_minor: i64,
    /// Taken off the goods.
    pub discount_minor: i64,
    /// Shipping it waived (free-shipping coupons).
    pub shipping_waived_minor: i64,
    /// The gift SKU it adds at price 0 (gift coupons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gift_sku: Option<String>,
}

/// What a set of coupons did to a cart.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// In the order the coupons were named.
    pub results: Vec<CouponResult>,
    /// What the coupons took off each line, in cart order.
    pub line_discounts: Vec<i64>,
    pub shipping_waived: bool,
    /// The points multiplier coupon that applied (percent) and which lines it counts.
    pub multiplier: Option<(i64, Vec<bool>)>,
    /// False when an applied coupon forbids redeeming points on the order.
    pub allow_points: bool,
}

impl Applied {
    pub fn discount_minor(&self) -> i64 {
        self.line_discounts.iter().sum()
    }
    /// The money the coupons save the member: goods discounts and shipping waived.
    pub fn savings(&self, shipping_minor: i64) -> i64 {
        self.discount_minor() + if self.shipping_waived { shipping_minor } else { 0 }
    }
    pub fn applied(&self) -> impl Iterator<Item = &CouponResult> {
        self.results.iter().filter(|r| r.applied)
    }
}

fn kind_rank(b: &Benefit) -> u8 {
    match b {
        Benefit::AmountOff { .. } => 0,
        Benefit::PercentOff { .. } => 1,
        Benefit::FreeShipping { .. } => 2,
        Benefit::PointsMultiplier { .. } => 3,
        Benefit::Gift { .. } => 4,
    }
}

fn refused(c: &Coupon, t: &Template, why: &str, reason: String, eligible: i64) -> CouponResult {
    CouponResult {
        coupon_id: c.coupon_id.to_string(),
        template_id: t.id.to_string(),
        kind: t.terms.benefit.kind().to_owned(),
        applied: false,
        why_not: Some(why.to_owned()),
        reason,
        short_minor: None,
        eligible_minor: eligible,
        discount_minor: 0,
        shipping_waived_minor: 0,
        gift_sku: None,
    }
}

/// Spreads `discount` over `left` (what is left of each eligible line; 0 for lines out of
/// scope) as the module's rule says, taking the shares off `left`; the shares.
fn spread(left: &mut [i64], discount: i64) -> Vec<i64> {
    let total: i64 = left.iter().sum();
    assert!(discount <= total, "a discount never exceeds what is left of its lines");
    let mut shares: Vec<i64> = left
        .iter()
        .map(|&l| {
            if total == 0 {
                0
            } else {
                i64::try_from(i128::from(discount) * i128::from(l) / i128::from(total)).expect("bounded")
            }
        })
        .collect();
    let mut rest = discount - shares.iter().sum::<i64>();
    let mut by_size: Vec<usize> = (0..left.len()).collect();
    by_size.sort_by_key(|&i| (std::cmp::Reverse(left[i]), i));
    for i in by_size {
        let take = rest.min(left[i] - shares[i]);
        shares[i] += take;
        rest -= take;
    }
    assert_eq!(rest, 0, "the shares add up to the discount");
    for (l, s) in left.iter_mut().zip(&shares) {
        *l -= s;
    }
    shares
}

/// Applies `offers` (in the order named) to `lines` with `shipping_minor` at `at`.
pub fn apply(lines: &[CartGoods<'_>], shipping_minor: i64, offers: &[(&Coupon, &Template)], at: Timestamp) -> Applied {
    let mut out = Applied { line_discounts: vec![0; lines.len()], allow_points: true, ..Applied::default() };
    let mut left: Vec<i64> = lines.iter().map(|l| l.price).collect();
    let mut results: Vec<Option<CouponResult>> = vec![None; offers.len()];
    let mut order: Vec<usize> = (0..offers.len()).collect();
    order.sort_by_key(|&i| kind_rank(&offers[i].1.terms.benefit));
    // Stacking is decided in the order the coupons were named: the first usable one wins.
    let mut taken: Vec<usize> = Vec::new();
    let mut admitted = vec![false; offers.len()];
    for (i, (c, t)) in offers.iter().enumerate() {
        let in_scope: Vec<bool> =
            lines.iter().map(|l| t.terms.scope.admits(l.sku, l.category, l.brand).is_ok()).collect();
        let eligible: i64 = lines.iter().zip(&in_scope).filter(|(_, s)| **s).map(|(l, _)| l.price).sum();
        if let Err(why) = c.usable_at(at) {
            let code = if why.starts_with("already used") {
                "used"
            } else if why.starts_with("reserved") {
                "reserved"
            } else if at < c.valid_from {
                "not_valid_yet"
            } else {
                "expired"
            };
            results[i] = Some(refused(c, t, code, why, eligible));
            continue;
        }
        if !in_scope.iter().any(|s| *s) {
            let reason = lines
                .first()
                .and_then(|l| t.terms.scope.admits(l.sku, l.category, l.brand).err())
                .unwrap_or("no line is in the coupon's goods");
            results[i] = Some(refused(c, t, "no_eligible_goods", format!("no eligible goods: {reason}"), 0));
            continue;
        }
        let threshold = t.terms.benefit.threshold_minor();
        if eligible < threshold {
            let mut r = refused(
                c,
                t,
                "below_threshold",
                format!("needs {threshold} of eligible goods; {} short", threshold - eligible),
                eligible,
            );
            r.short_minor = Some(threshold - eligible);
            results[i] = Some(r);
            continue;
        }
        if let Some(&j) = taken.iter().find(|&&j| offers[j].1.terms.benefit.kind() == t.terms.benefit.kind()) {
            let reason = format!("one {} coupon per order: {} applies", t.terms.benefit.kind(), offers[j].0.coupon_id);
            results[i] = Some(refused(c, t, "one_per_kind", reason, eligible));
            continue;
        }
        if let Some(&j) = taken.iter().find(|&&j| !(offers[j].1.terms.stackable && t.terms.stackable)) {
            let reason = format!("does not stack with {}", offers[j].0.coupon_id);
            results[i] = Some(refused(c, t, "not_stackable", reason, eligible));
            continue;
        }
        taken.push(i);
        admitted[i] = true;
    }
    for &i in order.iter().filter(|&&i| admitted[i]) {
        let (c, t) = offers[i];
        let in_scope: Vec<bool> =
            lines.iter().map(|l| t.terms.scope.admits(l.sku, l.category, l.brand).is_ok()).collect();
        let eligible: i64 = lines.iter().zip(&in_scope).filter(|(_, s)| **s).map(|(l, _)| l.price).sum();
        let mut r = refused(c, t, "", String::new(), eligible);
        r.applied = true;
        r.why_not = None;
        let mut scoped: Vec<i64> = left.iter().zip(&in_scope).map(|(l, s)| if *s { *l } else { 0 }).collect();
        let room: i64 = scoped.iter().sum();
        match &t.terms.benefit {
            b @ (Benefit::AmountOff { .. } | Benefit::PercentOff { .. }) => {
                let d = b.discount(eligible, room);
                let shares = spread(&mut scoped, d);
                for (k, s) in shares.iter().enumerate() {
                    left[k] -= s;
                    out.line_discounts[k] += s;
                }
                r.discount_minor = d;
                r.reason = format!("{d} off {eligible} of eligible goods");
            }
            Benefit::FreeShipping { .. } => {
                out.shipping_waived = true;
                r.shipping_waived_minor = shipping_minor;
                r.reason = format!("shipping {shipping_minor} waived");
            }
            Benefit::PointsMultiplier { multiplier_percent, .. } => {
                out.multiplier = Some((*multiplier_percent, in_scope.clone()));
                r.reason =
                    format!("points ×{}.{:02} on eligible goods", multiplier_percent / 100, multiplier_percent % 100);
            }
            Benefit::Gift { sku, .. } => {
                r.gift_sku = Some(sku.clone());
                r.reason = format!("gift {sku}");
            }
        }
        if !t.terms.allow_points {
            out.allow_points = false;
        }
        results[i] = Some(r);
    }
    out.results = results.into_iter().map(|r| r.expect("every coupon has a result")).collect();
    debug_assert!(out.line_discounts.iter().zip(lines).all(|(d, l)| *d <= l.price));
    out
}

/// The combination of `candidates` that saves the member most on this cart, as the stacking
/// rules allow: each coupon alone, and every choice of at most one stackable coupon per kind
/// (the most valuable few of each kind). Ties go to fewer coupons, then to the smaller coupon
/// ids, so the choice is deterministic. Returns indexes into `candidates`.
pub fn best(
    lines: &[CartGoods<'_>],
    shipping_minor: i64,
    candidates: &[(&Coupon, &Template)],
    at: Timestamp,
) -> Vec<usize> {
    let alone: Vec<(usize, i64)> = candidates
        .iter()
        .enumerate()
        .map(|(i, o)| (i, apply(lines, shipping_minor, std::slice::from_ref(o), at)))
        .filter(|(_, a)| a.results[0].applied)
        .map(|(i, a)| (i, a.savings(shipping_minor)))
        // Free shipping on an order that ships free already would be used up for nothing.
        .filter(|&(i, saved)| saved > 0 || !matches!(candidates[i].1.terms.benefit, Benefit::FreeShipping { .. }))
        .collect();
    let key = |set: &[usize]| -> Vec<String> {
        let mut ids: Vec<String> = set.iter().map(|&i| candidates[i].0.coupon_id.to_string()).collect();
        ids.sort();
        ids
    };
    let mut best: Option<(i64, Vec<usize>)> = None;
    let mut consider = |set: Vec<usize>, saved: i64| {
        let better = match &best {
            None => true,
            Some((s, b)) => saved > *s || (saved == *s && (set.len(), key(&set)) < (b.len(), key(b))),
        };
        if better {
            best = Some((saved, set));
        }
    };
    for &(i, saved) in &alone {
        consider(vec![i], saved);
    }
    // Stackable coupons by kind, the most valuable first.
    let mut kinds: Vec<Vec<(usize, i64)>> = vec![Vec::new(); 5];
    for &(i, saved) in &alone {
        let t = candidates[i].1;
        if t.terms.stackable {
            kinds[usize::from(kind_rank(&t.terms.benefit))].push((i, saved));
        }
    }
    for k in &mut kinds {
        k.sort_by_key(|&(i, saved)| (std::cmp::Reverse(saved), candidates[i].0.coupon_id.to_string()));
        k.truncate(BEST_PER_KIND);
    }
    let choices: Vec<&Vec<(usize, i64)>> = kinds.iter().filter(|k| !k.is_empty()).collect();
    if choices.len() >= 2 {
        let mut pick = vec![0usize; choices.len()];
        loop {
            let set: Vec<usize> =
                pick.iter().zip(&choices).filter(|(p, _)| **p > 0).map(|(p, c)| c[*p - 1].0).collect();
            if set.len() >= 2 {
                let offers: Vec<(&Coupon, &Template)> = set.iter().map(|&i| candidates[i]).collect();
                let a = apply(lines, shipping_minor, &offers, at);
                if a.results.iter().all(|r| r.applied) {
                    consider(set, a.savings(shipping_minor));
                }
            }
            // The next choice: an odometer over "none, or one of the kind's coupons".
            let mut d = 0;
            loop {
                if d == pick.len() {
                    return best.map(|(_, s)| s).unwrap_or_default();
                }
                pick[d] += 1;
                if pick[d] <= choices[d].len() {
                    break;
                }
                pick[d] = 0;
                d += 1;
            }
        }
    }
    best.map(|(_, s)| s).unwrap_or_default()
}
