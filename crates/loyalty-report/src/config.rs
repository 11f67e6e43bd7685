//! What member insight is configured with: the RFM window and method, the segment scheme shown
//! by default, lifecycle thresholds, the prediction horizon and the CLV settings.
//!
//! Read from the `[insight]` section of the programme file; every field has the documented
//! default, so no section at all means the defaults. The programme loader validates the section
//! (so `check-config` and start-up reject a bad one, naming the field). Each run stores the
//! configuration it used, and the API interprets stored results with that one.

use loyalty_core::config_file::{in_range, out_of_range, ConfigError, ConfigIssue, Named};
use loyalty_insight::clv::ClvConfig;
use loyalty_insight::lifecycle::LifecycleConfig;
use loyalty_insight::rfm::RfmMethod;
use loyalty_insight::{FitOptions, InsightError};
use serde::{Deserialize, Serialize};
/// Longest RFM window (ten years).
pub const MAX_WINDOW_DAYS: u32 = 3_650;
/// Longest prediction horizon.
pub const MAX_HORIZON_DAYS: u32 = 3_650;

/// The segment schemes: the 8 value segments (八类客户), the 11 score segments, and the
/// lifecycle stages listed like segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    Value,
    Score,
    Lifecycle,
}

impl Scheme {
    pub const ALL: [Scheme; 3] = [Scheme::Value, Scheme::Score, Scheme::Lifecycle];

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Value => "value",
            Scheme::Score => "score",
            Scheme::Lifecycle => "lifecycle",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Every segment code of the scheme with its Chinese label, in display order.
    pub fn segments(self) -> Vec<(&'static str, &'static str)> {
        use loyalty_insight::lifecycle::LifecycleStage;
        use loyalty_insight::segments::{ScoreSegment, ValueSegment};
        match self {
            Scheme::Value => ValueSegment::ALL.iter().map(|s| (s.code(), s.label_zh())).collect(),
            Scheme::Score => ScoreSegment::ALL.iter().map(|s| (s.code(), s.label_zh())).collect(),
            Scheme::Lifecycle => LifecycleStage::ALL.iter().map(|s| (s.code(), s.label_zh())).collect(),
        }
    }

    pub fn label(self, code: &str) -> Option<&'static str> {
        self.segments().into_iter().find(|(c, _)| *c == code).map(|(_, l)| l)
    }
}

impl Named for Scheme {
    const ALL: &'static [Self] = &Scheme::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InsightConfig {
    /// RFM window in days, ending at the analysis instant.
    #[serde(deserialize_with = "in_range::<_, _, 1, { MAX_WINDOW_DAYS as i64 }>")]
    pub window_days: u32,
    /// `quintiles` (default) or `fixed` with `recency_days`, `frequency`, `monetary_minor` boundaries.
    pub rfm: RfmMethod,
    /// The scheme `GET /v1/segments` and the report show when none is asked for.
    #[serde(deserialize_with = "loyalty_core::config_file::named")]
    pub scheme: Scheme,
    pub lifecycle: LifecycleConfig,
    /// "Expected purchases in the next N days".
    #[serde(deserialize_with = "in_range::<_, _, 1, { MAX_HORIZON_DAYS as i64 }>")]
    pub horizon_days: u32,
    /// CLV: `steps` × `step_length` days, discounted by `discount_rate_per_step`, times `margin`.
    pub clv: ClvConfig,
    pub fit: FitOptions,
    /// Hour of the day (programme time zone) at which `loyalty serve` runs insight.
    #[serde(deserialize_with = "in_range::<_, _, 0, 23>")]
    pub daily_hour: u8,
}

impl Default for InsightConfig {
    fn default() -> Self {
        Self {
            window_days: 365,
            rfm: RfmMethod::Quintiles,
            scheme: Scheme::Value,
            lifecycle: LifecycleConfig::default(),
            horizon_days: 90,
            clv: ClvConfig::default(),
            fit: FitOptions::default(),
            daily_hour: 3,
        }
    }
}

impl InsightConfig {
    /// Every problem of the section, each under its full key (`insight.lifecycle.p_alive_floor`).
    pub fn issues(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut bad =
            |field: &str, reason: String| issues.push(ConfigIssue { field: format!("insight.{field}"), reason });
        for (field, v, hi) in
            [("window_days", self.window_days, MAX_WINDOW_DAYS), ("horizon_days", self.horizon_days, MAX_HORIZON_DAYS)]
        {
            if let Some(reason) = out_of_range(v.into(), 1, hi.into()) {
                bad(field, reason);
            }
        }
        if let Some(reason) = out_of_range(self.daily_hour.into(), 0, 23) {
            bad("daily_hour", reason);
        }
        let mut sub = |table: &str, r: Result<(), InsightError>| match r {
            Err(InsightError::InvalidConfig { field, reason }) if field == table => bad(table, reason),
            Err(InsightError::InvalidConfig { field, reason }) => bad(&format!("{table}.{field}"), reason),
            Err(e) => bad(table, e.to_string()),
            Ok(()) => {}
        };
        if let RfmMethod::Fixed(b) = &self.rfm {
            sub("rfm", b.validate());
        }
        sub("lifecycle", self.lifecycle.validate());
        sub("clv", self.clv.validate());
        sub("fit", self.fit.validate());
        issues
    }

    /// Checks every field; the message names the first field at fault.
    pub fn validate(&self) -> anyhow::Result<()> {
        match self.issues().into_iter().next() {
            Some(issue) => anyhow::bail!("{issue}"),
            None => Ok(()),
        }
    }

    /// Parses a section written on its own (keys are still named under `insight.`).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::from_table(&loyalty_core::config_file::from_toml(text)?)
    }

    /// The `[insight]` table of a programme file; errors name the full key under `insight.`.
    pub fn from_table(table: &toml::Table) -> Result<Self, ConfigError> {
        let c: Self = loyalty_core::config_file::from_table(table, "insight")?;
        match c.issues() {
            issues if issues.is_empty() => Ok(c),
            issues => Err(ConfigError(issues)),
        }
    }

    /// The configuration a loaded programme carries.
    pub fn from_program(program: &loyalty_core::Program) -> Result<Self, ConfigError> {
        Self::from_table(&program.file.insight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_means_the_defaults_and_bad_fields_are_named() {
        assert_eq!(InsightConfig::from_toml("").unwrap(), InsightConfig::default());
        let fixed = "[rfm]\nmethod = \"fixed\"\nrecency_days = [7, 30, 90, 180]\n\
                     frequency = [2, 4, 8, 16]\nmonetary_minor = [1, 2, 3, 4]\n";
        assert!(matches!(InsightConfig::from_toml(fixed).unwrap().rfm, RfmMethod::Fixed(_)));
        let err = InsightConfig::from_toml("window_days = 0").unwrap_err().to_string();
        assert!(err.contains("window_days"), "{err}");
        let err = InsightConfig::from_toml("windowdays = 3").unwrap_err().to_string();
        assert!(err.contains("windowdays"), "{err}");
        assert_eq!(Scheme::Score.label("champions"), Some("冠军客户"));
    }
}
