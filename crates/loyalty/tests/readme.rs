//! Every TOML block of the README and the docs is a programme file `loyalty check-config`
//! accepts on its own, and what it prints back is accepted too.

use std::path::Path;
use std::process::Command;

/// `loyalty check-config FILE`: (success, stdout, stderr).
fn check_config(file: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_loyalty")).arg("check-config").arg(file).output().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// The ```toml blocks of a Markdown file, each with the line its fence opens on.
fn toml_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match open.take() {
            None if line.trim_start().starts_with("```toml") => open = Some((i + 1, String::new())),
            None => {}
            Some(block) if line.trim_start().starts_with("```") => blocks.push(block),
            Some((start, mut text)) => {
                text.push_str(line);
                text.push('\n');
                open = Some((start, text));
            }
        }
    }
    assert!(open.is_none(), "a ```toml block is never closed");
    blocks
}

#[test]
fn every_toml_block_of_the_readme_and_docs_is_a_valid_programme_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for doc in ["README.md", "docs/METRICS.md"] {
        let markdown = std::fs::read_to_string(root.join(doc)).unwrap();
        for (line, text) in toml_blocks(&markdown) {
            let file = dir.path().join(format!("block-{checked}.toml"));
            std::fs::write(&file, &text).unwrap();
            let (ok, out, err) = check_config(&file);
            assert!(ok, "{doc}, the block at line {line}, is refused:\n{err}\n{text}");
            // What check-config prints, defaults filled in, is itself a valid file.
            let printed = out.split_once(": valid\n").expect("check-config names the file valid").1;
            std::fs::write(&file, printed).unwrap();
            let (ok, _, err) = check_config(&file);
            assert!(ok, "check-config's output for {doc}:{line} is refused:\n{err}\n{printed}");
            checked += 1;
        }
    }
    assert!(checked >= 4, "the README's three blocks and METRICS.md's one: {checked}");
}

#[test]
fn the_readme_spells_the_window_as_check_config_prints_it() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    let tiers = toml_blocks(&readme).into_iter().find(|(_, t)| t.contains("[tiers]")).expect("a tiers block").1;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiers.toml");
    std::fs::write(&file, &tiers).unwrap();
    let (ok, out, err) = check_config(&file);
    assert!(ok, "{err}");
    assert!(
        tiers.contains("window = \"rolling_12_months\"") && out.contains("window = \"rolling_12_months\""),
        "{out}"
    );
}
