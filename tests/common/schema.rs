//! Every `--json` document a test reads is checked against its published schema (docs/schema/),
//! so the schemas describe what the binary prints, not only what the types say.

// Each test binary uses a different subset.
#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;

use super::env::Run;

/// The published schemas, one per document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// `status --json` when the key works.
    Status,
    /// `whoami --json` when the request succeeds.
    Whoami,
    /// `list --json`.
    List,
    /// `auth doctor --json`.
    Doctor,
    /// Any `--json` command that fails.
    Error,
}

impl Schema {
    pub fn file(self) -> &'static str {
        match self {
            Schema::Status => "status.schema.json",
            Schema::Whoami => "whoami.schema.json",
            Schema::List => "list.schema.json",
            Schema::Doctor => "doctor.schema.json",
            Schema::Error => "error.schema.json",
        }
    }

    /// The schema as published in docs/schema/.
    pub fn published(self) -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs/schema")
            .join(self.file());
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
    }

    /// Why `doc` does not follow the schema, one line per violation; empty when it does.
    /// Formats (`date-time`) are checked too.
    pub fn violations(self, doc: &Value) -> Vec<String> {
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&self.published())
            .unwrap_or_else(|e| panic!("{} is not a valid schema: {e}", self.file()));
        validator
            .iter_errors(doc)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect()
    }

    #[track_caller]
    pub fn assert_valid(self, doc: &Value) {
        let violations = self.violations(doc);
        assert!(
            violations.is_empty(),
            "the document does not follow docs/schema/{}:\n{}\n--- document\n{doc:#}",
            self.file(),
            violations.join("\n")
        );
    }
}

impl Run {
    /// Stdout as JSON, checked against the schema of the document it should be.
    #[track_caller]
    pub fn json_valid(&self, schema: Schema) -> Value {
        let doc = self.json();
        let violations = schema.violations(&doc);
        assert!(
            violations.is_empty(),
            "stdout does not follow docs/schema/{}:\n{}\n--- stdout\n{}\n--- stderr\n{}",
            schema.file(),
            violations.join("\n"),
            self.stdout,
            self.stderr
        );
        doc
    }
}
