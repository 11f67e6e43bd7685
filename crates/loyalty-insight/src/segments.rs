//! Two ways to name groups of members from RFM: the eight "value" segments common in Chinese
//! e-commerce (above or below the population mean on each of R, F, M) and the eleven segments
//! of the RFM score map (R score × combined FM score). Both give members with no order in the
//! window their own segment, `no_purchase`.

use serde::{Deserialize, Serialize};

use crate::rfm::{check_members, MemberSummary, RfmScores};
use crate::InsightError;

/// 八类客户: R, F, M each high or low against the mean over buyers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueSegment {
    ImportantValue,
    ImportantDevelop,
    ImportantKeep,
    ImportantRetain,
    GeneralValue,
    GeneralDevelop,
    GeneralKeep,
    GeneralRetain,
    NoPurchase,
}

impl ValueSegment {
    pub const ALL: [Self; 9] = [
        Self::ImportantValue,
        Self::ImportantDevelop,
        Self::ImportantKeep,
        Self::ImportantRetain,
        Self::GeneralValue,
        Self::GeneralDevelop,
        Self::GeneralKeep,
        Self::GeneralRetain,
        Self::NoPurchase,
    ];

    /// M decides important/general, R decides value-develop/keep-retain, F decides value/develop
    /// and keep/retain.
    pub fn from_levels(r_high: bool, f_high: bool, m_high: bool) -> Self {
        match (m_high, r_high, f_high) {
            (true, true, true) => Self::ImportantValue,
            (true, true, false) => Self::ImportantDevelop,
            (true, false, true) => Self::ImportantKeep,
            (true, false, false) => Self::ImportantRetain,
            (false, true, true) => Self::GeneralValue,
            (false, true, false) => Self::GeneralDevelop,
            (false, false, true) => Self::GeneralKeep,
            (false, false, false) => Self::GeneralRetain,
        }
    }

    /// The stable ASCII code, equal to the JSON form.
    pub fn code(self) -> &'static str {
        self.labels().0
    }

    pub fn label_zh(self) -> &'static str {
        self.labels().1
    }

    fn labels(self) -> (&'static str, &'static str) {
        match self {
            Self::ImportantValue => ("important_value", "重要价值客户"),
            Self::ImportantDevelop => ("important_develop", "重要发展客户"),
            Self::ImportantKeep => ("important_keep", "重要保持客户"),
            Self::ImportantRetain => ("important_retain", "重要挽留客户"),
            Self::GeneralValue => ("general_value", "一般价值客户"),
            Self::GeneralDevelop => ("general_develop", "一般发展客户"),
            Self::GeneralKeep => ("general_keep", "一般保持客户"),
            Self::GeneralRetain => ("general_retain", "一般挽留客户"),
            Self::NoPurchase => ("no_purchase", "无购买"),
        }
    }
}

/// The population means the value segments were cut at, for the dashboard to show.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ValueThresholds {
    pub buyers: u64,
    pub mean_recency_days: f64,
    pub mean_frequency: f64,
    pub mean_monetary_minor: f64,
}

/// Segments in input order, and the means they were cut at (`None` when nobody bought).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueSegmentation {
    pub thresholds: Option<ValueThresholds>,
    pub segments: Vec<ValueSegment>,
}

/// Assigns the eight value segments. Among buyers: R is high when recency_days ≤ mean (at least
/// as recent as average), F high when frequency ≥ mean, M high when monetary_minor ≥ mean; a
/// member exactly at the mean counts as high on every dimension. The comparison is made exactly
/// in integers (value × buyers against the sum), so no rounding of the mean can flip a member.
pub fn value_segments(members: &[MemberSummary]) -> Result<ValueSegmentation, InsightError> {
    check_members(members)?;
    let (mut n, mut sum_r, mut sum_f, mut sum_m) = (0_i128, 0_i128, 0_i128, 0_i128);
    for m in members.iter().filter(|m| m.is_buyer()) {
        n += 1;
        sum_r += i128::from(m.recency_days.unwrap_or(0));
        sum_f += i128::from(m.frequency);
        sum_m += i128::from(m.monetary_minor);
    }
    if n == 0 {
        return Ok(ValueSegmentation { thresholds: None, segments: vec![ValueSegment::NoPurchase; members.len()] });
    }
    let segments = members
        .iter()
        .map(|m| match m.recency_days.filter(|_| m.is_buyer()) {
            None => ValueSegment::NoPurchase,
            Some(recency) => ValueSegment::from_levels(
                i128::from(recency) * n <= sum_r,
                i128::from(m.frequency) * n >= sum_f,
                i128::from(m.monetary_minor) * n >= sum_m,
            ),
        })
        .collect();
    let mean = |sum: i128| sum as f64 / n as f64;
    let thresholds = ValueThresholds {
        buyers: n as u64,
        mean_recency_days: mean(sum_r),
        mean_frequency: mean(sum_f),
        mean_monetary_minor: mean(sum_m),
    };
    Ok(ValueSegmentation { thresholds: Some(thresholds), segments })
}

/// The eleven segments of the RFM score map, plus `no_purchase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreSegment {
    Champions,
    Loyal,
    PotentialLoyalist,
    NewCustomers,
    Promising,
    NeedAttention,
    AboutToSleep,
    AtRisk,
    CantLose,
    Hibernating,
    Lost,
    NoPurchase,
}

use ScoreSegment as S;

/// SCORE_MAP[R − 1][FM − 1]. Total by construction: every one of the 25 cells names exactly one
/// segment. Rows are R = 1 (oldest) to 5 (most recent); columns FM = 1 to 5.
pub const SCORE_MAP: [[ScoreSegment; 5]; 5] = [
    [S::Lost, S::Lost, S::AtRisk, S::AtRisk, S::CantLose],
    [S::Hibernating, S::Hibernating, S::AtRisk, S::AtRisk, S::CantLose],
    [S::AboutToSleep, S::AboutToSleep, S::NeedAttention, S::Loyal, S::Loyal],
    [S::Promising, S::PotentialLoyalist, S::PotentialLoyalist, S::Loyal, S::Loyal],
    [S::NewCustomers, S::PotentialLoyalist, S::PotentialLoyalist, S::Champions, S::Champions],
];

impl ScoreSegment {
    pub const ALL: [Self; 12] = [
        S::Champions,
        S::Loyal,
        S::PotentialLoyalist,
        S::NewCustomers,
        S::Promising,
        S::NeedAttention,
        S::AboutToSleep,
        S::AtRisk,
        S::CantLose,
        S::Hibernating,
        S::Lost,
        S::NoPurchase,
    ];

    /// The segment of one member's scores (`None`: no order in the window).
    pub fn of(scores: Option<RfmScores>) -> Self {
        match scores {
            None => S::NoPurchase,
            Some(s) => SCORE_MAP[usize::from(s.r.clamp(1, 5)) - 1][usize::from(s.fm().clamp(1, 5)) - 1],
        }
    }

    /// The stable ASCII code, equal to the JSON form.
    pub fn code(self) -> &'static str {
        self.labels().0
    }

    pub fn label_zh(self) -> &'static str {
        self.labels().1
    }

    fn labels(self) -> (&'static str, &'static str) {
        match self {
            S::Champions => ("champions", "冠军客户"),
            S::Loyal => ("loyal", "忠诚客户"),
            S::PotentialLoyalist => ("potential_loyalist", "潜在忠诚客户"),
            S::NewCustomers => ("new_customers", "新客户"),
            S::Promising => ("promising", "有潜力客户"),
            S::NeedAttention => ("need_attention", "需要关注"),
            S::AboutToSleep => ("about_to_sleep", "即将沉睡"),
            S::AtRisk => ("at_risk", "有流失风险"),
            S::CantLose => ("cant_lose", "不能失去"),
            S::Hibernating => ("hibernating", "休眠客户"),
            S::Lost => ("lost", "已流失"),
            S::NoPurchase => ("no_purchase", "无购买"),
        }
    }
}

/// Score segments for a whole scoring, in the same order.
pub fn score_segments(scores: &[Option<RfmScores>]) -> Vec<ScoreSegment> {
    scores.iter().map(|&s| ScoreSegment::of(s)).collect()
}

#[cfg(test)]
mod tests;
