//! Does paid membership pay? A difference in differences on monthly net spend, and the return on
//! the benefits given away.
//!
//! For a member who first paid in month m, with K months before and up to L months from joining:
//!
//!   did = (own_post − own_pre) − (ctrl_post − ctrl_pre)
//!
//! where own_* is the joiner's mean monthly net spend over the months before ([m−K, m−1]) and from
//! joining ([m, min(m+L−1, data_end)]), and ctrl_* the same means over the same calendar months
//! across the never-joined members of the joiner's stratum. Subtracting the controls' change takes
//! out what every comparable member did anyway (season, promotions, growth). Definitions:
//! `docs/METRICS.md`, "Paid membership: incremental spend and ROI".
//!
//! Controls are summed once per stratum into a per-month array with prefix sums, so each joiner
//! costs two binary searches over its own spend and four array reads, never a pass over the
//! controls: a million subjects with ten million spend months take well under a second.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::InsightError;

/// A calendar month as `year * 12 + month0`, converted by the caller in the programme's time zone.
pub type Month = i32;

/// Longest month range an estimate may cover, from `first − pre_months` to `data_end` (100 years);
/// it also bounds `pre_months` and `post_months`. A limit on everything.
pub const MAX_MONTH_SPAN: u32 = 1200;

/// Most subjects one call may take.
pub const MAX_SUBJECTS: usize = 200_000_000;

/// Most per-stratum month cells the control sums may hold (strata with a joiner and a control,
/// times the month span plus one): 64 MiB of `i128`. More means strata too fine to compare.
pub const MAX_STRATUM_MONTH_CELLS: usize = 1 << 22;

/// One member as the estimate sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// Comparison cell (tier and RFM segment at join for joiners, now for the never-joined), an
    /// index the caller assigns.
    pub stratum: u32,
    /// First month as a paid member; `None` = never joined (a control candidate).
    pub joined: Option<Month>,
    /// Net spend in minor units by month, strictly ascending; months with no spend may be absent.
    /// Months outside `[first − pre_months, data_end]` are outside every window and not read.
    pub spend: Vec<(Month, i64)>,
}

/// Which joins are measured and over how many months.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DidConfig {
    /// K: months before joining, always counted in full (months without spend count as 0).
    pub pre_months: u32,
    /// L: months from joining, cut at `data_end`.
    pub post_months: u32,
    /// First join month counted, inclusive.
    pub first: Month,
    /// Last join month counted, inclusive.
    pub last: Month,
    /// Last month with complete data, inclusive; post periods stop here.
    pub data_end: Month,
}

impl DidConfig {
    /// Public so that a report refuses a bad setting before it reads any data.
    pub fn validate(&self) -> Result<(), InsightError> {
        for (field, months) in [("pre_months", self.pre_months), ("post_months", self.post_months)] {
            if months == 0 || months > MAX_MONTH_SPAN {
                return Err(InsightError::config(
                    field,
                    format!("{months} is out of range; expected an integer between 1 and {MAX_MONTH_SPAN}"),
                ));
            }
        }
        if self.first > self.last {
            return Err(InsightError::config(
                "last",
                format!("month {} is before first (month {})", self.last, self.first),
            ));
        }
        let span = self.month_span();
        if span > i64::from(MAX_MONTH_SPAN) {
            return Err(InsightError::config(
                "data_end",
                format!(
                    "first − pre_months (month {}) to data_end (month {}) spans {span} months; at most \
                     {MAX_MONTH_SPAN}",
                    self.lowest_month(),
                    self.data_end
                ),
            ));
        }
        Ok(())
    }

    /// The earliest month any window reads: the pre period of a join in `first`.
    fn lowest_month(&self) -> i64 {
        i64::from(self.first) - i64::from(self.pre_months)
    }

    /// Months from `lowest_month` to `data_end`, inclusive; zero or less when data ends before.
    fn month_span(&self) -> i64 {
        i64::from(self.data_end) - self.lowest_month() + 1
    }
}

/// Means over the used joiners, in minor units per member-month.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DidMeans {
    pub own_pre: f64,
    pub own_post: f64,
    pub ctrl_pre: f64,
    pub ctrl_post: f64,
    /// Mean of did_j: what joining added to a member's monthly spend.
    pub incremental_per_member_month: f64,
}

/// The estimate and what it was built from, so a reader can judge how far to trust it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DidReport {
    /// Joiners with `joined` in `[first, last]`; each is used or counted in one of the two below.
    pub joiners_in_window: u64,
    pub joiners_used: u64,
    /// Joined after `data_end`, so no month from joining has data (checked before controls).
    pub joiners_without_post: u64,
    /// Their stratum has no never-joined member to compare with.
    pub joiners_without_controls: u64,
    /// Distinct controls in the strata that had a used joiner.
    pub controls_used: u64,
    pub strata_used: u64,
    /// `None` when no joiner could be used: a mean of nothing is not zero.
    pub means: Option<DidMeans>,
    /// round(Σ_j did_j × n_post_j): spend joining added over the measured months, in minor units.
    pub incremental_spend_minor: i64,
    /// The method in one sentence, with this run's months, for the report to print.
    pub method: String,
}

/// Control sums of one stratum.
#[derive(Default)]
struct Stratum {
    controls: u64,
    /// Joiners in the window with at least one post month.
    joiners: u64,
    /// `prefix[i]` = Σ control spend over months `lowest .. lowest + i`; only for strata with both
    /// controls and joiners.
    prefix: Vec<i128>,
}

impl Stratum {
    fn is_used(&self) -> bool {
        self.controls > 0 && self.joiners > 0
    }

    /// Σ control spend over months `[from, to]`, which must lie in `[lowest, lowest + span)`.
    fn sum(&self, lowest: i64, from: i64, to: i64) -> i128 {
        debug_assert!(lowest <= from && from <= to + 1);
        let index = |month: i64| usize::try_from(month - lowest).expect("month inside the span");
        self.prefix[index(to) + 1] - self.prefix[index(from)]
    }
}

/// Estimates the spend paid membership added, by difference in differences against never-joined
/// members of the same stratum. Refuses unsorted or duplicate spend months and bad settings.
pub fn estimate_incremental_spend(subjects: &[Subject], config: &DidConfig) -> Result<DidReport, InsightError> {
    config.validate()?;
    if subjects.len() > MAX_SUBJECTS {
        return Err(InsightError::invalid(
            "subjects",
            subjects.len(),
            format!("too many subjects; at most {MAX_SUBJECTS} per estimate"),
        ));
    }
    let mut tally = Tally::default();
    let (mut strata, joiners) = index_subjects(subjects, config, &mut tally)?;
    sum_controls(subjects, config, &mut strata)?;
    let sums = score_joiners(subjects, &joiners, config, &strata, &mut tally);
    for stratum in strata.values().filter(|s| s.is_used()) {
        tally.strata_used += 1;
        tally.controls_used += stratum.controls;
    }
    debug_assert_eq!(
        tally.in_window,
        tally.used + tally.without_post + tally.without_controls,
        "every joiner in the window is used or counted once as not used"
    );
    let total = sums.did_times_post.round();
    // `i64::MAX as f64` is 2^63, which does not fit, hence the strict bound.
    if !(total.is_finite() && total.abs() < i64::MAX as f64) {
        return Err(InsightError::NonFinite("incremental_spend_minor"));
    }
    Ok(DidReport {
        joiners_in_window: tally.in_window,
        joiners_used: tally.used,
        joiners_without_post: tally.without_post,
        joiners_without_controls: tally.without_controls,
        controls_used: tally.controls_used,
        strata_used: tally.strata_used,
        means: sums.means(tally.used),
        incremental_spend_minor: total as i64,
        method: method(config),
    })
}

#[derive(Default)]
struct Tally {
    in_window: u64,
    used: u64,
    without_post: u64,
    without_controls: u64,
    controls_used: u64,
    strata_used: u64,
}

/// Checks every subject's months, counts controls per stratum and lists the joiners that have a
/// post month.
fn index_subjects(
    subjects: &[Subject],
    config: &DidConfig,
    tally: &mut Tally,
) -> Result<(HashMap<u32, Stratum>, Vec<usize>), InsightError> {
    let mut strata: HashMap<u32, Stratum> = HashMap::new();
    let mut joiners = Vec::new();
    for (index, subject) in subjects.iter().enumerate() {
        if let Some(pair) = subject.spend.windows(2).find(|pair| pair[0].0 >= pair[1].0) {
            return Err(InsightError::invalid(
                "subject",
                index,
                format!(
                    "spend months must be strictly ascending without duplicates: month {} follows month {}",
                    pair[1].0, pair[0].0
                ),
            ));
        }
        match subject.joined {
            None => strata.entry(subject.stratum).or_default().controls += 1,
            Some(month) if (config.first..=config.last).contains(&month) => {
                tally.in_window += 1;
                if month > config.data_end {
                    tally.without_post += 1;
                } else {
                    strata.entry(subject.stratum).or_default().joiners += 1;
                    joiners.push(index);
                }
            }
            Some(_) => {}
        }
    }
    Ok((strata, joiners))
}

/// Fills the prefix sums of every stratum that has both controls and joiners.
fn sum_controls(
    subjects: &[Subject],
    config: &DidConfig,
    strata: &mut HashMap<u32, Stratum>,
) -> Result<(), InsightError> {
    // A joiner with a post month implies data_end ≥ first, so the span is at least K + 1 here.
    let span = usize::try_from(config.month_span()).unwrap_or(0);
    let used = strata.values().filter(|s| s.is_used()).count();
    let cells = used.saturating_mul(span + 1);
    if cells > MAX_STRATUM_MONTH_CELLS {
        return Err(InsightError::invalid(
            "subjects",
            format!("{used} strata"),
            format!(
                "{used} compared strata × {span} months = {cells} cells exceed {MAX_STRATUM_MONTH_CELLS}; merge strata \
                 or shorten the window"
            ),
        ));
    }
    for stratum in strata.values_mut().filter(|s| s.is_used()) {
        stratum.prefix = vec![0; span + 1];
    }
    let lowest = config.lowest_month();
    for subject in subjects.iter().filter(|s| s.joined.is_none()) {
        let Some(stratum) = strata.get_mut(&subject.stratum).filter(|s| s.is_used()) else { continue };
        let start = subject.spend.partition_point(|&(month, _)| i64::from(month) < lowest);
        for &(month, spend_minor) in &subject.spend[start..] {
            let offset = i64::from(month) - lowest;
            if offset >= span as i64 {
                break;
            }
            // Slot i + 1 holds month i until the running sum below turns it into a prefix.
            stratum.prefix[offset as usize + 1] += i128::from(spend_minor);
        }
    }
    for stratum in strata.values_mut().filter(|s| s.is_used()) {
        for i in 1..stratum.prefix.len() {
            stratum.prefix[i] += stratum.prefix[i - 1];
        }
    }
    Ok(())
}

/// Running sums over the used joiners, in f64: i128 sums of a member's months are exact, and the
/// means only need f64's 15 digits.
#[derive(Default)]
struct Sums {
    own_pre: f64,
    own_post: f64,
    ctrl_pre: f64,
    ctrl_post: f64,
    did: f64,
    did_times_post: f64,
}

impl Sums {
    fn means(&self, used: u64) -> Option<DidMeans> {
        let n = used as f64;
        (used > 0).then(|| DidMeans {
            own_pre: self.own_pre / n,
            own_post: self.own_post / n,
            ctrl_pre: self.ctrl_pre / n,
            ctrl_post: self.ctrl_post / n,
            incremental_per_member_month: self.did / n,
        })
    }
}

fn score_joiners(
    subjects: &[Subject],
    joiners: &[usize],
    config: &DidConfig,
    strata: &HashMap<u32, Stratum>,
    tally: &mut Tally,
) -> Sums {
    let lowest = config.lowest_month();
    let k = i64::from(config.pre_months);
    let k_months = k as f64;
    let mut sums = Sums::default();
    for &index in joiners {
        let subject = &subjects[index];
        let stratum = &strata[&subject.stratum];
        if stratum.controls == 0 {
            tally.without_controls += 1;
            continue;
        }
        tally.used += 1;
        let m = i64::from(subject.joined.expect("only joiners are listed"));
        let post_end = (m + i64::from(config.post_months) - 1).min(i64::from(config.data_end));
        debug_assert!(post_end >= m, "joiners without a post month were counted apart");
        let n_post = (post_end - m + 1) as f64;
        let controls = stratum.controls as f64;
        let own_pre = own_sum(&subject.spend, m - k, m - 1) as f64 / k_months;
        let own_post = own_sum(&subject.spend, m, post_end) as f64 / n_post;
        let ctrl_pre = stratum.sum(lowest, m - k, m - 1) as f64 / (controls * k_months);
        let ctrl_post = stratum.sum(lowest, m, post_end) as f64 / (controls * n_post);
        let did = (own_post - own_pre) - (ctrl_post - ctrl_pre);
        sums.own_pre += own_pre;
        sums.own_post += own_post;
        sums.ctrl_pre += ctrl_pre;
        sums.ctrl_post += ctrl_post;
        sums.did += did;
        sums.did_times_post += did * n_post;
    }
    sums
}

/// Σ spend of one member over months `[from, to]`; its months are sorted, so two binary searches.
fn own_sum(spend: &[(Month, i64)], from: i64, to: i64) -> i128 {
    let start = spend.partition_point(|&(month, _)| i64::from(month) < from);
    let end = spend.partition_point(|&(month, _)| i64::from(month) <= to);
    spend[start..end.max(start)].iter().map(|&(_, spend_minor)| i128::from(spend_minor)).sum()
}

fn method(config: &DidConfig) -> String {
    let DidConfig { pre_months, post_months, first, last, data_end } = *config;
    format!(
        "Difference in differences on monthly net spend: for each member who first paid in months {first}..={last}, \
         the change in mean monthly spend from the {pre_months} months before joining to the up to {post_months} \
         months from joining (cut at month {data_end}), minus the same change over the same months for the \
         never-joined members of the same stratum; incremental spend sums each difference times the joiner's \
         measured months."
    )
}

/// What the programme took in and gave away over the same period as the incremental spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoiInputs {
    /// Membership fees collected, net of fee refunds.
    pub fees_minor: i64,
    /// Cost of the benefits given to members (free shipping, member prices, coupons).
    pub benefit_cost_minor: i64,
    /// From `DidReport::incremental_spend_minor`.
    pub incremental_spend_minor: i64,
    /// Gross margin on the incremental spend, 0..=100.
    pub margin_percent: i64,
}

/// The return on the programme: spend is not profit, so only its margin counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Roi {
    /// floor(incremental spend × margin% / 100), towards −∞ so a loss is never rounded smaller.
    pub incremental_margin_minor: i64,
    /// Margin + fees − benefit cost.
    pub net_minor: i64,
    /// net / benefit cost; `None` when the benefits cost nothing, where a ratio means nothing.
    pub roi: Option<f64>,
}

/// ROI = (incremental gross margin + fees − benefit cost) / benefit cost, in exact integers up to
/// the final ratio; refuses an out-of-range margin, negative fees or cost, and a net beyond i64.
pub fn membership_roi(inputs: &RoiInputs) -> Result<Roi, InsightError> {
    let RoiInputs { fees_minor, benefit_cost_minor, incremental_spend_minor, margin_percent } = *inputs;
    if !(0..=100).contains(&margin_percent) {
        return Err(InsightError::config("margin_percent", format!("{margin_percent} is outside 0..=100")));
    }
    for (field, amount) in [("fees_minor", fees_minor), ("benefit_cost_minor", benefit_cost_minor)] {
        if amount < 0 {
            return Err(InsightError::invalid("roi input", field, format!("{amount} is negative")));
        }
    }
    let margin = (i128::from(incremental_spend_minor) * i128::from(margin_percent)).div_euclid(100);
    // A share of at most 100 % lies between 0 and the spend itself, so it fits where the spend did.
    let incremental_margin_minor = i64::try_from(margin).expect("a margin of 0..=100 % of an i64 fits in i64");
    let net = margin + i128::from(fees_minor) - i128::from(benefit_cost_minor);
    let net_minor = i64::try_from(net).map_err(|_| {
        InsightError::invalid("roi input", "net_minor", format!("margin + fees − benefit cost = {net} overflows i64"))
    })?;
    let roi = (benefit_cost_minor != 0).then(|| net_minor as f64 / benefit_cost_minor as f64);
    Ok(Roi { incremental_margin_minor, net_minor, roi })
}

#[cfg(test)]
mod tests;
