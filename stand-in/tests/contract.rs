//! The stand-in against docs/platform-api.yaml, over real TCP.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use chrono::{DateTime, Timelike, Utc};
use fluxloop_stand_in::{Absurd, ESCAPES, Fault, HUGE_BODY_LEN, Hostile, Platform, keys};
use serde_json::{Value, json};
use support::{Response, exchange, parse, request, with_key};

const KEY: &str = "/api/auth/key";
const WHOAMI: &str = "/api/auth/whoami";

fn addr(p: &Platform) -> String {
    format!("127.0.0.1:{}", p.port())
}

fn get(p: &Platform, path: &str, key: &str) -> Response {
    with_key(&addr(p), "GET", path, key)
}

fn delete(p: &Platform, key: &str) -> Response {
    with_key(&addr(p), "DELETE", KEY, key)
}

/// Whole days left as a client computes them, or `None` in the last seconds of a UTC day,
/// when the answer legitimately depends on which side of midnight the client looks.
fn days_left(expires_at: &Value) -> Option<i64> {
    let now = Utc::now();
    if now.num_seconds_from_midnight() >= 86_400 - 3 {
        return None;
    }
    let expires = DateTime::parse_from_rfc3339(expires_at.as_str().unwrap()).unwrap();
    assert!(expires_at.as_str().unwrap().ends_with("T23:59:59Z"));
    Some((expires.with_timezone(&Utc) - now).num_days())
}

// ---------------------------------------------------------------------------------------
// Contract shape

fn contract_text() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/platform-api.yaml"
    ))
    .unwrap()
}

/// If the contract's `required` lists change, the field checks below must be revisited. Contract
/// 1.1 added the lists of browser login (`/api/cli-connect/*`: the first seven) and key rotation
/// (the last); the stand-in serves those endpoints with the browser-login and rotation work.
#[test]
fn contract_required_lists_are_the_ones_checked_here() {
    let found: Vec<String> = contract_text()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("required: ").map(str::to_string))
        .collect();
    assert_eq!(
        found,
        [
            "true",
            "[client_name, device_name]",
            "[device_code, user_code, verification_uri, expires_in, interval]",
            "true",
            "[device_code]",
            "false",
            "[error]",
            "[code, message]",
            "[email]",
            "[name, role]",
            "[key, account, organizations]",
            "[environment, expires_at, scopes, permissions]",
            "[all_projects]",
            "[account, organizations, projects, api_access, plan, usage]",
            "[name]",
            "[name]",
            "[runs_this_month]",
            "[api_key, key, account, organizations]",
        ]
    );
}

fn assert_has(obj: &Value, fields: &[&str], what: &str) {
    let map = obj
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object"));
    for field in fields {
        assert!(map.contains_key(*field), "{what} lacks required `{field}`");
    }
}

fn assert_account_and_orgs(body: &Value) {
    assert_has(&body["account"], &["email"], "account");
    assert!(body["account"]["email"].is_string());
    for org in body["organizations"].as_array().unwrap() {
        assert_has(org, &["name", "role"], "organization");
        assert!(org["name"].is_string() && org["role"].is_string());
    }
}

fn assert_key_info_shape(body: &Value) {
    assert_has(body, &["key", "account", "organizations"], "KeyInfo");
    let key = &body["key"];
    assert_has(
        key,
        &["environment", "expires_at", "scopes", "permissions"],
        "KeyInfo.key",
    );
    assert!(key["environment"].is_string());
    assert!(key["expires_at"].is_string() || key["expires_at"].is_null());
    assert_has(&key["scopes"], &["all_projects"], "KeyInfo.key.scopes");
    assert!(key["scopes"]["all_projects"].is_boolean());
    let permissions = key["permissions"].as_object().unwrap();
    assert!(permissions.values().all(Value::is_boolean));
    assert_account_and_orgs(body);
}

fn assert_whoami_shape(body: &Value) {
    assert_has(
        body,
        &[
            "account",
            "organizations",
            "projects",
            "api_access",
            "plan",
            "usage",
        ],
        "Whoami",
    );
    assert_account_and_orgs(body);
    for project in body["projects"].as_array().unwrap() {
        assert_has(project, &["name"], "project");
    }
    assert!(body["api_access"].is_boolean());
    assert_has(&body["plan"], &["name"], "plan");
    assert!(body["plan"]["runs_per_month"].is_u64() || body["plan"]["runs_per_month"].is_null());
    assert_has(&body["usage"], &["runs_this_month"], "usage");
    assert!(body["usage"]["runs_this_month"].is_u64());
}

#[test]
fn every_successful_response_has_the_required_fields() {
    let p = Platform::start();
    for key in [
        keys::VALID,
        keys::READ_ONLY,
        keys::PROJECT_SCOPED,
        keys::UNKNOWN_PERMISSION,
        keys::EXPIRING_SOON,
        keys::ECHO,
    ] {
        let info = get(&p, KEY, key);
        assert_eq!(info.status, 200, "{key}");
        assert_key_info_shape(&info.json());
        let env = key.split('_').nth(1).unwrap();
        assert_eq!(info.json()["key"]["environment"], env, "{key}");
        if key != keys::READ_ONLY {
            let me = get(&p, WHOAMI, key);
            assert_eq!(me.status, 200, "{key}");
            assert_whoami_shape(&me.json());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Fixture keys

#[test]
fn fixture_keys_are_well_formed_and_distinct() {
    let all = keys::all();
    assert_eq!(all.len(), 11);
    for (i, (name, key)) in all.iter().enumerate() {
        assert!(keys::is_well_formed(key), "{name}");
        let (env, secret) = key["flux_".len()..].split_once('_').unwrap();
        assert!(["dev", "prod", "test"].contains(&env), "{name}");
        if *key != keys::VALID {
            assert!(secret.len() >= 32, "{name}");
        }
        for (other_name, other) in &all[i + 1..] {
            assert_ne!(key, other);
            assert_ne!(
                key[key.len() - 4..],
                other[other.len() - 4..],
                "{name} {other_name}"
            );
        }
    }
}

#[test]
fn valid_key_is_the_contract_example_expiring_in_84_days() {
    let p = Platform::start();
    let mut body = get(&p, KEY, keys::VALID).json();
    if let Some(days) = days_left(&body["key"]["expires_at"]) {
        assert_eq!(days, keys::VALID_DAYS_REMAINING);
    }
    body["key"]["expires_at"] = json!("2024-04-15T00:00:00Z");
    let expected = json!({
        "key": {
            "id": "key_01HV8Y3M2N",
            "name": "laptop",
            "environment": "dev",
            "created_at": "2024-01-16T09:12:00Z",
            "expires_at": "2024-04-15T00:00:00Z",
            "scopes": { "all_projects": true, "projects": [] },
            "permissions": {
                "read_scenarios": true,
                "upload_results": true,
                "create_scenarios": true,
                "delete_scenarios": false,
                "manage_projects": false
            }
        },
        "account": { "id": "usr_42", "email": "john@example.com" },
        "organizations": [
            { "id": "org_1", "name": "Acme Inc", "role": "owner" },
            { "id": "org_2", "name": "Personal", "role": "member" }
        ]
    });
    assert_eq!(body, expected);
    // Clients show permissions in the platform's order.
    let names: Vec<_> = body["key"]["permissions"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        names,
        [
            "read_scenarios",
            "upload_results",
            "create_scenarios",
            "delete_scenarios",
            "manage_projects"
        ]
    );
}

#[test]
fn valid_whoami_is_the_contract_example() {
    let p = Platform::start();
    let expected = json!({
        "account": { "id": "usr_42", "email": "john@example.com" },
        "organizations": [
            { "id": "org_1", "name": "Acme Inc", "role": "owner" },
            { "id": "org_2", "name": "Personal", "role": "member" }
        ],
        "projects": [
            { "id": "prj_1", "name": "customer-support-bot", "organization": "Acme Inc" },
            { "id": "prj_2", "name": "sales-assistant", "organization": "Acme Inc" },
            { "id": "prj_3", "name": "analytics-agent", "organization": "Personal" }
        ],
        "api_access": true,
        "plan": { "name": "Team", "runs_per_month": 1000 },
        "usage": { "runs_this_month": 234, "period_start": "2024-01-01T00:00:00Z" }
    });
    assert_eq!(get(&p, WHOAMI, keys::VALID).json(), expected);
}

#[test]
fn expired_key_is_rejected_everywhere() {
    let p = Platform::start();
    for r in [
        get(&p, KEY, keys::EXPIRED),
        get(&p, WHOAMI, keys::EXPIRED),
        delete(&p, keys::EXPIRED),
    ] {
        assert_eq!(r.status, 401);
        assert_eq!(
            r.json(),
            json!({ "error": { "code": "key_expired", "message": "API key expired" } })
        );
    }
    assert!(p.revoked().is_empty());
}

#[test]
fn revoked_key_is_rejected_everywhere() {
    let p = Platform::start();
    for r in [
        get(&p, KEY, keys::REVOKED),
        get(&p, WHOAMI, keys::REVOKED),
        delete(&p, keys::REVOKED),
    ] {
        assert_eq!(r.status, 401);
        assert_eq!(r.error_code(), "key_revoked");
    }
}

#[test]
fn read_only_key_can_introspect_but_nothing_else() {
    let p = Platform::start();
    let info = get(&p, KEY, keys::READ_ONLY).json();
    assert_eq!(info["account"]["email"], "readonly@example.com");
    assert_eq!(
        info["key"]["permissions"],
        json!({
            "read_scenarios": true,
            "upload_results": false,
            "create_scenarios": false,
            "delete_scenarios": false,
            "manage_projects": false
        })
    );

    let me = get(&p, WHOAMI, keys::READ_ONLY);
    assert_eq!(me.status, 403);
    let err = &me.json()["error"];
    assert_eq!(err["code"], "permission_denied");
    assert_eq!(err["required_permission"], "read_account");
    assert_eq!(err["permissions"], json!(["read_scenarios"]));

    let revoke = delete(&p, keys::READ_ONLY);
    assert_eq!(revoke.status, 403);
    assert_eq!(revoke.json()["error"]["required_permission"], "revoke_keys");
    assert!(p.revoked().is_empty());
    assert_eq!(get(&p, KEY, keys::READ_ONLY).status, 200);
}

#[test]
fn project_scoped_key_never_expires_and_has_an_unlimited_plan() {
    let p = Platform::start();
    let info = get(&p, KEY, keys::PROJECT_SCOPED).json();
    assert_eq!(info["account"]["email"], "scoped@example.com");
    assert_eq!(info["key"]["expires_at"], Value::Null);
    assert_eq!(
        info["key"]["scopes"],
        json!({ "all_projects": false, "projects": ["customer-support-bot", "sales-assistant"] })
    );
    let me = get(&p, WHOAMI, keys::PROJECT_SCOPED).json();
    assert_eq!(
        me["plan"],
        json!({ "name": "Enterprise", "runs_per_month": null })
    );
    assert_eq!(me["usage"]["runs_this_month"], 5120);
    assert_eq!(me["account"]["email"], "scoped@example.com");
}

#[test]
fn unknown_permissions_follow_the_known_ones() {
    let p = Platform::start();
    let info = get(&p, KEY, keys::UNKNOWN_PERMISSION).json();
    assert_eq!(info["account"]["email"], "future@example.com");
    let perms: Vec<_> = info["key"]["permissions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_bool().unwrap()))
        .collect();
    let expected = [
        ("read_scenarios", true),
        ("upload_results", true),
        ("create_scenarios", true),
        ("delete_scenarios", false),
        ("manage_projects", false),
        ("manage_billing", true),
        ("export_traces", false),
    ]
    .map(|(k, v)| (k.to_string(), v));
    assert_eq!(perms, expected);
    assert_eq!(get(&p, WHOAMI, keys::UNKNOWN_PERMISSION).status, 200);
}

#[test]
fn expiring_soon_key_has_three_days_left() {
    let p = Platform::start();
    let info = get(&p, KEY, keys::EXPIRING_SOON).json();
    assert_eq!(info["account"]["email"], "soon@example.com");
    if let Some(days) = days_left(&info["key"]["expires_at"]) {
        assert_eq!(days, keys::EXPIRING_SOON_DAYS_REMAINING);
    }
    assert_eq!(
        get(&p, WHOAMI, keys::EXPIRING_SOON).json()["account"]["email"],
        "soon@example.com"
    );
}

#[test]
fn echo_key_echoes_the_token_in_unknown_fields() {
    let p = Platform::start();
    let info = get(&p, KEY, keys::ECHO).json();
    assert_eq!(info["debug_echo"], keys::ECHO);
    assert_eq!(info["key"]["debug_echo"], keys::ECHO);
    assert_eq!(get(&p, WHOAMI, keys::ECHO).json()["debug_echo"], keys::ECHO);
    // Only this key echoes.
    assert!(!String::from_utf8_lossy(&get(&p, KEY, keys::VALID).body).contains("flux_"));
}

#[test]
fn bad_credentials_are_invalid_api_key() {
    let p = Platform::start();
    let a = addr(&p);
    let basic = format!("Basic {}", keys::VALID);
    let two_tokens = format!("Bearer {} extra", keys::VALID);
    let cases: [(&str, Option<&str>); 7] = [
        ("unknown key", Some(&format!("Bearer {}", keys::UNKNOWN))),
        ("malformed key", Some("Bearer not-a-key")),
        ("empty bearer", Some("Bearer ")),
        ("no scheme", Some(keys::VALID)),
        ("basic", Some(&basic)),
        ("two tokens", Some(&two_tokens)),
        ("missing", None),
    ];
    for (what, auth) in cases {
        for (method, path) in [("GET", KEY), ("GET", WHOAMI), ("DELETE", KEY)] {
            let r = request(&a, method, path, auth);
            assert_eq!(r.status, 401, "{what} {method} {path}");
            assert_eq!(
                r.json(),
                json!({ "error": { "code": "invalid_api_key", "message": "Invalid API key" } }),
                "{what}"
            );
        }
    }
    // The scheme is case-insensitive (RFC 9110).
    let lower = request(&a, "GET", KEY, Some(&format!("bearer {}", keys::VALID)));
    assert_eq!(lower.status, 200);
    assert!(p.revoked().is_empty());
}

#[test]
fn delete_revokes_then_the_key_is_key_revoked() {
    let p = Platform::start();
    let r = delete(&p, keys::VALID);
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), None);
    assert_eq!(p.revoked(), [keys::VALID]);

    for r in [
        get(&p, KEY, keys::VALID),
        get(&p, WHOAMI, keys::VALID),
        delete(&p, keys::VALID),
    ] {
        assert_eq!(r.status, 401);
        assert_eq!(r.error_code(), "key_revoked");
    }
    assert_eq!(p.revoked(), [keys::VALID]);
    // Other keys, and other instances, are unaffected.
    assert_eq!(get(&p, KEY, keys::ECHO).status, 200);
    assert_eq!(get(&Platform::start(), KEY, keys::VALID).status, 200);
}

// ---------------------------------------------------------------------------------------
// Routing

#[test]
fn unknown_paths_are_404() {
    let p = Platform::start();
    for path in [
        "/",
        "/api/auth",
        "/api/auth/key/",
        "/api/auth/keys",
        "/api/v2/auth/key",
    ] {
        let r = get(&p, path, keys::VALID);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.error_code(), "not_found");
    }
}

#[test]
fn wrong_methods_are_405_with_allow() {
    let p = Platform::start();
    for (method, path, allow) in [
        ("POST", KEY, "GET, DELETE"),
        ("PUT", KEY, "GET, DELETE"),
        ("HEAD", KEY, "GET, DELETE"),
        ("DELETE", WHOAMI, "GET"),
        ("POST", WHOAMI, "GET"),
    ] {
        let r = with_key(&addr(&p), method, path, keys::VALID);
        assert_eq!(r.status, 405, "{method} {path}");
        assert_eq!(r.header("allow"), Some(allow));
        assert_eq!(r.error_code(), "method_not_allowed");
    }
    assert!(p.revoked().is_empty());
}

#[test]
fn a_key_in_the_url_is_refused() {
    let p = Platform::start();
    let encoded = keys::VALID.replace('_', "%5F");
    let secret = keys::VALID.rsplit('_').next().unwrap();
    for (target, auth) in [
        (format!("{KEY}?api_key={}", keys::VALID), None),
        (format!("{KEY}?api_key={}", keys::VALID), Some(keys::VALID)),
        (format!("{WHOAMI}?token={encoded}"), Some(keys::VALID)),
        (format!("{KEY}?k={secret}"), Some(keys::VALID)),
        (format!("{KEY}?k={}", keys::UNKNOWN), Some(keys::VALID)),
        (format!("/elsewhere/{}", keys::VALID), None),
    ] {
        let auth = auth.map(|k| format!("Bearer {k}"));
        let r = request(&addr(&p), "GET", &target, auth.as_deref());
        assert_eq!(r.status, 400, "{target}");
        assert_eq!(r.error_code(), "bad_request");
    }
    // An innocent query string is fine.
    assert_eq!(
        get(&p, &format!("{KEY}?verbose=1"), keys::VALID).status,
        200
    );
    assert!(p.revoked().is_empty());
}

#[test]
fn every_request_is_recorded_in_order() {
    let p = Platform::start();
    let a = addr(&p);
    get(&p, KEY, keys::VALID);
    exchange(
        &a,
        b"POST /somewhere?x=1 HTTP/1.1\r\nHost: h\r\nX-Custom-Header: Some Value\r\nContent-Length: 5\r\n\r\nhello",
    );
    p.set_fault(Some(Fault::ServerError));
    get(&p, WHOAMI, keys::ECHO);

    let recorded = p.requests();
    assert_eq!(recorded.len(), 3);
    assert_eq!(
        (recorded[0].method.as_str(), recorded[0].target.as_str()),
        ("GET", KEY)
    );
    assert_eq!(
        recorded[0].header("Authorization"),
        Some(&*format!("Bearer {}", keys::VALID))
    );
    assert_eq!(recorded[1].method, "POST");
    assert_eq!(recorded[1].target, "/somewhere?x=1");
    assert_eq!(recorded[1].path(), "/somewhere");
    assert!(
        recorded[1]
            .headers
            .contains(&("x-custom-header".into(), "Some Value".into()))
    );
    assert_eq!(recorded[1].body, b"hello");
    assert_eq!(recorded[2].target, WHOAMI);
}

#[test]
fn malformed_http_is_400() {
    let p = Platform::start();
    let r = exchange(&addr(&p), b"this is not http\r\n\r\n");
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "bad_request");
}

// ---------------------------------------------------------------------------------------
// Faults

#[test]
fn server_error_fault() {
    let p = Platform::start();
    p.set_fault(Some(Fault::ServerError));
    for r in [
        get(&p, KEY, keys::VALID),
        get(&p, WHOAMI, keys::VALID),
        delete(&p, keys::VALID),
    ] {
        assert_eq!(r.status, 500);
        assert_eq!(r.error_code(), "internal");
    }
    assert!(p.revoked().is_empty(), "a fault must not reach the handler");
    p.set_fault(None);
    assert_eq!(get(&p, KEY, keys::VALID).status, 200);
    assert_eq!(p.requests().len(), 4);
}

#[test]
fn html_bad_gateway_fault() {
    let p = Platform::start();
    p.set_fault(Some(Fault::HtmlBadGateway));
    let r = get(&p, KEY, keys::VALID);
    assert_eq!(r.status, 502);
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.content_length(), Some(r.body.len()));
    let html = String::from_utf8(r.body).unwrap();
    assert!(html.contains("<title>502 Bad Gateway</title>") && html.contains("nginx"));
    assert!(serde_json::from_str::<Value>(&html).is_err());
}

#[test]
fn truncated_json_fault() {
    let p = Platform::start();
    p.set_fault(Some(Fault::TruncatedJson));
    let r = get(&p, KEY, keys::VALID);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let declared = r.content_length().unwrap();
    assert_eq!(r.body.len(), declared / 2);
    assert!(r.body.starts_with(b"{\"key\":{"));
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
}

#[test]
fn rate_limited_fault_counts_down_then_serves() {
    let p = Platform::start();
    p.set_fault(Some(Fault::RateLimited {
        retry_after: 7,
        times: 2,
    }));
    for _ in 0..2 {
        let r = get(&p, KEY, keys::VALID);
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("7"));
        assert_eq!(
            r.json(),
            json!({ "error": { "code": "rate_limited", "message": "Too many requests" } })
        );
    }
    assert_eq!(get(&p, KEY, keys::VALID).status, 200);
    assert_eq!(get(&p, WHOAMI, keys::VALID).status, 200);
    assert_eq!(p.requests().len(), 4);
}

#[test]
fn limited_faults_count_down_exactly_under_concurrency() {
    let p = Platform::start();
    p.set_fault(Some(Fault::RateLimited {
        retry_after: 0,
        times: 4,
    }));
    let a = addr(&p);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|_| s.spawn(|| with_key(&a, "GET", KEY, keys::VALID).status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 4);
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 8);
}

#[test]
fn unavailable_fault_then_recovery() {
    let p = Platform::start();
    p.set_fault(Some(Fault::Unavailable { times: 1 }));
    let r = get(&p, WHOAMI, keys::VALID);
    assert_eq!(r.status, 503);
    assert_eq!(r.error_code(), "internal");
    assert_eq!(get(&p, WHOAMI, keys::VALID).status, 200);

    p.set_fault(Some(Fault::Unavailable { times: 0 }));
    assert_eq!(get(&p, WHOAMI, keys::VALID).status, 200);
}

#[test]
fn silent_fault_never_answers_until_dropped() {
    let p = Platform::start();
    p.set_fault(Some(Fault::Silent));
    let mut stream = TcpStream::connect(addr(&p)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    write!(
        stream,
        "GET {KEY} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        keys::VALID
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let err = stream
        .read(&mut buf)
        .expect_err("the server must stay silent");
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err:?}"
    );

    // Still recorded, even though unanswered.
    let deadline = Instant::now() + Duration::from_secs(5);
    while p.requests().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(p.requests().len(), 1);

    drop(p);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        stream.read(&mut buf).unwrap(),
        0,
        "dropping the platform closes the socket"
    );
}

#[test]
fn redirect_fault() {
    let p = Platform::start();
    let location = "http://127.0.0.1:9/api/auth/key";
    p.set_fault(Some(Fault::Redirect {
        location: location.into(),
    }));
    let r = get(&p, KEY, keys::VALID);
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some(location));
    assert_eq!(r.content_length(), Some(0));
    assert!(r.body.is_empty());
}

#[test]
fn huge_body_fault_is_valid_json_of_two_mebibytes() {
    let p = Platform::start();
    p.set_fault(Some(Fault::HugeBody));
    let r = get(&p, KEY, keys::VALID);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), HUGE_BODY_LEN);
    assert_eq!(HUGE_BODY_LEN, 2 * 1024 * 1024);
    let body = r.json();
    // Without a size cap, a client would accept it: it is a VALID KeyInfo plus padding.
    assert_key_info_shape(&body);
    assert!(body["padding"].as_str().unwrap().len() > 2_000_000);

    let me = get(&p, WHOAMI, keys::VALID);
    assert_eq!(me.body.len(), HUGE_BODY_LEN);
    assert_whoami_shape(&me.json());
}

#[test]
fn huge_body_survives_a_client_hanging_up() {
    let p = Platform::start();
    p.set_fault(Some(Fault::HugeBody));
    {
        let mut stream = TcpStream::connect(addr(&p)).unwrap();
        write!(stream, "GET {KEY} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut first = [0u8; 1024];
        let _ = stream.read(&mut first).unwrap();
    }
    p.set_fault(None);
    assert_eq!(get(&p, KEY, keys::VALID).status, 200);
}

// ---------------------------------------------------------------------------------------
// Lifecycle

#[test]
fn url_and_port_agree() {
    let p = Platform::start();
    assert_eq!(p.url(), format!("http://127.0.0.1:{}", p.port()));
    assert_ne!(p.port(), 0);
}

#[test]
fn drop_stops_the_server() {
    let p = Platform::start();
    let a = addr(&p);
    assert_eq!(get(&p, KEY, keys::VALID).status, 200);
    drop(p);
    // Nothing listens there any more: connecting is refused...
    let e = TcpStream::connect(&a).expect_err("something still accepts on the stand-in's port");
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    // ...and the port can be listened on again (std sets SO_REUSEADDR, so only a live
    // listener, not a closing connection, could hold it).
    drop(std::net::TcpListener::bind(&a).expect("the stand-in's port is still taken"));
}

#[test]
fn raw_response_parser_sanity() {
    let r = parse(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 204);
}

#[test]
fn platform_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Platform>();
}

// ---------------------------------------------------------------------------------------
// Hostile faults

/// Every string of `value`, object keys included.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                strings(v, out);
            }
        }
        _ => {}
    }
}

#[test]
fn echo_key_fault_puts_a_form_of_the_token_in_every_shown_field() {
    let p = Platform::start();
    let secret = keys::VALID.rsplit('_').next().unwrap();
    p.set_fault(Some(Fault::EchoKey(Hostile::Success)));
    let body = get(&p, WHOAMI, keys::VALID).json();
    for pointer in [
        "/account/email",
        "/organizations/0/name",
        "/projects/2/name",
        "/plan/name",
    ] {
        let text = body.pointer(pointer).and_then(Value::as_str).unwrap();
        assert!(
            text.contains(&secret[3..secret.len() - 3]),
            "{pointer}: {text}"
        );
    }
    let info = get(&p, KEY, keys::VALID).json();
    assert!(info.pointer("/key/expires_at").unwrap().is_string());
    let names: Vec<&String> = info["key"]["permissions"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert!(names.iter().all(|n| n.starts_with("echo")), "{names:?}");

    p.set_fault(Some(Fault::EchoKey(Hostile::PermissionDenied)));
    let r = get(&p, KEY, keys::VALID);
    assert_eq!(r.status, 403);
    let mut all = Vec::new();
    strings(&r.json(), &mut all);
    assert!(all.iter().any(|s| s.contains(keys::VALID)), "{all:?}");

    p.set_fault(Some(Fault::EchoKey(Hostile::Redirect)));
    let r = get(&p, KEY, keys::VALID);
    assert_eq!(r.status, 307);
    assert!(r.header("location").unwrap().contains(keys::VALID));

    p.set_fault(Some(Fault::EchoKey(Hostile::WrongType)));
    let body = get(&p, WHOAMI, keys::VALID).json();
    assert!(body["api_access"].as_str().unwrap().contains(keys::VALID));
}

#[test]
fn terminal_escapes_fault_puts_escapes_in_every_string() {
    let p = Platform::start();
    p.set_fault(Some(Fault::TerminalEscapes(Hostile::Success)));
    let mut all = Vec::new();
    strings(&get(&p, WHOAMI, keys::VALID).json(), &mut all);
    let with = all.iter().filter(|s| s.contains(ESCAPES)).count();
    // Field names of the contract and dates stay; everything else carries the escapes.
    assert!(with >= 10, "{all:?}");
    assert!(ESCAPES.contains("\u{1b}]52;") && ESCAPES.contains('\u{7}'));
}

#[test]
fn absurd_numbers_fault() {
    let p = Platform::start();
    p.set_fault(Some(Fault::AbsurdNumbers(Absurd::RetryAfter(
        "18446744073709551615".into(),
    ))));
    let r = get(&p, KEY, keys::VALID);
    assert_eq!(
        (r.status, r.header("retry-after")),
        (429, Some("18446744073709551615"))
    );

    p.set_fault(Some(Fault::AbsurdNumbers(Absurd::HugeCounts)));
    let body = get(&p, WHOAMI, keys::VALID).json();
    assert_eq!(body["plan"]["runs_per_month"], json!(u64::MAX));

    p.set_fault(Some(Fault::AbsurdNumbers(Absurd::ExpiresAt(json!(
        "+99999-01-01T00:00:00Z"
    )))));
    assert_eq!(
        get(&p, KEY, keys::VALID).json()["key"]["expires_at"],
        "+99999-01-01T00:00:00Z"
    );

    p.set_fault(Some(Fault::AbsurdNumbers(Absurd::ContentLength(
        "7".into(),
    ))));
    let r = exchange(
        &addr(&p),
        format!(
            "GET {KEY} HTTP/1.1\r\nAuthorization: Bearer {}\r\n\r\n",
            keys::VALID
        )
        .as_bytes(),
    );
    assert_eq!(r.header("content-length"), Some("7"));
}
