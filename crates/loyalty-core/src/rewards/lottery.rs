//! The points lottery (积分抽奖): prizes with published weights, each prize's stock, a budget,
//! a cost per draw and per-member limits per day. A draw's outcome is a pure function of the
//! lottery's secret and the draw (an HMAC-SHA256), so an operator can re-derive any draw from
//! its stored record, and the secret's SHA-256 is published with the lottery as a commitment.

use crate::coupons::patch::{double_option, rename_or_restate};
use crate::coupons::template::TemplateStatus;
use crate::coupons::validate::{positive, text};
use crate::error::DomainError;
use crate::ids::{DrawId, LotteryId, MemberId, RewardId, TemplateId};
use crate::program::Program;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Most prizes in one lottery.
pub const MAX_PRIZES: usize = 50;
/// Largest weight of one prize; the weights' sum stays far below 2⁶⁴, so the pick's bias is
/// below 2⁻³⁰ (see [`pick`]).
pub const MAX_WEIGHT: i64 = 1_000_000_000;
/// Most draws a member may be allowed per day.
pub const MAX_DRAWS_PER_DAY: i64 = 10_000;
/// Length of a lottery's secret, in bytes.
pub const SECRET_LEN: usize = 32;

/// What a prize gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PrizeItem {
    /// Points credited at once (an `earn` usable immediately).
    Points { points: i64 },
    /// A coupon of `template` (which must allow the `points` channel).
    Coupon { template: String },
    /// Goods of the mall: a redemption of `reward` at no points, `pending` until the member
    /// gives an address and the store ships it.
    Goods { reward: String },
    /// Nothing (谢谢参与).
    Nothing,
}

/// One prize as operations send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PrizeInput {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::id_field))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::text))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::prize_weight))]
    pub weight: i64,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::prize_item))]
    pub item: PrizeItem,
    /// How many may be given in all; absent or null: unlimited.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::coupon_stock_opt))]
    pub stock: Option<i64>,
    /// What one costs the business, counted against the budget. A points prize costs what its
    /// points are worth (the programme's redemption value) unless this says otherwise.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::amount_opt))]
    pub cost_minor: Option<i64>,
}

/// A lottery as operations send it (`POST /v1/lotteries`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LotteryInput {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::id_field))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::text))]
    pub name: String,
    /// Points per draw after the free ones (0: every draw is free).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::points_or_zero))]
    pub cost_points: i64,
    /// Draws per member and local day that cost nothing.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::draws_per_day))]
    pub free_draws_per_day: i64,
    /// Most draws per member and local day; absent or null: no limit.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::draws_per_day_opt))]
    pub max_draws_per_day: Option<i64>,
    /// Most the prizes given may cost in all; absent or null: no budget.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::amount_opt))]
    pub budget_minor: Option<i64>,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::prizes))]
    pub prizes: Vec<PrizeInput>,
    /// The prize a draw falls to when the one it picked is out of stock, would pass the budget,
    /// or cannot be given to the member: a prize with no stock limit that costs nothing.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::id_field))]
    pub fallback: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::instant_opt))]
    pub opens_at: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::instant_opt))]
    pub closes_at: Option<String>,
}

/// A lottery: its terms, its secret, and what it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lottery {
    pub id: LotteryId,
    pub terms: LotteryInput,
    pub status: TemplateStatus,
    /// Hex of the secret the outcomes are derived from; never shown, only its SHA-256.
    pub secret: String,
    /// How many of each prize were given, in the order of `terms.prizes`.
    pub given: Vec<i64>,
    /// What the prizes given cost, against the budget.
    pub spent_minor: i64,
    pub draws: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    s.len()
        .is_multiple_of(2)
        .then(|| (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect())
        .flatten()
}

impl LotteryInput {
    /// Validates the terms with a fresh `secret` (random, from the caller: the core draws no
    /// randomness); every refusal names its field. Whether the templates and rewards that
    /// prizes name exist is the caller's to check.
    pub fn validate(
        &self,
        program: &Program,
        secret: [u8; SECRET_LEN],
        now: Timestamp,
    ) -> Result<Lottery, DomainError> {
        let id = LotteryId::parse(&self.id).map_err(|e| DomainError::unprocessable("id", e.0))?;
        text("name", &self.name)?;
        crate::limits::check_range("cost_points", self.cost_points, 0, crate::limits::MAX_POINTS)?;
        crate::limits::check_range("free_draws_per_day", self.free_draws_per_day, 0, MAX_DRAWS_PER_DAY)?;
        if let Some(m) = self.max_draws_per_day {
            positive("max_draws_per_day", m, MAX_DRAWS_PER_DAY)?;
        }
        if let Some(b) = self.budget_minor {
            crate::order::check_amount("budget_minor", b)?;
        }
        if self.prizes.is_empty() || self.prizes.len() > MAX_PRIZES {
            return Err(DomainError::unprocessable("prizes", format!("holds 1 to {MAX_PRIZES} prizes")));
        }
        for (i, p) in self.prizes.iter().enumerate() {
            let f = |n: &str| format!("prizes[{i}].{n}");
            crate::ids::RewardId::parse(&p.id).map_err(|e| DomainError::unprocessable(f("id"), e.0))?;
            if self.prizes[..i].iter().any(|q| q.id == p.id) {
                return Err(DomainError::unprocessable(f("id"), format!("{:?} names two prizes", p.id)));
            }
            text(&f("name"), &p.name)?;
            positive(&f("weight"), p.weight, MAX_WEIGHT)?;
            match &p.item {
                PrizeItem::Points { points } => positive(&f("item.points"), *points, crate::limits::MAX_POINTS)?,
                PrizeItem::Coupon { template } => {
                    TemplateId::parse(template).map_err(|e| DomainError::unprocessable(f("item.template"), e.0))?;
                }
                PrizeItem::Goods { reward } => {
                    RewardId::parse(reward).map_err(|e| DomainError::unprocessable(f("item.reward"), e.0))?;
                }
                PrizeItem::Nothing => {}
            }
            if let Some(s) = p.stock {
                crate::limits::check_range(&f("stock"), s, 0, crate::coupons::template::MAX_STOCK)?;
            }
            if let Some(c) = p.cost_minor {
                crate::order::check_amount(&f("cost_minor"), c)?;
            }
        }
        let Some(fb) = self.prizes.iter().position(|p| p.id == self.fallback) else {
            return Err(DomainError::unprocessable(
                "fallback",
                format!("{:?} is not one of the prizes", self.fallback),
            ));
        };
        let fallback = &self.prizes[fb];
        if fallback.stock.is_some() || prize_cost(program, fallback) != 0 {
            return Err(DomainError::unprocessable(
                "fallback",
                "the fallback prize must have no stock limit and cost nothing (cost_minor 0, or nothing)",
            ));
        }
        if !matches!(fallback.item, PrizeItem::Nothing | PrizeItem::Points { .. }) {
            return Err(DomainError::unprocessable(
                "fallback",
                "the fallback prize must be nothing or points: a coupon or goods can run out elsewhere",
            ));
        }
        let from = self.opens_at.as_deref().map(|v| crate::instant::parse_instant("opens_at", v)).transpose()?;
        let until = self.closes_at.as_deref().map(|v| crate::instant::parse_instant("closes_at", v)).transpose()?;
        if let (Some(a), Some(b)) = (from, until) {
            if b <= a {
                return Err(DomainError::unprocessable("closes_at", format!("{b} is not after {a}")));
            }
        }
        Ok(Lottery {
            id,
            terms: self.clone(),
            status: TemplateStatus::Active,
            secret: hex(&secret),
            given: vec![0; self.prizes.len()],
            spent_minor: 0,
            draws: 0,
            created_at: now,
            updated_at: now,
        })
    }
}

/// What one of the prize costs the business (see `PrizeInput::cost_minor`).
pub fn prize_cost(program: &Program, p: &PrizeInput) -> i64 {
    match (&p.item, p.cost_minor) {
        (_, Some(c)) => c,
        (PrizeItem::Points { points }, None) => program.points_value_minor(crate::Points::new(*points)).get(),
        _ => 0,
    }
}

/// The 256-bit roll of a draw: HMAC-SHA256 keyed with the lottery's secret over the lottery,
/// the member and the draw ids, each followed by a zero byte (ids hold no zero byte, so no two
/// draws share a message).
pub fn roll(secret: &[u8], lottery: &LotteryId, member: &MemberId, draw: &DrawId) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    for part in [lottery.as_str(), member.as_str(), draw.as_str()] {
        mac.update(part.as_bytes());
        mac.update(&[0]);
    }
    mac.finalize().into_bytes().into()
}

/// The prize index a roll picks with `weights`: the roll's first 8 bytes as a number `u` in
/// [0, 2⁶⁴), scaled to [0, Σ weights) as ⌊u · Σ / 2⁶⁴⌋, and the prize whose cumulative weight
/// range holds it. Each prize's chance is its weight over the sum, to within Σ / 2⁶⁴ (below
/// 2⁻³⁰ at the largest weights allowed).
pub fn pick(roll: &[u8; 32], weights: &[i64]) -> usize {
    let total: i64 = weights.iter().sum();
    assert!(total > 0 && weights.iter().all(|w| *w > 0), "weights are validated positive");
    let u = u64::from_be_bytes(roll[..8].try_into().expect("8 bytes"));
    let x = ((u128::from(u) * total as u128) >> 64) as i64;
    let mut acc = 0;
    for (i, w) in weights.iter().enumerate() {
        acc += w;
        if x < acc {
            return i;
        }
    }
    unreachable!("x < Σ weights")
}

/// One draw as stored: enough to re-derive it (`roll` with the lottery's secret, then `pick`
/// with the weights the lottery publishes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Draw {
    pub member_id: MemberId,
    pub draw_id: DrawId,
    pub lottery_id: LotteryId,
    /// Hex of the roll.
    pub roll: String,
    /// The prize the roll picked, and the one given (the fallback when `fell_back` says why).
    pub picked: String,
    pub prize: String,
    pub fell_back: Option<String>,
    pub points_spent: i64,
    pub free: bool,
    /// What the prize's cost added to the lottery's spending.
    pub cost_minor: i64,
    pub at: Timestamp,
    /// What the prize became: the coupon issued, or the redemption of the goods won.
    pub coupon: Option<crate::ids::CouponId>,
    pub redemption: Option<crate::ids::RedemptionId>,
}

impl Lottery {
    /// The secret's SHA-256 (hex), published so that a revealed secret can be checked.
    pub fn commitment(&self) -> String {
        hex(&Sha256::digest(unhex(&self.secret).unwrap_or_default()))
    }

    pub fn weights(&self) -> Vec<i64> {
        self.terms.prizes.iter().map(|p| p.weight).collect()
    }

    fn fallback_index(&self) -> usize {
        self.terms.prizes.iter().position(|p| p.id == self.terms.fallback).expect("validated")
    }

    /// The roll of a draw, as [`roll`] derives it from this lottery's secret.
    pub fn roll_for(&self, member: &MemberId, draw: &DrawId) -> [u8; 32] {
        roll(&unhex(&self.secret).expect("a stored secret is hex"), &self.id, member, draw)
    }

    /// Whether the lottery takes draws at `now`.
    pub fn open_at(&self, now: Timestamp) -> Result<(), DomainError> {
        let closed = |reason: String| DomainError::LotteryNotOpen { lottery: self.id.to_string(), reason };
        if self.status != TemplateStatus::Active {
            return Err(closed(format!("it is {}", self.status.as_str())));
        }
        let at = |s: &Option<String>| s.as_deref().and_then(|v| crate::instant::parse_instant("at", v).ok());
        if let Some(from) = at(&self.terms.opens_at).filter(|f| now < *f) {
            return Err(closed(format!("it opens at {from}")));
        }
        if let Some(until) = at(&self.terms.closes_at).filter(|u| now >= *u) {
            return Err(closed(format!("it closed at {until}")));
        }
        Ok(())
    }

    /// Draws for `member` at `now`: refused when the lottery is closed or the member reached
    /// today's limit (`today`: the member's draws of this lottery since the local day began).
    /// The roll picks a prize; one out of stock or past the budget, or that `givable` refuses
    /// (a coupon or goods the member cannot be given), falls to the fallback. The lottery's
    /// counts move; the caller spends `points_spent` and gives the prize in the same
    /// transaction, or refuses the whole draw.
    pub fn draw(
        &mut self,
        program: &Program,
        (member, draw): (&MemberId, &DrawId),
        today: i64,
        givable: impl Fn(&PrizeInput) -> Result<(), String>,
        now: Timestamp,
    ) -> Result<Draw, DomainError> {
        self.open_at(now)?;
        if let Some(max) = self.terms.max_draws_per_day {
            if today >= max {
                return Err(DomainError::DrawLimitReached { lottery: self.id.to_string(), limit: max });
            }
        }
        let free = today < self.terms.free_draws_per_day;
        let rolled = self.roll_for(member, draw);
        let picked = pick(&rolled, &self.weights());
        let p = &self.terms.prizes[picked];
        let cost = prize_cost(program, p);
        let why_not = if p.stock.is_some_and(|s| self.given[picked] >= s) {
            Some("out of stock".to_owned())
        } else if self.terms.budget_minor.is_some_and(|b| self.spent_minor + cost > b) {
            Some("over budget".to_owned())
        } else {
            givable(p).err()
        };
        let given = if why_not.is_some() { self.fallback_index() } else { picked };
        let cost = if why_not.is_some() { 0 } else { cost };
        self.given[given] += 1;
        self.spent_minor += cost;
        self.draws += 1;
        assert!(self.terms.budget_minor.is_none_or(|b| self.spent_minor <= b), "the budget is never passed");
        let stock_ok = |i: usize| self.terms.prizes[i].stock.is_none_or(|s| self.given[i] <= s);
        assert!(stock_ok(given), "a prize's stock is never passed");
        Ok(Draw {
            member_id: member.clone(),
            draw_id: draw.clone(),
            lottery_id: self.id.clone(),
            roll: hex(&rolled),
            picked: self.terms.prizes[picked].id.clone(),
            prize: self.terms.prizes[given].id.clone(),
            fell_back: why_not,
            points_spent: if free { 0 } else { self.terms.cost_points },
            free,
            cost_minor: cost,
            at: now,
            coupon: None,
            redemption: None,
        })
    }

    /// The prize a draw gave.
    pub fn prize(&self, id: &str) -> Option<&PrizeInput> {
        self.terms.prizes.iter().find(|p| p.id == id)
    }

    /// Re-derives a stored draw: the prize its roll picks with the weights in force, and
    /// whether the stored roll and pick are what the secret gives.
    pub fn rederive(&self, d: &Draw) -> (String, bool) {
        self.check_roll((&d.member_id, &d.draw_id), (&d.roll, &d.picked))
    }

    /// [`Lottery::rederive`] from a draw's ids and its stored roll and pick alone.
    pub fn check_roll(&self, (member, draw): (&MemberId, &DrawId), (roll, picked): (&str, &str)) -> (String, bool) {
        let rolled = self.roll_for(member, draw);
        let derived = self.terms.prizes[pick(&rolled, &self.weights())].id.clone();
        let matches = hex(&rolled) == roll && derived == picked;
        (derived, matches)
    }
}

/// A change operations make to a lottery (`PATCH`): name and status; weights and prizes are
/// what members were shown, so they stay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LotteryPatch {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::text_opt))]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<TemplateStatus>,
    /// The new budget; `null` is none. Never below what was spent.
    #[serde(default, with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::amount_opt))]
    pub budget_minor: Option<Option<i64>>,
}

impl LotteryPatch {
    pub fn apply(&self, l: &Lottery, now: Timestamp) -> Result<Lottery, DomainError> {
        if self.name.is_none() && self.status.is_none() && self.budget_minor.is_none() {
            return Err(DomainError::unprocessable("name", "send at least one of name, status, budget_minor"));
        }
        let mut out = l.clone();
        rename_or_restate("lottery", (&self.name, self.status), (&mut out.terms.name, &mut out.status))?;
        if let Some(b) = self.budget_minor {
            if let Some(b) = b {
                crate::order::check_amount("budget_minor", b)?;
                if b < l.spent_minor {
                    return Err(DomainError::unprocessable(
                        "budget_minor",
                        format!("{b} is below the {} already spent", l.spent_minor),
                    ));
                }
            }
            out.terms.budget_minor = b;
        }
        out.updated_at = now;
        Ok(out)
    }
}
