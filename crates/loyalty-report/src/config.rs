//! What member insight is configured with: the RFM window and method, the segment scheme shown
//! by default, lifecycle thresholds, the prediction horizon and the CLV settings.
//!
//! Read from the `[insight]` section of the programme file; every field has the documented
//! default, so no section at all means the defaults. The programme loader validates the section
//! (so `check-config` and start-up reject a bad one, naming the field). Each run stores the
//! configuration it used, and the API interprets stored results with that one.

use loyalty_insight::clv::ClvConfig;
use loyalty_insight::lifecycle::LifecycleConfig;
use loyalty_insight::rfm::RfmMethod;
use loyalty_insight::FitOptions;
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InsightConfig {
    /// RFM window in days, ending at the analysis instant.
    pub window_days: u32,
    /// `quintiles` (default) or `fixed` with `recency_days`, `frequency`, `monetary_minor` boundaries.
    pub rfm: RfmMethod,
    /// The scheme `GET /v1/segments` and the report show when none is asked for.
    pub scheme: Scheme,
    pub lifecycle: LifecycleConfig,
    /// "Expected purchases in the next N days".
    pub horizon_days: u32,
    /// CLV: `steps` × `step_length` days, discounted by `discount_rate_per_step`, times `margin`.
    pub clv: ClvConfig,
    pub fit: FitOptions,
    /// Hour of the day (programme time zone) at which `loyalty serve` runs insight.
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
    /// Checks every field; the message names the field at fault.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.window_days == 0 || self.window_days > MAX_WINDOW_DAYS {
            anyhow::bail!("window_days: {} is outside 1..={MAX_WINDOW_DAYS}", self.window_days);
        }
        if self.horizon_days == 0 || self.horizon_days > MAX_HORIZON_DAYS {
            anyhow::bail!("horizon_days: {} is outside 1..={MAX_HORIZON_DAYS}", self.horizon_days);
        }
        if self.daily_hour > 23 {
            anyhow::bail!("daily_hour: {} is not an hour of the day (0–23)", self.daily_hour);
        }
        if let RfmMethod::Fixed(b) = &self.rfm {
            b.validate().map_err(|e| anyhow::anyhow!("rfm: {e}"))?;
        }
        self.lifecycle.validate().map_err(|e| anyhow::anyhow!("lifecycle: {e}"))?;
        Ok(())
    }

    pub fn from_toml(text: &str) -> anyhow::Result<Self> {
        let table: toml::Table = toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.message().trim()))?;
        Self::from_table(&table)
    }

    /// The `[insight]` table of a programme file; errors name the field under `insight.`.
    pub fn from_table(table: &toml::Table) -> anyhow::Result<Self> {
        let c: Self = toml::Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| anyhow::anyhow!("insight: {}", e.message().trim()))?;
        c.validate().map_err(|e| anyhow::anyhow!("insight.{e}"))?;
        Ok(c)
    }

    /// The configuration a loaded programme carries.
    pub fn from_program(program: &loyalty_core::Program) -> anyhow::Result<Self> {
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
