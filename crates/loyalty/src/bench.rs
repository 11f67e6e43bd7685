//! `loyalty bench` (being written).

#[derive(clap::Args, Debug)]
pub struct Args {}

pub async fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("bench: coming in the next commit")
}
