//! Member insight over the store: RFM segments, lifecycle, churn and lifetime value, KPIs and
//! the report.
//!
//! The analytic core is the pure crate `loyalty-insight`; this crate feeds it from the store
//! (`compute`, `analysis`, `models`), keeps its results (`loyalty-store`'s `Analytics`), runs it
//! daily (`daily`), sums the KPIs (`kpi`), and draws and exports them (`svg`, `report`,
//! `export`). Its HTTP handlers live in `loyalty-http`. Definitions: docs/INSIGHT.md and
//! docs/METRICS.md.

pub mod analysis;
pub mod compute;
pub mod config;
pub mod daily;
pub mod export;
pub mod kpi;
pub mod membership;
pub mod membership_section;
pub mod models;
pub mod report;
pub mod rewards_section;
pub mod svg;

pub use daily::{daily, next_run};
