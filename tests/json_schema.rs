//! The published JSON Schemas (docs/schema/) and README's "JSON output" section are what the
//! document types say, so neither can drift from the code. `UPDATE_SCHEMAS=1 cargo test --test
//! json_schema` rewrites both.

mod common;

use std::path::{Path, PathBuf};

use common::schema::Schema;
use serde_json::{Value, json};

const REGENERATE: &str = "UPDATE_SCHEMAS=1 cargo test --test json_schema";
const CODES_START: &str = "<!-- error-codes: generated from ErrorCode by tests/json_schema.rs -->";
const CODES_END: &str = "<!-- error-codes: end -->";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn updating() -> bool {
    std::env::var_os("UPDATE_SCHEMAS").is_some_and(|v| !v.is_empty())
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

fn schema(name: &str) -> Value {
    fluxloop::json_schemas()
        .into_iter()
        .find(|(file, _)| *file == name)
        .map(|(_, schema)| schema.to_value())
        .unwrap_or_else(|| panic!("no schema {name}"))
}

#[test]
fn published_schemas_match_the_document_types() {
    let dir = root().join("docs/schema");
    let mut stale = Vec::new();
    for (file, schema) in fluxloop::json_schemas() {
        let path: PathBuf = dir.join(file);
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        if updating() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale or missing: {}\nthe document types in src/commands/json.rs changed; run `{REGENERATE}` and commit docs/schema/",
        stale.join(", ")
    );
}

/// `(code, description)` of every `ErrorCode`, from the published error schema.
fn error_codes() -> Vec<(String, String)> {
    let schema = schema("error.schema.json");
    let variants = schema["$defs"]["ErrorCode"]["oneOf"]
        .as_array()
        .expect("ErrorCode is a oneOf of documented constants");
    variants
        .iter()
        .map(|v| {
            let code = v["const"].as_str().expect("a string constant").to_string();
            let description = v["description"]
                .as_str()
                .unwrap_or_else(|| panic!("ErrorCode::{code} has no doc comment"))
                .replace('\n', " ");
            (code, description)
        })
        .collect()
}

fn error_codes_table() -> String {
    let mut table = String::from("| `error.code` | meaning |\n|---|---|\n");
    for (code, description) in error_codes() {
        table.push_str(&format!("| `{code}` | {description} |\n"));
    }
    table
}

#[test]
fn readme_lists_every_error_code_with_its_description() {
    let codes = error_codes();
    assert!(codes.len() > 20, "{codes:?}");
    let readme = readme();
    let (Some(start), Some(end)) = (readme.find(CODES_START), readme.find(CODES_END)) else {
        panic!("README.md lacks the markers {CODES_START} and {CODES_END}");
    };
    let body_start = start + CODES_START.len() + 1;
    let current = &readme[body_start..end];
    let wanted = error_codes_table();
    if current == wanted {
        return;
    }
    if updating() {
        let updated = format!("{}{wanted}{}", &readme[..body_start], &readme[end..]);
        std::fs::write(root().join("README.md"), updated).unwrap();
        return;
    }
    panic!(
        "README.md's error code table is not ErrorCode's (src/error/mod.rs); run `{REGENERATE}`\n--- README\n{current}--- wanted\n{wanted}"
    );
}

/// Every field path of a schema, `key.expires_at`, `projects[].organization`, resolving `$ref`s.
fn field_paths(schema: &Value, defs: &Value, prefix: &str, out: &mut Vec<String>) {
    let schema = match schema["$ref"].as_str() {
        Some(r) => &defs[r.trim_start_matches("#/$defs/")],
        None => schema,
    };
    if let Some(items) = schema.get("items") {
        field_paths(items, defs, &format!("{prefix}[]"), out);
    }
    let Some(properties) = schema["properties"].as_object() else {
        return;
    };
    for (name, sub) in properties {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        out.push(path.clone());
        field_paths(sub, defs, &path, out);
    }
}

#[test]
fn readme_describes_every_field_of_every_document() {
    let readme = readme();
    let mut missing = Vec::new();
    for (file, schema) in fluxloop::json_schemas() {
        let schema = schema.to_value();
        let mut paths = Vec::new();
        field_paths(&schema, &schema["$defs"], "", &mut paths);
        assert!(!paths.is_empty(), "{file} has no fields");
        for path in paths {
            if !readme.contains(&format!("| `{path}` |")) {
                missing.push(format!("{file}: {path}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "README.md \"JSON output\" has no table row (| `field` | ...) for:\n{}",
        missing.join("\n")
    );
}

// The e2e tests check every document they read against these schemas; that is worth something
// only if the schemas turn away what the documents must not be.
#[test]
fn published_schemas_reject_what_the_documents_must_not_be() {
    let failure = json!({
        "schema_version": 1,
        "authenticated": false,
        "profile": "default",
        "error": { "code": "not_logged_in", "message": "Not logged in (profile 'default')" },
    });
    Schema::Error.assert_valid(&failure);
    let mut unknown_code = failure.clone();
    unknown_code["error"]["code"] = json!("no_such_code");
    let mut authenticated = failure.clone();
    authenticated["authenticated"] = json!(true);
    let mut no_message = failure.clone();
    no_message["error"]
        .as_object_mut()
        .unwrap()
        .remove("message");
    for bad in [unknown_code, authenticated, no_message] {
        assert!(!Schema::Error.violations(&bad).is_empty(), "{bad:#}");
    }

    let whoami = json!({
        "schema_version": 1,
        "account": { "id": null, "email": "a@example.com" },
        "organizations": [],
        "projects": [ { "id": null, "name": "bot", "organization": null } ],
        "api_access": true,
        "plan": { "name": "Enterprise", "runs_per_month": null, "unlimited": true },
        "usage": { "runs_this_month": 5, "period_start": null },
    });
    Schema::Whoami.assert_valid(&whoami);
    let mut bad_date = whoami.clone();
    bad_date["usage"]["period_start"] = json!("last Tuesday");
    let mut version_2 = whoami.clone();
    version_2["schema_version"] = json!(2);
    let mut negative = whoami.clone();
    negative["usage"]["runs_this_month"] = json!(-1);
    for bad in [bad_date, version_2, negative] {
        assert!(!Schema::Whoami.violations(&bad).is_empty(), "{bad:#}");
    }

    let list = json!({
        "schema_version": 1,
        "profiles": [ {
            "name": "default", "active": true, "account": "a@example.com", "environment": "dev",
            "key_name": "laptop", "key_created_at": "2024-01-16T09:12:00Z",
            "expiry": "date", "expires_at": "2024-04-15T23:59:59Z", "days_remaining": 84,
            "storage": "keychain", "api_url": "https://api.fluxloop.ai", "keychain_entry": null,
        } ],
        "active": { "name": "default", "reason": "default", "bound_directory": null, "exists": true },
        "environment_key": false,
        "check": null,
    });
    Schema::List.assert_valid(&list);
    let mut bad_storage = list.clone();
    bad_storage["profiles"][0]["storage"] = json!("vault");
    let mut bad_reason = list.clone();
    bad_reason["active"]["reason"] = json!("because");
    let mut no_url = list.clone();
    no_url["profiles"][0]
        .as_object_mut()
        .unwrap()
        .remove("api_url");
    for bad in [bad_storage, bad_reason, no_url] {
        assert!(!Schema::List.violations(&bad).is_empty(), "{bad:#}");
    }
}
