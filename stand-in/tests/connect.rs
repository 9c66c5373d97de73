//! Contract 1.1 on the stand-in: browser login, rotation, the keys they mint, the approval page
//! and the fault modes the CLI's tests use.

mod support;

use std::time::Duration;

use fluxloop_stand_in::{ConnectFault, ConnectSettings, Platform, keys};
use serde_json::{Value, json};
use support::{Response, exchange, with_key};

fn addr(p: &Platform) -> String {
    format!("127.0.0.1:{}", p.port())
}

fn post(p: &Platform, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("\r\n");
    raw.push_str(body);
    exchange(&addr(p), raw.as_bytes())
}

fn start(p: &Platform) -> Value {
    let r = post(
        p,
        "/api/cli-connect/start",
        &[],
        r#"{"client_name":"fluxloop","device_name":"laptop","expires_in_days":30}"#,
    );
    assert_eq!(r.status, 200);
    r.json()
}

fn poll(p: &Platform, device_code: &str) -> Response {
    post(
        p,
        "/api/cli-connect/complete",
        &[],
        &json!({ "device_code": device_code }).to_string(),
    )
}

fn fast(p: &Platform) {
    p.set_connect(ConnectSettings {
        interval: 0,
        ..ConnectSettings::default()
    });
}

#[test]
fn a_browser_login_is_pending_until_approved_then_hands_out_the_key_once() {
    let p = Platform::start();
    fast(&p);
    let started = start(&p);
    let code = started["device_code"].as_str().unwrap();
    let user_code = started["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert_eq!(
        started["verification_uri"],
        format!("{}/cli-connect", p.url())
    );
    assert_eq!(started["interval"], 0);
    assert_eq!(started["expires_in"], 900);

    assert_eq!(poll(&p, code).error_code(), "authorization_pending");
    assert!(p.approve(&user_code.to_lowercase()));
    let approved = poll(&p, code);
    assert_eq!(approved.status, 200);
    let body = approved.json();
    let key = body["api_key"].as_str().unwrap();
    assert!(keys::is_well_formed(key), "{key}");
    assert_eq!(body["key"]["name"], "laptop");
    assert_eq!(p.minted().len(), 1);

    // The minted key works like any other, and the code is spent.
    let info = with_key(&addr(&p), "GET", "/api/auth/key", key);
    assert_eq!(info.status, 200);
    assert_eq!(info.json()["key"]["id"], body["key"]["id"]);
    assert_eq!(poll(&p, code).error_code(), "expired_token");
    assert_eq!(p.logins()[0].state, "issued");
}

#[test]
fn polling_too_fast_gets_slow_down_and_a_longer_interval() {
    let p = Platform::start();
    p.set_connect(ConnectSettings {
        interval: 1,
        ..ConnectSettings::default()
    });
    let code = start(&p)["device_code"].as_str().unwrap().to_string();
    assert_eq!(poll(&p, &code).error_code(), "authorization_pending");
    assert_eq!(poll(&p, &code).error_code(), "slow_down");
    // Now 6 s; one second is no longer enough.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(poll(&p, &code).error_code(), "slow_down");
}

#[test]
fn fault_modes_deny_expire_storm_and_lose_the_key_answer() {
    let p = Platform::start();
    fast(&p);
    p.set_connect_fault(Some(ConnectFault::Deny));
    let code = start(&p)["device_code"].as_str().unwrap().to_string();
    assert_eq!(poll(&p, &code).error_code(), "access_denied");

    p.set_connect_fault(Some(ConnectFault::ExpireAfterPolls { polls: 1 }));
    let code = start(&p)["device_code"].as_str().unwrap().to_string();
    assert_eq!(poll(&p, &code).error_code(), "authorization_pending");
    assert_eq!(poll(&p, &code).error_code(), "expired_token");

    p.set_connect_fault(Some(ConnectFault::SlowDownStorm { times: 2 }));
    let code = start(&p)["device_code"].as_str().unwrap().to_string();
    assert_eq!(poll(&p, &code).error_code(), "slow_down");
    std::thread::sleep(Duration::from_millis(5100));
    assert_eq!(poll(&p, &code).error_code(), "slow_down");

    p.set_connect_fault(Some(ConnectFault::KeyAnswerFails { times: 1 }));
    let started = start(&p);
    let code = started["device_code"].as_str().unwrap();
    assert!(p.approve(started["user_code"].as_str().unwrap()));
    assert_eq!(poll(&p, code).status, 503);
    assert!(p.minted().is_empty());
    assert_eq!(poll(&p, code).status, 200);
}

#[test]
fn the_approval_page_approves_and_denies() {
    let p = Platform::start();
    fast(&p);
    let started = start(&p);
    let user_code = started["user_code"].as_str().unwrap();
    let page = support::request(
        &addr(&p),
        "GET",
        &format!("/cli-connect?user_code={user_code}"),
        None,
    );
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = String::from_utf8(page.body).unwrap();
    assert!(
        html.contains(user_code) && html.contains("laptop"),
        "{html}"
    );

    let form = format!("user_code={user_code}&decision=deny");
    let mut raw = format!(
        "POST /cli-connect HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    assert_eq!(exchange(&addr(&p), raw.as_bytes()).status, 200);
    assert_eq!(p.logins()[0].state, "denied");
    // Decided: the code is no longer pending.
    raw = raw.replace("deny", "approve");
    assert_eq!(exchange(&addr(&p), raw.as_bytes()).status, 404);
}

#[test]
fn start_refuses_what_the_contract_refuses() {
    let p = Platform::start();
    for body in [
        "",
        "[]",
        r#"{"device_name":"x"}"#,
        r#"{"client_name":"fluxloop","device_name":""}"#,
        r#"{"client_name":"fluxloop","device_name":"x","expires_in_days":0}"#,
        r#"{"client_name":"fluxloop","device_name":"x","expires_in_days":366}"#,
        r#"{"client_name":"fluxloop","device_name":"x","expires_in_days":"7"}"#,
    ] {
        let r = post(&p, "/api/cli-connect/start", &[], body);
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.error_code(), "invalid_request", "{body}");
    }
    let long = "k".repeat(129);
    let r = post(
        &p,
        "/api/cli-connect/start",
        &[("Idempotency-Key", &long)],
        r#"{"client_name":"fluxloop","device_name":"x"}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        support::request(&addr(&p), "GET", "/api/cli-connect/start", None).status,
        405
    );
}

#[test]
fn rotation_with_the_same_idempotency_key_mints_one_key() {
    let p = Platform::start();
    let auth = format!("Bearer {}", keys::VALID);
    let headers = [("Authorization", auth.as_str()), ("Idempotency-Key", "abc")];
    let first = post(&p, "/api/auth/key/rotate", &headers, "");
    assert_eq!(first.status, 201);
    let again = post(&p, "/api/auth/key/rotate", &headers, "");
    assert_eq!(again.json(), first.json());
    assert_eq!(p.minted().len(), 1);
    let body = first.json();
    assert_eq!(body["key"]["name"], "laptop");
    assert_ne!(body["api_key"], keys::VALID);
    // Both keys work until the old one is revoked.
    let new_key = body["api_key"].as_str().unwrap();
    for key in [keys::VALID, new_key] {
        assert_eq!(with_key(&addr(&p), "GET", "/api/auth/key", key).status, 200);
    }
    let other = post(
        &p,
        "/api/auth/key/rotate",
        &[("Authorization", auth.as_str()), ("Idempotency-Key", "def")],
        r#"{"expires_in_days":7}"#,
    );
    assert_eq!(other.status, 201);
    assert_eq!(p.minted().len(), 2);
    assert_eq!(
        with_key(&addr(&p), "DELETE", "/api/auth/key", new_key).status,
        204
    );
    assert_eq!(p.live_minted().len(), 1);
}

#[test]
fn rotation_refuses_bad_keys_and_bodies() {
    let p = Platform::start();
    let bearer = |key: &str| format!("Bearer {key}");
    let r = post(&p, "/api/auth/key/rotate", &[], "");
    assert_eq!(r.status, 401);
    let revoked = bearer(keys::REVOKED);
    let r = post(
        &p,
        "/api/auth/key/rotate",
        &[("Authorization", &revoked)],
        "",
    );
    assert_eq!(r.error_code(), "key_revoked");
    let read_only = bearer(keys::READ_ONLY);
    let r = post(
        &p,
        "/api/auth/key/rotate",
        &[("Authorization", &read_only)],
        "",
    );
    assert_eq!(r.status, 403);
    let valid = bearer(keys::VALID);
    let r = post(
        &p,
        "/api/auth/key/rotate",
        &[("Authorization", &valid)],
        r#"{"expires_in_days":400}"#,
    );
    assert_eq!(r.status, 400);
    assert!(p.minted().is_empty());
}

#[test]
fn rotation_fault_modes() {
    let p = Platform::start();
    let valid = format!("Bearer {}", keys::VALID);
    let headers = [("Authorization", valid.as_str()), ("Idempotency-Key", "k1")];
    p.set_connect_fault(Some(ConnectFault::RotateAnswerLost { times: 1 }));
    assert_eq!(post(&p, "/api/auth/key/rotate", &headers, "").status, 502);
    assert_eq!(p.minted().len(), 1);
    let retry = post(&p, "/api/auth/key/rotate", &headers, "");
    assert_eq!(retry.status, 201);
    assert_eq!(
        retry.json()["api_key"].as_str(),
        Some(p.minted()[0].api_key.as_str())
    );

    p.set_connect_fault(Some(ConnectFault::RotateFails));
    let other = [("Authorization", valid.as_str()), ("Idempotency-Key", "k2")];
    assert_eq!(post(&p, "/api/auth/key/rotate", &other, "").status, 500);
    assert_eq!(p.minted().len(), 1);

    p.set_connect_fault(Some(ConnectFault::IntrospectMintedFails));
    let new_key = p.minted()[0].api_key.clone();
    assert_eq!(
        with_key(&addr(&p), "GET", "/api/auth/key", &new_key).status,
        500
    );
    assert_eq!(
        with_key(&addr(&p), "GET", "/api/auth/key", keys::VALID).status,
        200
    );

    p.set_connect_fault(Some(ConnectFault::RevokeFixtureFails));
    assert_eq!(
        with_key(&addr(&p), "DELETE", "/api/auth/key", keys::VALID).status,
        500
    );
    assert_eq!(
        with_key(&addr(&p), "DELETE", "/api/auth/key", &new_key).status,
        204
    );
}
