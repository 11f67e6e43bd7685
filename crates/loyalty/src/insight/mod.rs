//! Member insight: RFM segments, lifecycle, churn and lifetime value, KPIs and the report.
//! The analytics themselves live in the `loyalty-insight` crate; the server side (stored
//! results, endpoints, KPIs, the report) plugs in here: its routes, OpenAPI paths and commands
//! are already wired into the router, the document and the CLI.

pub mod cli;
pub mod http;
