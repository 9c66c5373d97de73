//! Contract 1.1: browser login (`/api/cli-connect/*`, the device authorization grant of
//! RFC 8628), key rotation (`POST /api/auth/key/rotate`), the keys both mint, and the
//! stand-in-only approval page at `verification_uri`.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::RecordedRequest;
use crate::api::{self, error};
use crate::http::{Body, Reply};
use crate::keys::Kind;

pub(crate) const START_PATH: &str = "/api/cli-connect/start";
pub(crate) const COMPLETE_PATH: &str = "/api/cli-connect/complete";
pub(crate) const ROTATE_PATH: &str = "/api/auth/key/rotate";
/// `verification_uri`: the approval page, which only the stand-in serves under this name.
pub(crate) const APPROVE_PATH: &str = "/cli-connect";

/// Lifetime of a key whose request leaves it to "the organization's default".
pub const DEFAULT_KEY_DAYS: i64 = 90;
const MAX_IDEMPOTENCY_KEY: usize = 128;
/// Polls arriving this much early still count as on time: the client's timer and ours differ.
const POLL_SLACK: Duration = Duration::from_millis(50);

/// How browser logins behave; see [`crate::Platform::set_connect`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectSettings {
    /// `interval` of a new login, in seconds.
    pub interval: u64,
    /// `expires_in` of a new login, in seconds.
    pub expires_in: u64,
    /// Approve every login this long after it started, as a user in a browser would.
    pub auto_approve_after: Option<Duration>,
}

impl Default for ConnectSettings {
    fn default() -> Self {
        ConnectSettings {
            interval: 5,
            expires_in: 900,
            auto_approve_after: None,
        }
    }
}

/// Misbehaviour of browser logins and rotation, for the CLI's tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectFault {
    /// The next `times` polls get `slow_down` however they are timed; each also adds 5 s to
    /// the login's interval, which later polls must then honour.
    SlowDownStorm { times: u32 },
    /// A login expires after this many polls: the next gets `expired_token`.
    ExpireAfterPolls { polls: u32 },
    /// The user refuses every login: polls get `access_denied`.
    Deny,
    /// The next `times` polls that would carry the key get a 503 instead; the key is not
    /// handed out, so a later poll still gets it.
    KeyAnswerFails { times: u32 },
    /// The next `times` rotations mint the key (and remember it under the request's
    /// Idempotency-Key) but the answer is a 502: the client never sees it unless it retries
    /// with the same Idempotency-Key.
    RotateAnswerLost { times: u32 },
    /// Every rotation fails with 500 and mints nothing.
    RotateFails,
    /// `GET /api/auth/key` with a key minted here fails with 500 (verification of a new key).
    IntrospectMintedFails,
    /// `DELETE /api/auth/key` with a fixture key fails with 500 (revoking the rotated-out key).
    RevokeFixtureFails,
}

/// A key minted by a browser login or a rotation, as the platform knows it.
#[derive(Clone, Debug)]
pub struct MintedKey {
    pub api_key: String,
    pub id: String,
    pub name: String,
    pub environment: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The fixture behind it (account, scopes, permissions).
    pub(crate) kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Pending,
    Approved,
    Denied,
    /// The key was handed out; the code is spent.
    Issued,
}

#[derive(Debug)]
struct Login {
    device_code: String,
    user_code: String,
    device_name: String,
    environment: String,
    expires_in_days: Option<i64>,
    started: Instant,
    expires: Instant,
    interval: Duration,
    last_poll: Option<Instant>,
    polls: u32,
    decision: Decision,
}

/// A browser login as a test sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginView {
    pub user_code: String,
    pub device_name: String,
    pub polls: u32,
    /// `pending`, `approved`, `denied` or `issued`.
    pub state: &'static str,
}

/// What the platform holds beyond its fixtures.
pub(crate) struct State {
    pub revoked: Vec<String>,
    pub minted: Vec<MintedKey>,
    logins: Vec<Login>,
    /// Rotation answers by (presented key, Idempotency-Key).
    rotations: HashMap<(String, String), Value>,
    /// Start answers by Idempotency-Key.
    starts: HashMap<String, Value>,
    pub settings: ConnectSettings,
    pub fault: Option<ConnectFault>,
    /// Base URL for `verification_uri`.
    pub base_url: String,
    random: RandomState,
    counter: u64,
}

impl State {
    pub(crate) fn new(base_url: String) -> State {
        State {
            revoked: Vec::new(),
            minted: Vec::new(),
            logins: Vec::new(),
            rotations: HashMap::new(),
            starts: HashMap::new(),
            settings: ConnectSettings::default(),
            fault: None,
            base_url,
            random: RandomState::new(),
            counter: 0,
        }
    }

    fn next_random(&mut self) -> u64 {
        self.counter += 1;
        let mut h = self.random.build_hasher();
        h.write_u64(self.counter);
        h.finish()
    }

    fn random_text(&mut self, alphabet: &[u8], len: usize) -> String {
        let mut out = String::with_capacity(len);
        while out.len() < len {
            let mut bits = self.next_random();
            for _ in 0..8 {
                if out.len() == len {
                    break;
                }
                out.push(alphabet[(bits % alphabet.len() as u64) as usize] as char);
                bits /= alphabet.len() as u64;
            }
        }
        out
    }

    pub(crate) fn minted(&self, token: &str) -> Option<&MintedKey> {
        self.minted.iter().find(|k| k.api_key == token)
    }

    pub(crate) fn device_codes(&self) -> Vec<String> {
        self.logins.iter().map(|l| l.device_code.clone()).collect()
    }

    pub(crate) fn logins(&self) -> Vec<LoginView> {
        self.logins
            .iter()
            .map(|l| LoginView {
                user_code: l.user_code.clone(),
                device_name: l.device_name.clone(),
                polls: l.polls,
                state: match l.decision {
                    Decision::Pending => "pending",
                    Decision::Approved => "approved",
                    Decision::Denied => "denied",
                    Decision::Issued => "issued",
                },
            })
            .collect()
    }

    /// Approves (or denies) the pending login with this user code; false if there is none.
    pub(crate) fn decide(&mut self, user_code: &str, approve: bool) -> bool {
        let wanted = normalise_user_code(user_code);
        let now = Instant::now();
        let Some(login) = self
            .logins
            .iter_mut()
            .find(|l| l.user_code == wanted && l.decision == Decision::Pending && l.expires > now)
        else {
            return false;
        };
        login.decision = if approve {
            Decision::Approved
        } else {
            Decision::Denied
        };
        true
    }

    fn mint(
        &mut self,
        kind: Kind,
        name: &str,
        environment: &str,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> MintedKey {
        const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let key = MintedKey {
            api_key: format!("flux_{environment}_{}", self.random_text(ALNUM, 40)),
            id: format!(
                "key_{}",
                self.random_text(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", 10)
            ),
            name: name.to_string(),
            environment: environment.to_string(),
            created_at: now,
            expires_at,
            kind,
        };
        self.minted.push(key.clone());
        key
    }
}

/// `XXXX-XXXX`, as typed on the page in any case and with or without the dash.
fn normalise_user_code(text: &str) -> String {
    let letters: String = text
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    match letters.len() {
        8 => format!("{}-{}", &letters[..4], &letters[4..]),
        _ => letters,
    }
}

/// The NewKey document for a minted key.
fn new_key_body(key: &MintedKey, now: DateTime<Utc>) -> Value {
    let mut body = api::key_info(key.kind, &key.api_key, now);
    describe_minted(&mut body, key);
    body["api_key"] = Value::from(key.api_key.clone());
    body
}

/// Puts the minted key's own id, name, dates and environment into a KeyInfo of its fixture.
pub(crate) fn describe_minted(info: &mut Value, key: &MintedKey) {
    let rfc3339 = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    info["key"]["id"] = Value::from(key.id.clone());
    info["key"]["name"] = Value::from(key.name.clone());
    info["key"]["environment"] = Value::from(key.environment.clone());
    info["key"]["created_at"] = Value::from(rfc3339(key.created_at));
    info["key"]["expires_at"] = key
        .expires_at
        .map_or(Value::Null, |t| Value::from(rfc3339(t)));
}

fn bad_request(message: &str) -> Reply {
    error(400, "invalid_request", message)
}

/// The request's JSON object; an absent body counts as `{}` when `optional`.
fn object_body(
    req: &RecordedRequest,
    optional: bool,
) -> Result<serde_json::Map<String, Value>, Reply> {
    if req.body.iter().all(u8::is_ascii_whitespace) && optional {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad_request("the body must be a JSON object")),
        Err(_) => Err(bad_request("the body is not JSON")),
    }
}

/// `expires_in_days`: absent, null, or a whole number of days in 1..=365.
fn expires_in_days(body: &serde_json::Map<String, Value>) -> Result<Option<Option<i64>>, Reply> {
    let Some(value) = body.get("expires_in_days") else {
        return Ok(None);
    };
    if value.is_null() {
        return Ok(Some(None));
    }
    let days = value
        .as_i64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e9)
                .map(|f| f as i64)
        })
        .ok_or_else(|| bad_request("expires_in_days must be a whole number of days or null"))?;
    if !(1..=365).contains(&days) {
        return Err(bad_request("expires_in_days must be between 1 and 365"));
    }
    Ok(Some(Some(days)))
}

fn optional_string<'a>(
    body: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, Reply> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad_request(&format!("{name} must be a string"))),
    }
}

/// The Idempotency-Key header, if sent; longer than the contract allows is a bad request.
fn idempotency_key(req: &RecordedRequest) -> Result<Option<String>, Reply> {
    match req.header("idempotency-key") {
        None => Ok(None),
        Some(k) if k.chars().count() > MAX_IDEMPOTENCY_KEY => {
            Err(bad_request("Idempotency-Key is longer than 128 characters"))
        }
        Some(k) => Ok(Some(k.to_string())),
    }
}

/// `POST /api/cli-connect/start`.
pub(crate) fn start(req: &RecordedRequest, state: &mut State) -> Reply {
    match try_start(req, state) {
        Ok(reply) | Err(reply) => reply,
    }
}

fn try_start(req: &RecordedRequest, state: &mut State) -> Result<Reply, Reply> {
    let idempotency = idempotency_key(req)?;
    let body = object_body(req, false)?;
    let client_name = optional_string(&body, "client_name")?;
    let device_name = optional_string(&body, "device_name")?;
    optional_string(&body, "client_version")?;
    let environment = optional_string(&body, "environment")?;
    let days = expires_in_days(&body)?.flatten();
    if client_name.is_none_or(str::is_empty) {
        return Err(bad_request("client_name is required"));
    }
    let Some(device_name) = device_name.filter(|d| !d.is_empty()) else {
        return Err(bad_request("device_name is required"));
    };
    if device_name.chars().count() > 128 {
        return Err(bad_request("device_name is longer than 128 characters"));
    }
    if let Some(answer) = idempotency.as_ref().and_then(|k| state.starts.get(k)) {
        return Ok(Reply::json(200, answer));
    }
    // A key's environment is part of its text: only lowercase letters make a well-formed key.
    let environment = environment
        .filter(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_lowercase()) && e.len() <= 16)
        .unwrap_or("dev")
        .to_string();
    let device_code = format!("dc_{}", state.random_text(b"0123456789abcdef", 32));
    // RFC 8628 section 6.1: consonants only, so no word is spelt by accident.
    let letters = state.random_text(b"BCDFGHJKLMNPQRSTVWXZ", 8);
    let user_code = normalise_user_code(&letters);
    let now = Instant::now();
    let settings = state.settings.clone();
    let uri = format!("{}{APPROVE_PATH}", state.base_url);
    let answer = json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": uri,
        "verification_uri_complete": format!("{uri}?user_code={user_code}"),
        "expires_in": settings.expires_in,
        "interval": settings.interval,
    });
    state.logins.push(Login {
        device_code,
        user_code,
        device_name: device_name.to_string(),
        environment,
        expires_in_days: days,
        started: now,
        expires: now + Duration::from_secs(settings.expires_in),
        interval: Duration::from_secs(settings.interval),
        last_poll: None,
        polls: 0,
        decision: Decision::Pending,
    });
    if let Some(k) = idempotency {
        state.starts.insert(k, answer.clone());
    }
    Ok(Reply::json(200, &answer))
}

fn grant_error(code: &str, message: &str) -> Reply {
    error(400, code, message)
}

/// `POST /api/cli-connect/complete`.
pub(crate) fn complete(req: &RecordedRequest, state: &mut State, now: DateTime<Utc>) -> Reply {
    let body = match object_body(req, false) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let device_code = match body.get("device_code") {
        Some(Value::String(code)) if !code.is_empty() => code.clone(),
        _ => return bad_request("device_code is required"),
    };
    let settings = state.settings.clone();
    let fault = state.fault.clone();
    let at = Instant::now();
    let Some(index) = state
        .logins
        .iter()
        .position(|l| l.device_code == device_code)
    else {
        return grant_error("expired_token", "Unknown or expired device code");
    };
    let login = &mut state.logins[index];
    login.polls += 1;
    let early = login
        .last_poll
        .is_some_and(|last| at + POLL_SLACK < last + login.interval);
    login.last_poll = Some(at);

    if login.decision == Decision::Issued || at >= login.expires {
        return grant_error(
            "expired_token",
            "The device code expired or was already used",
        );
    }
    if let Some(ConnectFault::ExpireAfterPolls { polls }) = fault
        && login.polls > polls
    {
        login.expires = at;
        return grant_error("expired_token", "The device code expired");
    }
    if let Some(ConnectFault::SlowDownStorm { times }) = fault
        && times > 0
    {
        state.fault = (times > 1).then_some(ConnectFault::SlowDownStorm { times: times - 1 });
        login.interval += Duration::from_secs(5);
        return grant_error("slow_down", "Polling too fast; wait 5 more seconds");
    }
    if early {
        login.interval += Duration::from_secs(5);
        return grant_error("slow_down", "Polling too fast; wait 5 more seconds");
    }
    if fault == Some(ConnectFault::Deny) && login.decision == Decision::Pending {
        login.decision = Decision::Denied;
    }
    if login.decision == Decision::Pending
        && settings
            .auto_approve_after
            .is_some_and(|after| at >= login.started + after)
    {
        login.decision = Decision::Approved;
    }
    match login.decision {
        Decision::Pending => grant_error(
            "authorization_pending",
            "Waiting for approval in the browser",
        ),
        Decision::Denied => grant_error("access_denied", "The login was refused in the browser"),
        Decision::Issued => grant_error("expired_token", "The device code was already used"),
        Decision::Approved => {
            if let Some(ConnectFault::KeyAnswerFails { times }) = fault
                && times > 0
            {
                state.fault =
                    (times > 1).then_some(ConnectFault::KeyAnswerFails { times: times - 1 });
                return error(503, "internal", "Service temporarily unavailable");
            }
            login.decision = Decision::Issued;
            let (name, environment) = (login.device_name.clone(), login.environment.clone());
            let days = login.expires_in_days.unwrap_or(DEFAULT_KEY_DAYS);
            let expires_at = Some(api::end_of_day_in(now, days));
            let key = state.mint(Kind::Valid, &name, &environment, expires_at, now);
            Reply::json(200, &new_key_body(&key, now))
        }
    }
}

/// `POST /api/auth/key/rotate`, for a presented key already found valid. `expires_at` is the
/// presented key's expiry and `created_at` its creation, for "the same lifetime".
pub(crate) fn rotate(
    req: &RecordedRequest,
    token: &str,
    kind: Kind,
    state: &mut State,
    now: DateTime<Utc>,
) -> Reply {
    match try_rotate(req, token, kind, state, now) {
        Ok(reply) | Err(reply) => reply,
    }
}

fn try_rotate(
    req: &RecordedRequest,
    token: &str,
    kind: Kind,
    state: &mut State,
    now: DateTime<Utc>,
) -> Result<Reply, Reply> {
    let idempotency = idempotency_key(req)?;
    let body = object_body(req, true)?;
    let days = expires_in_days(&body)?;
    if kind == Kind::ReadOnly {
        return Err(Reply::json(
            403,
            &json!({ "error": {
                "code": "permission_denied",
                "message": "Permission denied",
                "required_permission": "manage_keys",
                "permissions": ["read_scenarios"],
            } }),
        ));
    }
    if state.fault == Some(ConnectFault::RotateFails) {
        return Err(error(500, "internal", "Internal server error"));
    }
    let lost = |state: &mut State| -> bool {
        match state.fault {
            Some(ConnectFault::RotateAnswerLost { times }) if times > 0 => {
                state.fault =
                    (times > 1).then_some(ConnectFault::RotateAnswerLost { times: times - 1 });
                true
            }
            _ => false,
        }
    };
    let memo = idempotency.map(|k| (token.to_string(), k));
    if let Some(answer) = memo.as_ref().and_then(|m| state.rotations.get(m)).cloned() {
        if lost(state) {
            return Err(error(502, "internal", "Bad gateway"));
        }
        return Ok(Reply::json(201, &answer));
    }

    let presented = api::key_info(kind, token, now);
    let (name, environment, created, expires) = match state.minted(token) {
        Some(m) => (
            m.name.clone(),
            m.environment.clone(),
            Some(m.created_at),
            m.expires_at,
        ),
        None => (
            presented["key"]["name"]
                .as_str()
                .unwrap_or("key")
                .to_string(),
            presented["key"]["environment"]
                .as_str()
                .unwrap_or("dev")
                .to_string(),
            presented["key"]["created_at"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
            presented["key"]["expires_at"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
        ),
    };
    let expires_at = match days {
        // The last second of the day, as for the fixtures: whole days left are exactly `days`.
        Some(Some(days)) => Some(api::end_of_day_in(now, days)),
        Some(None) => Some(api::end_of_day_in(now, DEFAULT_KEY_DAYS)),
        // The same lifetime: a key that never expired still does not.
        None => match (created, expires) {
            (Some(created), Some(expires)) if expires > created => Some(now + (expires - created)),
            (_, None) => None,
            _ => Some(api::end_of_day_in(now, DEFAULT_KEY_DAYS)),
        },
    };
    let key = state.mint(kind, &name, &environment, expires_at, now);
    let answer = new_key_body(&key, now);
    if let Some(memo) = memo {
        state.rotations.insert(memo, answer.clone());
    }
    if lost(state) {
        return Err(error(502, "internal", "Bad gateway"));
    }
    Ok(Reply::json(201, &answer))
}

// ---------------------------------------------------------------------------------------
// The approval page (not in the contract: the web platform's own page)

fn html(status: u16, title: &str, inner: &str) -> Reply {
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;max-width:32em;margin:4em auto}}\
         input{{font:1.5em monospace;letter-spacing:.1em}}button{{font-size:1.1em;margin:.5em .5em 0 0}}</style>\
         </head><body><h1>{title}</h1>\n{inner}\n<p><small>FluxLoop stand-in platform</small></p></body></html>\n"
    );
    Reply {
        status,
        headers: vec![("Content-Type", "text/html; charset=utf-8".to_string())],
        body: Body::Full(page.into_bytes()),
    }
}

fn escape_html(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// `name=value&…`, percent-decoded.
fn form_value(text: &str, name: &str) -> Option<String> {
    text.split('&').find_map(|pair| {
        let (n, v) = pair.split_once('=')?;
        (n == name).then(|| api::percent_decode(v))
    })
}

/// `GET /cli-connect[?user_code=…]`: the form; `POST /cli-connect` with `user_code` and
/// `decision=approve|deny`: the decision.
pub(crate) fn approval_page(req: &RecordedRequest, state: &mut State) -> Reply {
    if req.method == "POST" {
        let form = String::from_utf8_lossy(&req.body);
        let code = form_value(&form, "user_code").unwrap_or_default();
        let approve = form_value(&form, "decision").as_deref() != Some("deny");
        if !state.decide(&code, approve) {
            return html(
                404,
                "Code not found",
                &format!(
                    "<p>No pending login has the code <code>{}</code>; it may have expired.</p>\
                     <p><a href=\"{APPROVE_PATH}\">Try another code</a></p>",
                    escape_html(&code)
                ),
            );
        }
        let (title, text) = if approve {
            (
                "Device connected",
                "The new API key goes straight to the CLI. You can close this page and return to your terminal.",
            )
        } else {
            (
                "Login refused",
                "No key was created. You can close this page.",
            )
        };
        return html(200, title, &format!("<p>{text}</p>"));
    }
    let code = req
        .target
        .split_once('?')
        .and_then(|(_, q)| form_value(q, "user_code"))
        .unwrap_or_default();
    let device = state
        .logins
        .iter()
        .find(|l| l.user_code == normalise_user_code(&code) && l.decision == Decision::Pending)
        .map(|l| {
            format!(
                "<p>Device <b>{}</b> asks for a new API key.</p>",
                escape_html(&l.device_name)
            )
        })
        .unwrap_or_default();
    html(
        200,
        "Connect the FluxLoop CLI",
        &format!(
            "{device}<p>Check that this code matches the one in your terminal:</p>\
             <form method=\"post\" action=\"{APPROVE_PATH}\">\
             <input name=\"user_code\" value=\"{}\" size=\"9\" autocomplete=\"off\"><br>\
             <button name=\"decision\" value=\"approve\">Approve</button>\
             <button name=\"decision\" value=\"deny\">Deny</button></form>",
            escape_html(&code)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_compared_as_typed() {
        assert_eq!(normalise_user_code("wdjb mjht"), "WDJB-MJHT");
        assert_eq!(normalise_user_code("WDJB-MJHT"), "WDJB-MJHT");
        assert_eq!(normalise_user_code("x"), "X");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<a href='x'>&"),
            "&lt;a href=&#39;x&#39;&gt;&amp;"
        );
    }
}
