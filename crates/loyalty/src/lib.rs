//! The Loyalty engine as a library: the binary `loyalty` is a thin `main` over [`cli::main`];
//! tests and benchmarks build the same app through [`app::Application::build`].

pub mod app;
pub mod cli;
pub mod insight_cli;
pub mod members_cli;

pub use app::{app, app_with_admin_key, Application, Settings};
