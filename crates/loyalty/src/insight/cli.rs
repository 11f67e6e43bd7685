//! Insight commands, flattened into the top-level CLI (none yet).

use loyalty_core::Program;
use loyalty_store::Store;
use std::sync::Arc;

#[derive(clap::Subcommand)]
pub enum Commands {}

pub async fn run(cmd: Commands, _store: Arc<dyn Store>, _program: Program) -> anyhow::Result<std::process::ExitCode> {
    match cmd {}
}
