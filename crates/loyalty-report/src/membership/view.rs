//! The paid-membership report as the API answers it. Definitions: docs/METRICS.md, "Paid
//! membership: the report".

use serde::Serialize;
use utoipa::ToSchema;

/// Does paid membership pay, per plan and in total, over a range of days.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MembershipReport {
    /// First and last day of the range, inclusive, in the programme's time zone.
    pub from: String,
    pub to: String,
    /// The plan asked for, if one was.
    pub plan: Option<String>,
    pub timezone: String,
    pub currency: String,
    pub as_of: String,
    /// Gross margin of incremental spend (`[memberships].margin_percent`).
    pub margin_percent: i64,
    /// Months compared before and from joining (`[memberships].compare_months`).
    pub compare_months: i64,
    pub plans: Vec<PlanFigures>,
    /// Every plan together: members counted once however many plans they had.
    pub total: Figures,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanFigures {
    pub plan: String,
    /// The plan's name in the programme file; `null` for a plan no longer in it.
    pub name: Option<String>,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Figures {
    pub members: MemberCounts,
    pub trial_conversion: TrialConversion,
    pub renewal: Renewal,
    /// Σ paid − refunded of the terms (trials too) that started in the range.
    pub fees_minor: i64,
    /// Σ value of the benefit uses the plan gave in the range.
    pub benefit_cost_minor: i64,
    pub incremental: Incremental,
    /// `null` when fees net of refunds are negative (refunds of upgrade credit), where the
    /// ratio is not defined; `roi_unavailable` says why.
    pub roi: Option<RoiView>,
    pub roi_unavailable: Option<String>,
}

/// Distinct members in the range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct MemberCounts {
    /// With a trial giving benefits at some time in the range.
    pub trial: u64,
    /// With a paid term giving benefits at some time in the range.
    pub paid: u64,
    /// Whose first paid term started in the range: the joiners the incremental spend measures.
    pub joined: u64,
    /// With a paid term starting in the range at the end of a paid term of theirs that ran to
    /// its end.
    pub renewed: u64,
    /// Whose benefits ended in the range without a renewal (a lapse after the grace, or a refund).
    pub lapsed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct TrialConversion {
    /// Trials that ended in the range (and by now).
    pub trials_ended: u64,
    /// Of those, the ones followed by a paid term of the member starting at the trial's end.
    pub converted: u64,
    /// converted ÷ trials_ended; `null` when no trial ended.
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Renewal {
    /// Paid terms that ran to their end in the range (and by now): not refunded or upgraded.
    pub terms_ended: u64,
    /// Of those, the ones followed by a term of the member starting at their end.
    pub renewed: u64,
    /// renewed ÷ terms_ended; `null` when no term ended.
    pub rate: Option<f64>,
}

/// Spend joining added: a difference in differences against members who never paid.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Incremental {
    /// The method in one sentence, with this report's months.
    pub method: String,
    /// Join months counted (`YYYY-MM`), and the last month with complete data.
    pub first_month: String,
    pub last_month: String,
    pub data_end_month: String,
    pub pre_months: u32,
    pub post_months: u32,
    pub joiners_in_window: u64,
    pub joiners_used: u64,
    pub joiners_without_post: u64,
    pub joiners_without_controls: u64,
    /// Members who never had a paid term, in the strata compared.
    pub controls_used: u64,
    pub strata_used: u64,
    /// Means over the joiners used, minor units per member-month; `null` when none was used.
    pub means: Option<Means>,
    /// round(Σ_j did_j × post months_j), minor units.
    pub incremental_spend_minor: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Means {
    pub own_pre: f64,
    pub own_post: f64,
    pub control_pre: f64,
    pub control_post: f64,
    pub incremental_per_member_month: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct RoiView {
    /// floor(incremental spend × margin% ÷ 100).
    pub incremental_margin_minor: i64,
    /// Incremental margin + fees − benefit cost.
    pub net_minor: i64,
    /// net ÷ benefit cost; `null` when the benefits cost nothing.
    pub roi: Option<f64>,
}
