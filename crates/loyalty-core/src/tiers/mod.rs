//! Growth tiers: growth value, upgrade, retention with warning and grace, downgrade,
//! assignment, and the multipliers tiers give. Pure: every rule takes `now`.

pub mod activity;
pub mod checks;
pub mod config;
pub mod rules;
pub mod status;

pub use activity::*;
pub use config::*;
pub use rules::*;
pub use status::*;
