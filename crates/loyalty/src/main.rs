//! `loyalty`: the membership engine's one binary.

mod bench;
mod cli;
mod engine;
mod http;
mod import;
mod jobs;

fn main() -> std::process::ExitCode {
    cli::main()
}
