//! The layers of docs/design.md, kept by a test: the core modules (api/, secrets/, profiles/,
//! keys.rs, terminal.rs) never reach up into the command layer (commands/, cli, output, error,
//! context), so errors and text flow one way.

use std::path::{Path, PathBuf};

const CORE: &[&str] = &[
    "src/api",
    "src/secrets",
    "src/profiles",
    "src/keys.rs",
    "src/terminal.rs",
];
const COMMAND_LAYER: &[&str] = &[
    "crate::commands",
    "crate::cli",
    "crate::output",
    "crate::error",
    "crate::context",
];

fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).unwrap().flatten() {
        out.extend(rust_files(&entry.path()));
    }
    out.retain(|p| p.extension().is_some_and(|e| e == "rs"));
    out
}

#[test]
fn core_modules_never_import_the_command_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut offences = Vec::new();
    let mut files = 0;
    for dir in CORE {
        for file in rust_files(&root.join(dir)) {
            files += 1;
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                if COMMAND_LAYER.iter().any(|m| line.contains(m)) {
                    offences.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        files >= 8,
        "found only {files} core files: did the layout change?"
    );
    assert!(
        offences.is_empty(),
        "core modules import the command layer:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_check_sees_an_offence() {
    // The same scan over a line that breaks the rule, so the test above can fail.
    let line = "use crate::commands::auth;";
    assert!(COMMAND_LAYER.iter().any(|m| line.contains(m)));
}
