//! `loyalty`: the membership engine's one binary.

fn main() -> std::process::ExitCode {
    loyalty::cli::main()
}
