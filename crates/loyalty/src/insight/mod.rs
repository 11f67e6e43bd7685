//! Member insight: RFM segments, lifecycle, churn and lifetime value, KPIs and the report.

pub mod cli;
pub mod http;

use loyalty_core::Program;
use loyalty_store::Store;
use std::sync::Arc;

/// The daily insight run inside `loyalty serve`.
pub async fn daily(store: Arc<dyn Store>, program: Arc<Program>) {
    let _ = (store, program);
}
