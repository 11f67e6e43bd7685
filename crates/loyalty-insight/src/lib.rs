//! Member analytics of the Loyalty engine: RFM scores and segments, lifecycle stages, and the
//! BG/NBD + Gamma-Gamma models behind churn risk and customer lifetime value.
//!
//! Pure functions over per-member summaries: no I/O, no clock. Time comes in as arguments
//! (days since the analysis instant, or model time units), so the server, the importer and the
//! simulator all get the same answers. Definitions and tested tolerances: `docs/INSIGHT.md`.

pub mod bgnbd;
pub mod clv;
mod error;
pub mod gamma_gamma;
pub mod lifecycle;
pub mod membership;
mod optimize;
pub mod rfm;
pub mod segments;
pub mod special;

pub use error::InsightError;
pub use optimize::{FitOptions, MAX_FIT_ITERATIONS};
