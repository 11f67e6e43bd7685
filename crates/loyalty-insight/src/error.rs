//! The one error type of the crate. Each variant has a stable machine code so the server can map
//! it to a response without parsing messages.

/// Why an analysis was refused or could not finish.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InsightError {
    /// There was nothing to analyse (no members, or no member the model can use).
    #[error("no {what} to analyse")]
    Empty { what: &'static str },
    /// One input row breaks a rule the analysis relies on; the row is named so it can be fixed.
    #[error("{what} {id}: {reason}")]
    InvalidInput { what: &'static str, id: String, reason: String },
    /// Two members share an id, which would make the quintile tie-break ambiguous.
    #[error("member id {0} appears more than once")]
    DuplicateMemberId(String),
    /// A configuration value is out of range.
    #[error("config {field}: {reason}")]
    InvalidConfig { field: &'static str, reason: String },
    /// Model parameters are not finite positive numbers, or a prediction needs a condition they
    /// do not meet (for example q > 1 for a finite mean spend).
    #[error("parameter {name} = {value}: {reason}")]
    InvalidParameter { name: &'static str, value: f64, reason: &'static str },
    /// The data cannot identify the model (for example no member ever bought again).
    #[error("the data cannot identify the model: {0}")]
    Unidentifiable(&'static str),
    /// A series or fit did not reach its tolerance within its limit.
    #[error("{what} did not converge within {limit} steps")]
    NoConvergence { what: &'static str, limit: u64 },
    /// A result came out NaN or infinite, which only happens on extreme inputs.
    #[error("{0} is not a finite number")]
    NonFinite(&'static str),
}

impl InsightError {
    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty { .. } => "empty_input",
            Self::InvalidInput { .. } => "invalid_input",
            Self::DuplicateMemberId(_) => "duplicate_member_id",
            Self::InvalidConfig { .. } => "invalid_config",
            Self::InvalidParameter { .. } => "invalid_parameter",
            Self::Unidentifiable(_) => "unidentifiable",
            Self::NoConvergence { .. } => "no_convergence",
            Self::NonFinite(_) => "non_finite",
        }
    }

    pub(crate) fn invalid(what: &'static str, id: impl ToString, reason: impl Into<String>) -> Self {
        Self::InvalidInput { what, id: id.to_string(), reason: reason.into() }
    }

    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidConfig { field, reason: reason.into() }
    }
}

/// Checks that a model parameter is a finite number above zero.
pub(crate) fn positive(name: &'static str, value: f64) -> Result<f64, InsightError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(InsightError::InvalidParameter { name, value, reason: "must be a finite number above zero" })
    }
}
