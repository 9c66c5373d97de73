//! The layers of docs/design.md, kept by a test: the core modules (api/, secrets/, profiles/,
//! terminal.rs, and the crate fluxloop-formats) never reach up into the command layer
//! (commands/, cli, output, error, context), so errors and text flow one way. And
//! fluxloop-formats stays pure: no file, network, process or environment, and only the
//! dependencies it has, so the fuzz targets that build it alone stay cheap to build.

use std::path::{Path, PathBuf};

const CORE: &[&str] = &[
    "src/api",
    "src/secrets",
    "src/profiles",
    "src/terminal.rs",
    FORMATS,
];
/// The pure formats (keys, the credentials file's model and parser, the API's answers).
const FORMATS: &str = "crates/fluxloop-formats/src";
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

/// What only fluxloop itself may do: IO of any kind, or reading the environment.
const IMPURE: &[&str] = &[
    "std::fs",
    "std::io",
    "std::net",
    "std::process",
    "std::env",
    "std::thread",
    "tokio",
    "reqwest",
];

/// The dependencies fluxloop-formats may have: each is pure, and is built again with sanitizer
/// flags for every cold fuzz build. Adding one is a decision (docs/reliability.md).
const FORMATS_DEPENDENCIES: &[&str] = &[
    "chrono",
    "clap",
    "indexmap",
    "secrecy",
    "serde",
    "serde_json",
    "serde-saphyr",
    "serde_path_to_error",
    "thiserror",
    "zeroize",
];

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
fn the_formats_crate_does_no_io_and_has_only_its_dependencies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut offences = Vec::new();
    let files = rust_files(&root.join(FORMATS));
    assert!(
        files.len() >= 8,
        "found only {} files in {FORMATS}: did the layout change?",
        files.len()
    );
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // The unit tests may use what they like.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            if IMPURE.iter().any(|m| line.contains(m)) {
                offences.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "fluxloop-formats does IO:\n{}",
        offences.join("\n")
    );

    let manifest =
        std::fs::read_to_string(root.join("crates/fluxloop-formats/Cargo.toml")).unwrap();
    let dependencies = manifest
        .split("\n[dependencies]\n")
        .nth(1)
        .expect("fluxloop-formats has a [dependencies] table");
    let names: Vec<&str> = dependencies
        .lines()
        .take_while(|line| !line.starts_with('['))
        .filter_map(|line| line.split_once(" = ").map(|(name, _)| name.trim()))
        .filter(|name| !name.starts_with('#'))
        .collect();
    assert!(names.contains(&"serde"), "no dependency found in {names:?}");
    let unexpected: Vec<&&str> = names
        .iter()
        .filter(|name| !FORMATS_DEPENDENCIES.contains(name))
        .collect();
    assert!(
        unexpected.is_empty(),
        "fluxloop-formats has new dependencies {unexpected:?}: each is built again for every \
         fuzz target, so keep them pure and few, then add them to FORMATS_DEPENDENCIES"
    );
}

#[test]
fn the_check_sees_an_offence() {
    // The same scan over a line that breaks the rule, so the test above can fail.
    let line = "use crate::commands::auth;";
    assert!(COMMAND_LAYER.iter().any(|m| line.contains(m)));
    let line = "    let text = std::fs::read_to_string(path)?;";
    assert!(IMPURE.iter().any(|m| line.contains(m)));
}
