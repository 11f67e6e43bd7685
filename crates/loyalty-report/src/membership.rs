//! Does paid membership pay? `GET /v1/memberships/report`: per plan and in total, the members
//! in trial, paid, renewed and lapsed over a range of days, trial conversion, renewal rate,
//! fees, benefit cost, the spend joining added (a difference in differences, `loyalty_insight::
//! membership`) and the return on the benefits. Definitions: docs/METRICS.md, "Paid
//! membership: the report".
//!
//! Every member is read once, a range at a time, through the store's `MembershipFacts`: their
//! terms, current tier, value segment and net spend by month (from the activity log, never the
//! orders table). The range's members are folded into the sums and the subjects as they arrive
//! (`tally`), so no member's record outlives its range.

mod tally;
pub mod view;

use crate::kpi::RangeError;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use loyalty_core::Program;
use loyalty_insight::membership::{
    estimate_incremental_spend, membership_roi, DidConfig, DidReport, Month, RoiInputs, Subject,
};
use loyalty_insight::InsightError;
use loyalty_store::analytics::MonthGrid;
use loyalty_store::membership_facts::FactsQuery;
use loyalty_store::{Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tally::{PlanTally, Tally, Window};
use view::*;

/// Most months a report may span, `from`'s month to `to`'s.
pub const MAX_REPORT_MONTHS: i32 = 120;
/// Members per range read (one read of four statements each).
const READ_PAGE: i64 = 20_000;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A figure the estimate refused; with the range checked first this is a bug.
    #[error("the estimate failed: {0}")]
    Insight(#[from] InsightError),
}

/// A checked request: days `from..=to` in the programme's zone and, optionally, one plan.
#[derive(Debug, Clone)]
pub struct ReportRange {
    pub from: Date,
    pub to: Date,
    pub plan: Option<String>,
    start: Timestamp,
    end: Timestamp,
}

/// Calendar months as `year × 12 + month0`.
fn month_of_date(d: Date) -> Month {
    i32::from(d.year()) * 12 + i32::from(d.month()) - 1
}

fn month_label(m: Month) -> String {
    format!("{:04}-{:02}", m.div_euclid(12), m.rem_euclid(12) + 1)
}

/// The instant month `m` starts at in `tz`.
fn month_start(m: Month, tz: &TimeZone) -> Result<Timestamp, RangeError> {
    let bad = |reason: String| RangeError { field: "from", reason };
    let year = i16::try_from(m.div_euclid(12)).map_err(|_| bad(format!("month {m} is outside the calendar")))?;
    let date = Date::new(year, (m.rem_euclid(12) + 1) as i8, 1).map_err(|e| bad(e.to_string()))?;
    date.to_zoned(tz.clone()).map(|z| z.timestamp()).map_err(|e| bad(format!("{date} has no midnight: {e}")))
}

impl ReportRange {
    /// Checks the range (to not before from, inside 1970..2199, at most [`MAX_REPORT_MONTHS`]
    /// months) and the plan (one of the programme's).
    pub fn new(program: &Program, from: Date, to: Date, plan: Option<&str>) -> Result<Self, RangeError> {
        let err = |field, reason: String| RangeError { field, reason };
        if to < from {
            return Err(err("to", format!("{to} is before from ({from})")));
        }
        let (first, last) = (Date::constant(1970, 1, 1), Date::constant(2199, 12, 31));
        if from < first {
            return Err(err("from", format!("{from} is before {first}")));
        }
        if to > last {
            return Err(err("to", format!("{to} is after {last}")));
        }
        let months = month_of_date(to) - month_of_date(from) + 1;
        if months > MAX_REPORT_MONTHS {
            return Err(err("to", format!("the range spans {months} months; at most {MAX_REPORT_MONTHS}")));
        }
        if let Some(code) = plan {
            if !program.file.plans.iter().any(|p| p.code == code) {
                let codes: Vec<&str> = program.file.plans.iter().map(|p| p.code.as_str()).collect();
                let expected = if codes.is_empty() { "the programme has no plans".into() } else { codes.join(", ") };
                return Err(err("plan", format!("unknown plan {code:?}; expected one of: {expected}")));
            }
        }
        let midnight = |d: Date, field| {
            d.to_zoned(program.tz.clone()).map(|z| z.timestamp()).map_err(|e| err(field, format!("{d}: {e}")))
        };
        let next = to.checked_add(1.day()).map_err(|e| err("to", e.to_string()))?;
        Ok(ReportRange {
            from,
            to,
            plan: plan.map(str::to_owned),
            start: midnight(from, "from")?,
            end: midnight(next, "to")?,
        })
    }

    /// The difference in differences' months: joins in `from`'s month to `to`'s, compared
    /// over `compare_months` before and from joining, with data up to the last complete month
    /// before `now` (and never further than the last post month any join can have).
    fn did_config(&self, program: &Program, now: Timestamp) -> DidConfig {
        let k = program.file.memberships.compare_months as u32;
        let (first, last) = (month_of_date(self.from), month_of_date(self.to));
        let this_month = month_of_date(now.to_zoned(program.tz.clone()).date());
        let data_end = (this_month - 1).min(last + k as i32 - 1);
        DidConfig { pre_months: k, post_months: k, first, last, data_end }
    }
}

/// The month starts of `lo..=hi` and the end of `hi` (`None` for no month).
fn month_starts(lo: Month, hi: Month, tz: &TimeZone) -> Result<Vec<Timestamp>, RangeError> {
    (lo..=hi + 1).map(|m| month_start(m, tz)).collect()
}

/// The report for `range` as of `now`.
pub async fn compute(
    store: &dyn Store,
    program: &Program,
    range: &ReportRange,
    now: Timestamp,
) -> Result<MembershipReport, ReportError> {
    compute_in_pages(store, program, range, now, READ_PAGE).await
}

/// As [`compute`], reading ranges of `page` members (tests hold small pages to the default).
pub async fn compute_in_pages(
    store: &dyn Store,
    program: &Program,
    range: &ReportRange,
    now: Timestamp,
    page: i64,
) -> Result<MembershipReport, ReportError> {
    let tz = &program.tz;
    let config = range.did_config(program, now);
    config.validate()?;
    let months_bad =
        |e: RangeError| InsightError::InvalidInput { what: "months", id: e.field.into(), reason: e.reason };
    let join_months = month_starts(config.first, config.last, tz).map_err(months_bad)?;
    // Only the months a window reads: the first join's pre months to data_end.
    let lowest = config.first - config.pre_months as i32;
    let grid = if config.data_end >= lowest {
        let starts = month_starts(lowest, config.data_end, tz).map_err(months_bad)?;
        MonthGrid::new(lowest, starts.iter().map(|t| t.as_microsecond()).collect())
    } else {
        MonthGrid::empty()
    };
    let w = Window {
        from: range.start,
        to: range.end,
        now,
        plan: range.plan.clone(),
        first_month: config.first,
        join_months,
    };
    let started = std::time::Instant::now();
    let tally = read_members(store, &w, Arc::new(grid), now, page).await?;
    let read_ms = started.elapsed().as_millis() as u64;
    let lapses = store.membership_lapses(range.start, range.end.min(now)).await?;
    let costs: BTreeMap<String, i64> = store.plan_benefit_cost(range.start, range.end).await?.into_iter().collect();
    let sums_ms = started.elapsed().as_millis() as u64 - read_ms;
    let report = assemble(program, range, now, &config, tally, &lapses, &costs);
    let estimate_ms = started.elapsed().as_millis() as u64 - read_ms - sums_ms;
    tracing::debug!(read_ms, sums_ms, estimate_ms, "membership report");
    report
}

/// Every member, range by range, folded as each range arrives.
async fn read_members(
    store: &dyn Store,
    w: &Window,
    grid: Arc<MonthGrid>,
    now: Timestamp,
    page: i64,
) -> Result<Tally, StoreError> {
    let run = store.latest_insight_run().await?.map(|r| (r.slot, r.run_id));
    let mut tally = Tally::default();
    let read = |r: loyalty_store::analytics::ActivityRange| {
        let q = FactsQuery { after: r.after, through: r.through, at: now, grid: grid.clone(), run };
        async move { store.member_facts(&q).await }
    };
    crate::compute::for_each_range(store, now, page, read, |members| {
        members.into_iter().for_each(|m| tally.add(w, m));
        Ok::<_, StoreError>(())
    })
    .await?;
    Ok(tally)
}

/// Puts the sums, the estimates and the returns together, plans in the programme's order, then
/// any plan the data names that the programme no longer has.
fn assemble(
    program: &Program,
    range: &ReportRange,
    now: Timestamp,
    config: &DidConfig,
    mut tally: Tally,
    lapses: &[(String, String)],
    costs: &BTreeMap<String, i64>,
) -> Result<MembershipReport, ReportError> {
    let s = &program.file.memberships;
    let mut codes: Vec<String> = program.file.plans.iter().map(|p| p.code.clone()).collect();
    let mut extra: BTreeSet<String> = tally.plans.keys().cloned().collect();
    extra.extend(costs.keys().cloned());
    extra.extend(lapses.iter().map(|(_, p)| p.clone()));
    for code in &codes {
        extra.remove(code);
    }
    codes.extend(extra);
    codes.retain(|c| range.plan.as_deref().is_none_or(|p| p == c));
    // The subjects: every control, then the joiners grouped by plan, so that each plan's
    // estimate reads the controls and that plan's block.
    tally.joiners.sort_by(|a, b| a.0.cmp(&b.0));
    let n_controls = tally.controls.len();
    let blocks: Vec<(String, usize)> =
        tally.joiners.chunk_by(|a, b| a.0 == b.0).map(|g| (g[0].0.clone(), g.len())).collect();
    let mut subjects: Vec<Subject> = std::mem::take(&mut tally.controls);
    subjects.extend(std::mem::take(&mut tally.joiners).into_iter().map(|(_, s)| s));
    let mut estimates: BTreeMap<String, DidReport> = BTreeMap::new();
    for (plan, n) in &blocks {
        estimates.insert(plan.clone(), estimate_incremental_spend(&subjects[..n_controls + n], config)?);
        // The next plan's block moves up behind the controls; after the last, the order is back.
        subjects[n_controls..].rotate_left(*n);
    }
    let total_did = estimate_incremental_spend(&subjects, config)?;
    let mut plans = Vec::new();
    let mut total_cost = 0_i64;
    for code in &codes {
        let counts = tally.plans.remove(code).unwrap_or_default();
        let lapsed = lapses.iter().filter(|(_, p)| p == code).count() as u64;
        let cost = costs.get(code).copied().unwrap_or(0);
        total_cost += cost;
        let did = match estimates.remove(code) {
            Some(d) => d,
            None => estimate_incremental_spend(&subjects[..0], config)?,
        };
        let name = program.file.plans.iter().find(|p| &p.code == code).map(|p| p.name.clone());
        let figures = figures(&counts, lapsed, cost, &did, config, s.margin_percent)?;
        plans.push(PlanFigures { plan: code.clone(), name, figures });
    }
    let lapsed_members: BTreeSet<&str> =
        lapses.iter().filter(|(_, p)| range.plan.as_deref().is_none_or(|f| f == p)).map(|(m, _)| m.as_str()).collect();
    let total = figures(&tally.total, lapsed_members.len() as u64, total_cost, &total_did, config, s.margin_percent)?;
    let tz = &program.tz;
    Ok(MembershipReport {
        from: range.from.to_string(),
        to: range.to.to_string(),
        plan: range.plan.clone(),
        timezone: tz.iana_name().unwrap_or("UTC").to_owned(),
        currency: program.file.currency.clone(),
        as_of: loyalty_core::calendar::rfc3339(now, tz),
        margin_percent: s.margin_percent,
        compare_months: s.compare_months,
        plans,
        total,
    })
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn figures(
    t: &PlanTally,
    lapsed: u64,
    cost: i64,
    did: &DidReport,
    config: &DidConfig,
    margin_percent: i64,
) -> Result<Figures, ReportError> {
    let fees = i64::try_from(t.fees_minor).map_err(|_| InsightError::InvalidInput {
        what: "fees",
        id: "fees_minor".into(),
        reason: "overflow".into(),
    })?;
    let (roi, roi_unavailable) = if fees < 0 {
        (None, Some(format!("fees net of refunds are {fees}: refunds of upgrade credit exceed what was paid")))
    } else {
        let inputs = RoiInputs {
            fees_minor: fees,
            benefit_cost_minor: cost,
            incremental_spend_minor: did.incremental_spend_minor,
            margin_percent,
        };
        let r = membership_roi(&inputs)?;
        (
            Some(RoiView { incremental_margin_minor: r.incremental_margin_minor, net_minor: r.net_minor, roi: r.roi }),
            None,
        )
    };
    Ok(Figures {
        members: MemberCounts { trial: t.trial, paid: t.paid, joined: t.joined, renewed: t.renewed, lapsed },
        trial_conversion: TrialConversion {
            trials_ended: t.trials_ended,
            converted: t.converted,
            rate: ratio(t.converted, t.trials_ended),
        },
        renewal: Renewal { terms_ended: t.terms_ended, renewed: t.renewals, rate: ratio(t.renewals, t.terms_ended) },
        fees_minor: fees,
        benefit_cost_minor: cost,
        incremental: incremental(did, config),
        roi,
        roi_unavailable,
    })
}

/// The method in one sentence, with this report's months by name (the estimate's own sentence
/// numbers them).
fn method(c: &DidConfig) -> String {
    format!(
        "Difference in differences on monthly net spend (paid minus refunded, by the month an order was paid in): \
         for each member whose first paid term started in {}..={}, the change in mean monthly spend from the {} \
         months before joining to the up to {} months from joining (cut at {}), minus the same change over the same \
         months for the members of the same stratum (tier and value segment when joining; now, for them) who never \
         had a paid term; incremental spend sums each difference times the joiner's measured months.",
        month_label(c.first),
        month_label(c.last),
        c.pre_months,
        c.post_months,
        month_label(c.data_end)
    )
}

fn incremental(d: &DidReport, c: &DidConfig) -> Incremental {
    Incremental {
        method: method(c),
        first_month: month_label(c.first),
        last_month: month_label(c.last),
        data_end_month: month_label(c.data_end),
        pre_months: c.pre_months,
        post_months: c.post_months,
        joiners_in_window: d.joiners_in_window,
        joiners_used: d.joiners_used,
        joiners_without_post: d.joiners_without_post,
        joiners_without_controls: d.joiners_without_controls,
        controls_used: d.controls_used,
        strata_used: d.strata_used,
        means: d.means.map(|m| Means {
            own_pre: m.own_pre,
            own_post: m.own_post,
            control_pre: m.ctrl_pre,
            control_post: m.ctrl_post,
            incremental_per_member_month: m.incremental_per_member_month,
        }),
        incremental_spend_minor: d.incremental_spend_minor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_count_from_year_zero_and_label_back() {
        assert_eq!(month_of_date(Date::constant(2025, 7, 31)), 2025 * 12 + 6);
        assert_eq!(month_label(2025 * 12 + 6), "2025-07");
        assert_eq!(month_label(2025 * 12 + 11), "2025-12");
    }

    #[test]
    fn ranges_are_refused_with_the_field_named() {
        let p = Program::default_program();
        let d = |y, m, day| Date::new(y, m, day).unwrap();
        let field = |from, to, plan| ReportRange::new(&p, from, to, plan).unwrap_err().field;
        assert_eq!(field(d(2025, 2, 1), d(2025, 1, 31), None), "to");
        assert_eq!(field(d(1969, 12, 31), d(2025, 1, 31), None), "from");
        assert_eq!(field(d(2025, 1, 1), d(2200, 1, 1), None), "to");
        assert_eq!(field(d(2015, 1, 1), d(2025, 1, 1), None), "to", "121 months");
        assert!(ReportRange::new(&p, d(2015, 1, 1), d(2024, 12, 31), None).is_ok(), "120 months");
        assert_eq!(field(d(2025, 1, 1), d(2025, 1, 1), Some("nope")), "plan");
    }
}
