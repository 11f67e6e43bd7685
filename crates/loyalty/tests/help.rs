//! `--help` lists, for each command, the flags it uses and no other, and says what each does.

use std::process::Command;

fn help(command: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_loyalty")).args(command).arg("--help").output().unwrap();
    assert!(out.status.success(), "{command:?} --help: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn each_command_lists_only_the_flags_it_uses() {
    let (database, program) = ("--database-url", "--program");
    let text = help(&["check-config"]);
    assert!(!text.contains(database) && !text.contains(program), "check-config:\n{text}");
    for command in [&["rebuild-activity"][..], &["keys", "create"], &["export", "segments"]] {
        let text = help(command);
        assert!(text.contains(database) && !text.contains(program), "{command:?}:\n{text}");
    }
    // verify counts per-member limits by day, week and month in the programme's time zone.
    for command in [&["serve"][..], &["import"], &["jobs", "run"], &["insight"], &["report"], &["verify"]] {
        let text = help(command);
        assert!(text.contains(database) && text.contains(program), "{command:?}:\n{text}");
    }
}

/// The benchmarks are a binary of their own (`loyalty-bench`): the product has none of them.
#[test]
fn the_product_binary_has_no_benchmark_commands() {
    for command in ["bench", "bench-tiers", "bench-insight"] {
        let out = Command::new(env!("CARGO_BIN_EXE_loyalty")).arg(command).arg("--help").output().unwrap();
        assert!(!out.status.success(), "{command} is still a command of the product binary");
    }
}

#[test]
fn serve_names_the_admin_key_variable_and_import_explains_batch() {
    let serve = help(&["serve"]);
    assert!(serve.contains("LOYALTY_ADMIN_KEY") && serve.contains("loyalty keys create"), "{serve}");
    let import = help(&["import"]);
    let batch = import.lines().find(|l| l.trim_start().starts_with("--batch")).expect("--batch is listed");
    assert!(batch.contains("Rows per transaction"), "{batch}");
}

#[test]
fn the_database_url_is_never_echoed_from_the_environment() {
    let out = Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .args(["serve", "--help"])
        .env("LOYALTY_DATABASE_URL", "postgres://shop:s3cret@db/loyalty")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("LOYALTY_DATABASE_URL") && !text.contains("s3cret"), "{text}");
}

#[test]
fn logs_into_a_pipe_carry_no_colour_codes() {
    // serve warns of the missing admin key, then fails on an address it cannot bind.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_loyalty"))
        .args(["serve", "--database-url", &url, "--listen", "256.0.0.1:1"])
        .env("LOYALTY_LOG", "info")
        .env_remove("LOYALTY_ADMIN_KEY")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("LOYALTY_ADMIN_KEY is not set"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no ANSI escapes: {stderr:?}");
}
