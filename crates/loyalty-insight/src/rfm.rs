//! RFM scores: recency, frequency and monetary value, each scored 1 (worst) to 5 (best).
//!
//! Quintile scores are defined as SQL `NTILE(5)` over the members who bought in the window, with
//! a total order (ties broken by member id, byte-wise), so DuckDB, PostgreSQL or SQLite
//! reproduce them member for member; the exact query is in `docs/INSIGHT.md`.

use serde::{Deserialize, Serialize};

use crate::InsightError;

mod id_order;

/// Most members one call may score: ranks are kept in `u32`, and a limit on everything.
pub const MAX_MEMBERS: usize = 200_000_000;

/// What the analysis needs to know about one member, computed by the caller for one window
/// ending at the analysis instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSummary {
    /// The store's member id; ties in the quintile order are broken by it, byte-wise.
    pub member_id: std::sync::Arc<str>,
    /// Whole days from the last paid order in the window to the analysis instant; `None` when
    /// the member has no order in the window.
    pub recency_days: Option<u32>,
    /// Paid orders in the window.
    pub frequency: u32,
    /// Paid minus refunded in the window, in minor units; may be zero or negative.
    pub monetary_minor: i64,
    /// Whole days from the member's first paid order ever to the analysis instant; `None` for a
    /// member who never bought. Lifecycle uses it to tell new members apart.
    pub first_order_age_days: Option<u32>,
}

impl MemberSummary {
    /// A buyer is a member with at least one order in the window; only buyers get RFM scores.
    pub fn is_buyer(&self) -> bool {
        self.frequency > 0
    }

    /// Refuses summaries whose fields contradict each other, which would point to a bug in the
    /// query that built them rather than to anything the analysis could interpret.
    pub fn validate(&self) -> Result<(), InsightError> {
        let bad = |reason: &str| InsightError::invalid("member", &self.member_id, reason);
        match (self.frequency > 0, self.recency_days, self.first_order_age_days) {
            (true, None, _) => Err(bad("has orders in the window but no recency_days")),
            (false, Some(_), _) => Err(bad("has recency_days but no order in the window")),
            (true, Some(_), None) => Err(bad("has orders but no first_order_age_days")),
            (true, Some(recency), Some(first)) if first < recency => {
                Err(bad("its first order is more recent than its last"))
            }
            _ => Ok(()),
        }
    }
}

/// Scores of one buyer, each in 1..=5 with 5 the best.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RfmScores {
    pub r: u8,
    pub f: u8,
    pub m: u8,
}

impl RfmScores {
    /// The combined frequency-monetary score, ⌊(F + M + 1) / 2⌋: the mean of F and M rounded
    /// half up, so (4, 5) gives 5 and (1, 2) gives 2.
    pub fn fm(&self) -> u8 {
        (self.f + self.m).div_ceil(2)
    }

    fn new(r: u8, f: u8, m: u8) -> Self {
        debug_assert!([r, f, m].iter().all(|s| (1..=5).contains(s)), "score out of 1..=5");
        Self { r, f, m }
    }
}

/// Fixed score boundaries, an alternative to quintiles when scores must mean the same thing
/// from one month to the next. Each array is strictly ascending.
///
/// Recency: ≤ b₁ days scores 5, ≤ b₂ scores 4, ≤ b₃ scores 3, ≤ b₄ scores 2, older scores 1.
/// Frequency and monetary: below b₁ scores 1, from b₁ 2, from b₂ 3, from b₃ 4, from b₄ 5.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RfmBoundaries {
    pub recency_days: [u32; 4],
    pub frequency: [u32; 4],
    pub monetary_minor: [i64; 4],
}

impl Default for RfmBoundaries {
    /// Recency 30/90/180/365 days (the lifecycle thresholds), frequency 2/3/5/10 orders,
    /// monetary ¥100/¥500/¥1,000/¥5,000 in fen.
    fn default() -> Self {
        Self {
            recency_days: [30, 90, 180, 365],
            frequency: [2, 3, 5, 10],
            monetary_minor: [10_000, 50_000, 100_000, 500_000],
        }
    }
}

impl RfmBoundaries {
    pub fn validate(&self) -> Result<(), InsightError> {
        fn ascending<T: PartialOrd>(field: &'static str, b: &[T; 4]) -> Result<(), InsightError> {
            if b.windows(2).all(|w| w[0] < w[1]) {
                Ok(())
            } else {
                Err(InsightError::config(field, "the four boundaries must be strictly ascending"))
            }
        }
        ascending("recency_days", &self.recency_days)?;
        ascending("frequency", &self.frequency)?;
        ascending("monetary_minor", &self.monetary_minor)
    }

    fn scores(&self, recency: u32, frequency: u32, monetary: i64) -> RfmScores {
        let count = |n: usize| n as u8;
        RfmScores::new(
            5 - count(self.recency_days.iter().filter(|&&b| b < recency).count()),
            1 + count(self.frequency.iter().filter(|&&b| b <= frequency).count()),
            1 + count(self.monetary_minor.iter().filter(|&&b| b <= monetary).count()),
        )
    }
}

/// How scores are assigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum RfmMethod {
    /// NTILE(5) among the buyers of this analysis (relative scores).
    #[default]
    Quintiles,
    /// Fixed boundaries (absolute scores).
    Fixed(RfmBoundaries),
}

/// Scores every member, in input order: `None` for members with no order in the window.
pub fn score(members: &[MemberSummary], method: &RfmMethod) -> Result<Vec<Option<RfmScores>>, InsightError> {
    match method {
        RfmMethod::Quintiles => score_quintiles(members),
        RfmMethod::Fixed(boundaries) => score_fixed(members, boundaries),
    }
}

/// Scores by fixed boundaries; see [`RfmBoundaries`].
pub fn score_fixed(
    members: &[MemberSummary],
    boundaries: &RfmBoundaries,
) -> Result<Vec<Option<RfmScores>>, InsightError> {
    boundaries.validate()?;
    check_members(members)?;
    Ok(members
        .iter()
        .map(|m| m.recency_days.map(|recency| boundaries.scores(recency, m.frequency, m.monetary_minor)))
        .collect())
}

/// Scores by quintiles among the buyers, as SQL computes
/// `NTILE(5) OVER (ORDER BY recency_days DESC, member_id)` for R,
/// `NTILE(5) OVER (ORDER BY frequency, member_id)` for F and
/// `NTILE(5) OVER (ORDER BY monetary_minor, member_id)` for M.
///
/// NTILE splits n rows into min(5, n) buckets whose sizes differ by at most one, the larger
/// buckets first, so with fewer than five buyers the best score is n, not 5.
///
/// The ids are sorted once; each dimension then sorts packed integer keys (value, id rank), which
/// keeps a million members well under a second.
pub fn score_quintiles(members: &[MemberSummary]) -> Result<Vec<Option<RfmScores>>, InsightError> {
    check_members(members)?;
    let by_id = id_order(members)?;
    let mut rank_of = vec![0_u32; members.len()];
    for (rank, &index) in by_id.iter().enumerate() {
        rank_of[index as usize] = rank as u32;
    }
    // Keys are built in input order (sequential reads); the low 32 bits carry the id rank, which
    // both breaks ties and leads back to the member through `by_id`.
    let buyers = || members.iter().zip(&rank_of).filter(|(m, _)| m.is_buyer());
    let pack = |high: u64, rank: u32| (high << 32) | u64::from(rank);
    let member_of = |low: u64| by_id[(low & 0xFFFF_FFFF) as usize];
    // M (128-bit keys, the largest sort) on a second thread while R and F sort on this one.
    let (r, f, m) = std::thread::scope(|s| {
        let m = s.spawn(|| {
            // Flipping the sign bit makes the unsigned order of i64 values match the signed order.
            let keys: Vec<u128> = buyers()
                .map(|(m, &rank)| (u128::from((m.monetary_minor as u64) ^ (1 << 63)) << 32) | u128::from(rank))
                .collect();
            ntiles(keys, |k| member_of(k as u64), members.len())
        });
        let r_keys = buyers().map(|(m, &rank)| pack(u64::from(u32::MAX - m.recency_days.unwrap_or(0)), rank)).collect();
        let r = ntiles(r_keys, member_of, members.len());
        let f =
            ntiles(buyers().map(|(m, &rank)| pack(u64::from(m.frequency), rank)).collect(), member_of, members.len());
        (r, f, m.join().expect("scoring M cannot panic"))
    });
    debug_assert_eq!(r.iter().filter(|&&q| q > 0).count(), members.iter().filter(|m| m.is_buyer()).count());
    Ok(r.into_iter().zip(f).zip(m).map(|((r, f), m)| (r > 0).then(|| RfmScores::new(r, f, m))).collect())
}

/// Sorts `keys` and returns NTILE(5) of each position at the member the key encodes (0 for
/// members without a key: non-buyers).
fn ntiles<K: Ord + Copy>(mut keys: Vec<K>, member_of: impl Fn(K) -> u32, members: usize) -> Vec<u8> {
    keys.sort_unstable();
    let n = keys.len();
    let mut out = vec![0_u8; members];
    for (position, &key) in keys.iter().enumerate() {
        out[member_of(key) as usize] = quintile(position, n);
    }
    out
}

/// NTILE(5) of the row at 0-based `position` among `n` rows, as SQLite and DuckDB define it:
/// min(5, n) groups, the first (n mod groups) of them one row larger.
fn quintile(position: usize, n: usize) -> u8 {
    debug_assert!(position < n);
    let groups = n.min(5);
    let size = n / groups;
    let large = n - groups * size;
    let small_from = large * (size + 1);
    let group = if position < small_from { position / (size + 1) } else { large + (position - small_from) / size };
    debug_assert!(group < groups);
    group as u8 + 1
}

pub(crate) fn check_members(members: &[MemberSummary]) -> Result<(), InsightError> {
    if members.len() > MAX_MEMBERS {
        return Err(InsightError::config("members", format!("{} exceeds the limit of {MAX_MEMBERS}", members.len())));
    }
    members.iter().try_for_each(MemberSummary::validate)
}

/// Member indices sorted by id (byte-wise), refusing duplicate ids.
fn id_order(members: &[MemberSummary]) -> Result<Vec<u32>, InsightError> {
    // The store reads members in id order, so this is usually already done: one pass proves it
    // (strictly ascending, so no duplicates either).
    if members.windows(2).all(|w| w[0].member_id.as_bytes() < w[1].member_id.as_bytes()) {
        return Ok((0..members.len() as u32).collect());
    }
    let ids: Vec<&[u8]> = members.iter().map(|m| m.member_id.as_bytes()).collect();
    id_order::sort_ids(&ids)
}

#[cfg(test)]
mod tests;
