//! Insight commands.

use loyalty_core::Program;
use loyalty_store::Store;
use std::sync::Arc;

#[derive(clap::Subcommand)]
pub enum Commands {
    /// Recomputes and stores member insight.
    Insight {},
}

pub async fn run(cmd: Commands, store: Arc<dyn Store>, program: Program) -> anyhow::Result<std::process::ExitCode> {
    let _ = (cmd, store, program);
    Ok(std::process::ExitCode::SUCCESS)
}
