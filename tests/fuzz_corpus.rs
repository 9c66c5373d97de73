//! The fuzz corpus (fuzz/corpus/<target>/, kept in the repository and grown by scripts/fuzz)
//! replayed through the fuzz targets' own checks on the stable toolchain, so that an input that
//! once found a bug, or that the fuzzer found interesting, fails the normal test suite if it
//! regresses. The checks are fuzz/src/lib.rs, included here as it is.
#![allow(
    clippy::print_stderr,
    reason = "prints the figures of docs/reliability.md"
)]

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod fuzz_checks;

use std::path::Path;

#[test]
fn every_corpus_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut replayed = 0;
    for (target, check) in fuzz_checks::targets::ALL {
        let dir = root.join(target);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{} has no corpus", dir.display());
        for input in inputs {
            let data = std::fs::read(&input).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "{target}: {} fails its check",
                input.display()
            );
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} corpus inputs");
}

/// Every target in fuzz/Cargo.toml is replayed above.
#[test]
fn every_fuzz_target_has_a_replay() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml"))
            .unwrap();
    let mut declared: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|l| l.trim_end_matches('"'))
        .filter(|n| *n != "fluxloop-fuzz")
        .collect();
    declared.sort();
    let replayed: Vec<&str> = fuzz_checks::targets::ALL.iter().map(|(n, _)| *n).collect();
    assert_eq!(declared, replayed);
}
