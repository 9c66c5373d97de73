//! The HTTP client for the platform contract. One deadline per command; bounded retries on 429
//! and 5xx; no redirects (a redirect could carry the key to another host); bodies capped while
//! streaming. The key only ever travels in a sensitive `Authorization` header.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use fluxloop_formats::api::{DecodeError, decode, decode_value, parse_json, parse_retry_after};
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, DATE, HeaderValue, LOCATION, RETRY_AFTER,
};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use tracing::{debug, info};
use url::Url;
use zeroize::Zeroizing;

use super::text::ServerText;
use super::types::{DeviceAuthorization, ErrorBody, KeyInfo, RotateRequest, StartRequest, Whoami};

/// Responses larger than this are refused.
pub const MAX_BODY: usize = 1024 * 1024;
/// Attempts per request when the platform answers 429 or 5xx.
const MAX_ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(8);

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid API URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("refusing to send an API key over plain http to {url}")]
    InsecureUrl { url: String },
    #[error("could not set up HTTPS: {0}")]
    Setup(String),
    #[error("{message}")]
    Unauthorized {
        code: ServerText,
        message: ServerText,
    },
    #[error("{message}")]
    PermissionDenied {
        message: ServerText,
        required: Option<ServerText>,
        permissions: Vec<ServerText>,
    },
    #[error("rate limited by the platform")]
    RateLimited { retry_after: Option<Duration> },
    /// A 5xx, after the retries.
    #[error("the platform answered HTTP {status}{}", .detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Server {
        status: u16,
        detail: Option<ServerText>,
    },
    /// A 400 with the contract's error body: the request was refused, for the reason `code`
    /// names (`invalid_request`, or one of browser login's grant errors).
    #[error("the platform refused the request (HTTP 400): {message}")]
    BadRequest {
        code: ServerText,
        message: ServerText,
    },
    /// A status the contract does not give (a 404 from a wrong API URL, say); never retried.
    #[error("the platform answered HTTP {status}{}", .detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    UnexpectedStatus {
        status: u16,
        detail: Option<ServerText>,
    },
    #[error("failed to connect to {host}: {reason}")]
    Connect {
        host: String,
        reason: String,
        route: super::ProxyRoute,
    },
    #[error("TLS handshake with {host} failed: {reason}")]
    Tls { host: String, reason: String },
    #[error("no answer within {} s", .after.as_secs_f64())]
    Timeout { after: Duration },
    #[error(
        "the platform redirected (HTTP {status}) to {location}; not following it with your key"
    )]
    Redirect { status: u16, location: ServerText },
    #[error("the response is larger than {} MiB", MAX_BODY / 1024 / 1024)]
    BodyTooLarge,
    #[error("the platform's answer could not be read (HTTP {status}): {reason}")]
    InvalidResponse { status: u16, reason: String },
}

pub type Result<T> = std::result::Result<T, ApiError>;

/// A 200 whose body could not be decoded.
impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> Self {
        ApiError::InvalidResponse {
            status: 200,
            reason: e.reason,
        }
    }
}

/// What `DELETE /api/auth/key` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The platform revoked the key (204).
    Revoked,
    /// The platform does not accept the key (401): nothing was revoked there.
    NotAccepted,
}

/// What [`ApiClient::reach`] learned.
#[derive(Debug, Clone, Copy)]
pub struct Reached {
    /// The HTTP status of the answer (401 from a FluxLoop platform, asked without a key).
    pub status: u16,
    /// The platform's clock, from its `Date` header; `None` when it sent none.
    pub date: Option<DateTime<Utc>>,
}

/// A key the platform just minted (the contract's `NewKey`): the secret, and what
/// `GET /api/auth/key` would say about it.
pub struct NewKey {
    pub api_key: SecretString,
    pub info: KeyInfo,
}

/// A browser login the platform started.
pub struct BrowserLogin {
    /// The secret the client polls with; never shown.
    pub device_code: SecretString,
    pub authorization: DeviceAuthorization,
}

/// One poll of a browser login (RFC 8628 section 3.5).
pub enum Poll {
    /// `authorization_pending`: not approved yet.
    Pending,
    /// `slow_down`: poll 5 s less often from now on.
    SlowDown,
    /// `access_denied`: the user refused.
    Denied,
    /// `expired_token`: the code expired or was used.
    Expired,
    /// Approved: the new key (boxed: it dwarfs the other answers).
    Approved(Box<NewKey>),
}

/// One request's parts beyond its method and path.
struct Call<'a> {
    method: Method,
    path: &'static str,
    /// Sent as `Authorization: Bearer`; `None` for the calls that need no key.
    bearer: Option<&'a SecretString>,
    /// The secret that the server's text is masked against: the bearer key, or the device code.
    mask: &'a SecretString,
    /// A JSON body (wiped when dropped: a poll's body holds the device code).
    json: Option<Zeroizing<Vec<u8>>>,
    idempotency_key: Option<&'a str>,
}

impl<'a> Call<'a> {
    fn with_key(method: Method, path: &'static str, key: &'a SecretString) -> Self {
        Call {
            method,
            path,
            bearer: Some(key),
            mask: key,
            json: None,
            idempotency_key: None,
        }
    }
}

/// A value for `Idempotency-Key`: unique per attempt of a command, so that its retries are
/// recognised and nothing else is. Not secret; drawn from the process's random hash seed.
pub fn new_idempotency_key() -> String {
    use std::hash::{BuildHasher, Hasher};
    let seed = std::collections::hash_map::RandomState::new();
    let mut parts = [0u64; 2];
    for (i, part) in parts.iter_mut().enumerate() {
        let mut h = seed.build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        *part = h.finish();
    }
    format!("fluxloop-{:016x}{:016x}", parts[0], parts[1])
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The whole command's budget for talking to the platform.
    pub timeout: Duration,
    /// Extra PEM roots (corporate CAs), from `SSL_CERT_FILE`.
    pub extra_roots: Option<PathBuf>,
    /// `Some` when `SSL_CERT_FILE` is present at all (even empty): the platform verifier then
    /// skips the system store (see [`system_roots`]), so the client loads it from these
    /// directories (`SSL_CERT_DIR`; the distribution's when empty) and adds it back.
    pub system_cert_dirs: Option<Vec<PathBuf>>,
    /// The proxy variables, so that an error names the proxy that failed.
    pub proxy: super::ProxyVars,
}

pub struct ApiClient {
    http: reqwest::Client,
    base: Url,
    /// How requests reach `base`, for errors.
    route: super::ProxyRoute,
    deadline: Instant,
    timeout: Duration,
}

/// Accepts `https://` anywhere and `http://` only for loopback, where a local stand-in or proxy
/// runs; anything else would put the key on the network in clear text.
pub fn parse_base_url(text: &str) -> Result<Url> {
    let invalid = |reason: &str| ApiError::InvalidUrl {
        url: text.to_string(),
        reason: reason.to_string(),
    };
    let url = Url::parse(text.trim()).map_err(|e| invalid(&e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("it must not contain credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not have a query or fragment"));
    }
    let host = url.host_str().ok_or_else(|| invalid("it has no host"))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(host) => Ok(url),
        "http" => Err(ApiError::InsecureUrl {
            url: url.to_string(),
        }),
        other => Err(invalid(&format!("unsupported scheme `{other}`"))),
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl ApiClient {
    pub fn new(base: Url, options: &ClientOptions) -> Result<Self> {
        let mut builder = reqwest::Client::builder()
            .user_agent(user_agent())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .https_only(false);
        // reqwest uses rustls' process-wide provider (ring); installing it again changes nothing.
        let _ = rustls::crypto::ring::default_provider().install_default();
        if base.scheme() == "http" {
            // Plain http is only allowed for loopback (parse_base_url); a proxy there would
            // see the Authorization header in clear text, so loopback is always reached
            // directly, whatever HTTP_PROXY or ALL_PROXY say.
            builder = builder.no_proxy();
            // No TLS is ever spoken: redirects are not followed, so this client only reaches
            // the http base. It gets a TLS set-up that trusts no one instead of loading the
            // system's trust store, which costs milliseconds on every command.
            builder = builder.tls_backend_preconfigured(trusting_no_one()?);
        } else {
            if let Some(path) = &options.extra_roots {
                builder = builder.tls_certs_merge(extra_roots(path)?);
            }
            if let Some(dirs) = &options.system_cert_dirs
                && let Some(system) = system_roots(dirs)
            {
                debug!(
                    system = system.len(),
                    "trusted CA certificates: the system's, plus SSL_CERT_FILE's"
                );
                builder = builder.tls_certs_merge(system);
            }
        }
        let route = options.proxy.route(&base);
        let http = builder.build().map_err(|e| {
            let reason = error_chain(&e);
            // The certificates are only parsed here, by rustls: say where a bad one came from.
            ApiError::Setup(match &options.extra_roots {
                Some(path) => format!(
                    "{} (SSL_CERT_FILE) holds a certificate that cannot be used: {reason}",
                    path.display()
                ),
                None => reason,
            })
        })?;
        Ok(Self {
            http,
            base,
            route,
            deadline: deadline_after(options.timeout),
            timeout: options.timeout,
        })
    }

    /// Gives the next request the whole timeout again: a browser login polls for minutes,
    /// each poll within the usual budget.
    pub fn restart_deadline(&mut self) {
        self.deadline = deadline_after(self.timeout);
    }

    /// `GET /api/auth/key`: validates the key and describes it.
    pub async fn introspect_key(&self, key: &SecretString) -> Result<KeyInfo> {
        let body = self.request(Method::GET, "/api/auth/key", key).await?;
        Ok(decode(&body, key)?)
    }

    /// `POST /api/cli-connect/start`: needs no key. The device code is taken out of the answer
    /// before it is decoded, so that it is never in a type that can be shown.
    pub async fn start_browser_login(
        &self,
        request: &StartRequest,
        idempotency_key: &str,
    ) -> Result<BrowserLogin> {
        let json = encode(request)?;
        // Nothing secret is sent; the answer's text is masked against nothing of ours.
        let nothing = SecretString::from("");
        let body = Zeroizing::new(
            self.call(Call {
                method: Method::POST,
                path: "/api/cli-connect/start",
                bearer: None,
                mask: &nothing,
                json: Some(Zeroizing::new(json)),
                idempotency_key: Some(idempotency_key),
            })
            .await?,
        );
        let mut value = parse_json(&body)?;
        let device_code = take_secret(&mut value, "device_code")?;
        let authorization = decode_value(value, &device_code)?;
        Ok(BrowserLogin {
            device_code,
            authorization,
        })
    }

    /// `POST /api/cli-connect/complete`, once.
    pub async fn poll_browser_login(&self, device_code: &SecretString) -> Result<Poll> {
        let json = Zeroizing::new(
            serde_json::json!({ "device_code": device_code.expose_secret() }).to_string(),
        );
        let answer = self
            .call(Call {
                method: Method::POST,
                path: "/api/cli-connect/complete",
                bearer: None,
                mask: device_code,
                json: Some(Zeroizing::new(json.as_bytes().to_vec())),
                idempotency_key: None,
            })
            .await;
        match answer {
            Ok(body) => Ok(Poll::Approved(Box::new(decode_new_key(&Zeroizing::new(
                body,
            ))?))),
            Err(ApiError::BadRequest { code, message }) => match code.as_str() {
                "authorization_pending" => Ok(Poll::Pending),
                "slow_down" => Ok(Poll::SlowDown),
                "access_denied" => Ok(Poll::Denied),
                "expired_token" => Ok(Poll::Expired),
                _ => Err(ApiError::BadRequest { code, message }),
            },
            Err(e) => Err(e),
        }
    }

    /// `POST /api/auth/key/rotate` with `key`. Retries (429, 5xx, within the deadline) carry
    /// the same `idempotency_key`, so a lost answer does not mint a second key.
    pub async fn rotate_key(
        &self,
        key: &SecretString,
        request: &RotateRequest,
        idempotency_key: &str,
    ) -> Result<NewKey> {
        let json = encode(request)?;
        let body = Zeroizing::new(
            self.call(Call {
                json: Some(Zeroizing::new(json)),
                idempotency_key: Some(idempotency_key),
                ..Call::with_key(Method::POST, "/api/auth/key/rotate", key)
            })
            .await?,
        );
        decode_new_key(&body)
    }

    /// `GET /api/auth/whoami`.
    pub async fn whoami(&self, key: &SecretString) -> Result<Whoami> {
        let body = self.request(Method::GET, "/api/auth/whoami", key).await?;
        Ok(decode(&body, key)?)
    }

    /// `GET /api/auth/key` without a key, once: whether the platform answers at all (with 401,
    /// as the contract says) and the time on its clock (`Date`), for `auth doctor`. No key is
    /// sent, so no key is checked.
    pub async fn reach(&self) -> Result<Reached> {
        let url = self.endpoint("/api/auth/key");
        let request = self.http.get(url).header(ACCEPT, "application/json").send();
        let response = tokio::time::timeout(self.timeout, request)
            .await
            .map_err(|_| ApiError::Timeout {
                after: self.timeout,
            })?
            .map_err(|e| self.transport_error(&e))?;
        let date = response
            .headers()
            .get(DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|text| DateTime::parse_from_rfc2822(text).ok())
            .map(|at| at.with_timezone(&Utc));
        Ok(Reached {
            status: response.status().as_u16(),
            date,
        })
    }

    /// `DELETE /api/auth/key`: 204 revoked it; a 401 means this platform does not accept the
    /// key (already revoked or expired, or a key of another environment), which is not the
    /// same as having revoked it.
    pub async fn revoke_key(&self, key: &SecretString) -> Result<Revocation> {
        match self.request(Method::DELETE, "/api/auth/key", key).await {
            Ok(_) => Ok(Revocation::Revoked),
            Err(ApiError::Unauthorized { .. }) => Ok(Revocation::NotAccepted),
            Err(e) => Err(e),
        }
    }

    fn endpoint(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!("{}{}", self.base.path().trim_end_matches('/'), path);
        url.set_path(&joined);
        url
    }

    fn host(&self) -> String {
        match (self.base.host_str(), self.base.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => self.base.to_string(),
        }
    }

    async fn request(
        &self,
        method: Method,
        path: &'static str,
        key: &SecretString,
    ) -> Result<Vec<u8>> {
        self.call(Call::with_key(method, path, key)).await
    }

    async fn call(&self, call: Call<'_>) -> Result<Vec<u8>> {
        let Call {
            ref method, path, ..
        } = call;
        let url = self.endpoint(path);
        let auth = match call.bearer {
            Some(key) => {
                let text = Zeroizing::new(format!("Bearer {}", key.expose_secret()));
                let mut value =
                    HeaderValue::from_str(&text).map_err(|_| ApiError::InvalidResponse {
                        status: 0,
                        reason: "the API key contains characters that cannot be sent".into(),
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };

        // Named in every log line: a proxy or a saved URL may send the key somewhere unexpected.
        let host = url.host_str().unwrap_or_default().to_string();
        let host = host.as_str();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ApiError::Timeout {
                    after: self.timeout,
                });
            }
            let started = Instant::now();
            crate::crash_points::step(crate::crash_points::Step::HttpRequest);
            let result = tokio::time::timeout(remaining, self.once(&call, &url, auth.clone()))
                .await
                .unwrap_or(Err(ApiError::Timeout {
                    after: self.timeout,
                }));
            let elapsed = started.elapsed();
            let (status, retry_after, outcome) = match result {
                Ok(ok) => ok,
                Err(e) => {
                    info!(%method, host, path, attempt, elapsed_ms = elapsed.as_millis() as u64, error = %e, "request failed");
                    return Err(e);
                }
            };
            info!(%method, host, path, status = status.as_u16(), attempt, elapsed_ms = elapsed.as_millis() as u64, "response");
            let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            if !retryable || attempt >= MAX_ATTEMPTS {
                return outcome;
            }
            let backoff = FIRST_BACKOFF
                .saturating_mul(2u32.saturating_pow(attempt - 1))
                .min(MAX_BACKOFF);
            let wait = retry_after.unwrap_or(backoff);
            // The server picks Retry-After: a wait past what an Instant can hold is past the
            // deadline too.
            if Instant::now()
                .checked_add(wait)
                .is_none_or(|resume| resume >= self.deadline)
            {
                debug!(
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "not retrying: the wait would pass the deadline"
                );
                return outcome;
            }
            debug!(
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// One request: returns the status, any Retry-After, and what that answer means.
    async fn once(
        &self,
        call: &Call<'_>,
        url: &Url,
        auth: Option<HeaderValue>,
    ) -> Result<(StatusCode, Option<Duration>, Result<Vec<u8>>)> {
        let key = call.mask;
        let mut builder = self
            .http
            .request(call.method.clone(), url.clone())
            .header(ACCEPT, "application/json");
        if let Some(auth) = auth {
            builder = builder.header(AUTHORIZATION, auth);
        }
        if let Some(json) = &call.json {
            builder = builder
                .header(CONTENT_TYPE, "application/json")
                .body(json.to_vec());
        }
        if let Some(idempotency_key) = call.idempotency_key {
            builder = builder.header("Idempotency-Key", idempotency_key);
        }
        let mut response = builder.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| parse_retry_after(v.as_bytes(), Utc::now()));
        if status.is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .map_or(ServerText::ours("(no location)"), |v| {
                    ServerText::new(&String::from_utf8_lossy(v.as_bytes()), key)
                });
            return Ok((
                status,
                None,
                Err(ApiError::Redirect {
                    status: status.as_u16(),
                    location,
                }),
            ));
        }
        if let Some(len) = response.content_length()
            && len > MAX_BODY as u64
        {
            return Err(ApiError::BodyTooLarge);
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY {
                        return Err(ApiError::BodyTooLarge);
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if status.is_success() => {
                    return Err(ApiError::InvalidResponse {
                        status: status.as_u16(),
                        reason: format!("the response was cut off ({})", error_chain(&e)),
                    });
                }
                // An error answer that is cut short is still an error answer.
                Err(_) => break,
            }
        }
        // A 400 with the contract's error body says why; any other 400 is unexpected.
        let refusal = (status == StatusCode::BAD_REQUEST)
            .then(|| parse_error(&body, key))
            .flatten();
        let outcome = match status {
            _ if let Some(e) = refusal => Err(ApiError::BadRequest {
                code: e.code,
                message: e.message,
            }),
            s if s.is_success() => Ok(body),
            StatusCode::UNAUTHORIZED => {
                let (code, message) = match parse_error(&body, key) {
                    Some(e) => (e.code, e.message),
                    None => (
                        ServerText::ours("invalid_api_key"),
                        ServerText::ours("Invalid API key"),
                    ),
                };
                Err(ApiError::Unauthorized { code, message })
            }
            StatusCode::FORBIDDEN => {
                let e = parse_error(&body, key);
                Err(ApiError::PermissionDenied {
                    message: e
                        .as_ref()
                        .map_or(ServerText::ours("Permission denied"), |e| e.message.clone()),
                    required: e.as_ref().and_then(|e| e.required_permission.clone()),
                    permissions: e.map(|e| e.permissions).unwrap_or_default(),
                })
            }
            StatusCode::TOO_MANY_REQUESTS => Err(ApiError::RateLimited { retry_after }),
            s => {
                let detail = parse_error(&body, key).map(|e| e.message).or_else(|| {
                    (!body.is_empty()).then(|| {
                        ServerText::ours(
                            "the answer was not the platform's JSON (a proxy or gateway page?)",
                        )
                    })
                });
                let status = s.as_u16();
                Err(if s.is_server_error() {
                    ApiError::Server { status, detail }
                } else {
                    ApiError::UnexpectedStatus { status, detail }
                })
            }
        };
        Ok((status, retry_after, outcome))
    }

    fn transport_error(&self, e: &reqwest::Error) -> ApiError {
        let chain = error_chain(e);
        if e.is_timeout() {
            ApiError::Timeout {
                after: self.timeout,
            }
        } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("TLS") {
            ApiError::Tls {
                host: self.host(),
                reason: chain,
            }
        } else {
            // Refused, reset, DNS and proxy failures all mean the platform was not reached.
            ApiError::Connect {
                host: self.host(),
                reason: chain,
                route: self.route.clone(),
            }
        }
    }
}

/// The parts of an error body that may be shown, made safe to show.
struct ErrorText {
    code: ServerText,
    message: ServerText,
    required_permission: Option<ServerText>,
    permissions: Vec<ServerText>,
}

fn parse_error(body: &[u8], key: &SecretString) -> Option<ErrorText> {
    let e = serde_json::from_slice::<ErrorBody>(body).ok()?.error;
    let text = |raw: &str| ServerText::new(raw, key);
    Some(ErrorText {
        code: text(&e.code),
        message: text(&e.message),
        required_permission: e.required_permission.as_deref().map(text),
        permissions: e.permissions.iter().map(|p| text(p)).collect(),
    })
}

/// Takes the string field `name` out of the answer, as a secret.
fn take_secret(value: &mut serde_json::Value, name: &str) -> Result<SecretString> {
    match value.get_mut(name).map(serde_json::Value::take) {
        Some(serde_json::Value::String(text)) if !text.is_empty() => {
            let text = Zeroizing::new(text);
            Ok(SecretString::from(text.as_str()))
        }
        Some(serde_json::Value::String(_)) => Err(ApiError::InvalidResponse {
            status: 200,
            reason: format!("unexpected JSON at {name}: an empty string"),
        }),
        Some(_) => Err(ApiError::InvalidResponse {
            status: 200,
            reason: format!("unexpected JSON at {name}: found something other than a string"),
        }),
        None => Err(ApiError::InvalidResponse {
            status: 200,
            reason: format!("unexpected JSON: missing field `{name}`"),
        }),
    }
}

/// A `NewKey` answer: the key taken out first, the rest masked against it and decoded as
/// `KeyInfo`. The key is checked against the documented format here, so a garbled answer
/// is never stored.
fn decode_new_key(body: &[u8]) -> Result<NewKey> {
    let mut value = parse_json(body)?;
    let api_key = take_secret(&mut value, "api_key")?;
    if crate::keys::check_format(&api_key).is_err() {
        return Err(ApiError::InvalidResponse {
            status: 200,
            reason: "the new key in the answer is not in the documented format".into(),
        });
    }
    let info = decode_value(value, &api_key)?;
    Ok(NewKey { api_key, info })
}

/// The instant `timeout` from now; a timeout too long for an Instant means no deadline worth
/// the name, so a century stands in.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

/// A TLS client configuration with no trusted root at all: any certificate is refused.
fn trusting_no_one() -> Result<rustls::ClientConfig> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiError::Setup(e.to_string()))?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth())
}

/// The CA certificates of `SSL_CERT_FILE`.
fn extra_roots(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>> {
    let shown = path.display();
    let pem = std::fs::read(path)
        .map_err(|e| ApiError::Setup(format!("cannot read {shown} (SSL_CERT_FILE): {e}")))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        ApiError::Setup(format!(
            "{shown} (SSL_CERT_FILE) is not a PEM certificate bundle: {e}"
        ))
    })?;
    // The PEM reader skips whatever is not a PEM certificate, so a DER file or any other
    // text comes back empty rather than as an error.
    if certs.is_empty() {
        return Err(ApiError::Setup(format!(
            "{shown} (SSL_CERT_FILE) holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )));
    }
    debug!(count = certs.len(), file = %shown, "CA certificates from SSL_CERT_FILE");
    Ok(certs)
}

/// The system trust store, for `SSL_CERT_FILE` to add to. On Linux and the BSDs the platform
/// verifier reads the store through rustls-native-certs, which follows OpenSSL and loads
/// `SSL_CERT_FILE` *instead of* the system bundle whenever the variable is set; the store is
/// therefore loaded here as it would be without that variable (from `dirs`, else the
/// distribution's directories) and handed over as extra roots. Certificates that fail to
/// load are skipped, as the verifier skips them. `None` where the OS verifier keeps its own
/// store and only adds the extra roots to it.
#[cfg(all(unix, not(target_vendor = "apple"), not(target_os = "android")))]
fn system_roots(dirs: &[PathBuf]) -> Option<Vec<reqwest::Certificate>> {
    let dirs: Vec<PathBuf> = if dirs.is_empty() {
        openssl_probe::candidate_cert_dirs()
            .map(PathBuf::from)
            .collect()
    } else {
        dirs.to_vec()
    };
    let mut ders = Vec::new();
    for dir in &dirs {
        ders.extend(rustls_native_certs::load_certs_from_paths(None, Some(dir)).certs);
    }
    ders.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
    ders.dedup();
    // One odd certificate in the system store must not fail every request, nor be blamed
    // on SSL_CERT_FILE: keep only those rustls accepts as roots.
    ders.retain(|der| rustls::RootCertStore::empty().add(der.clone()).is_ok());
    Some(
        ders.iter()
            .filter_map(|der| reqwest::Certificate::from_der(der).ok())
            .collect(),
    )
}

#[cfg(not(all(unix, not(target_vendor = "apple"), not(target_os = "android"))))]
fn system_roots(_dirs: &[PathBuf]) -> Option<Vec<reqwest::Certificate>> {
    None
}

/// `fluxloop/<version> (<os>)`.
pub fn user_agent() -> String {
    format!(
        "fluxloop/{} ({})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS
    )
}

/// The error and its causes on one line, most specific last, deduplicated.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    crate::keys::redact(&parts.join(": "))
}

/// A request body as JSON; our own types always encode, but a failure is an answer, not a panic.
fn encode<T: serde::Serialize>(request: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(request).map_err(|e| ApiError::InvalidResponse {
        status: 0,
        reason: format!("cannot encode the request: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_rules() {
        assert!(parse_base_url("https://api.fluxloop.ai").is_ok());
        assert!(parse_base_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_base_url("http://127.5.6.7").is_ok());
        assert!(parse_base_url("http://localhost:3000/").is_ok());
        assert!(parse_base_url("http://[::1]:3000").is_ok());
        assert!(matches!(
            parse_base_url("http://api.fluxloop.ai"),
            Err(ApiError::InsecureUrl { .. })
        ));
        assert!(matches!(
            parse_base_url("http://10.0.0.1"),
            Err(ApiError::InsecureUrl { .. })
        ));
        assert!(matches!(
            parse_base_url("http://localhost.evil.com"),
            Err(ApiError::InsecureUrl { .. })
        ));
        assert!(matches!(
            parse_base_url("ftp://x"),
            Err(ApiError::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse_base_url("https://u:p@h"),
            Err(ApiError::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse_base_url("https://h/?k=v"),
            Err(ApiError::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse_base_url("not a url"),
            Err(ApiError::InvalidUrl { .. })
        ));
    }

    /// A client for a plain-http (loopback) URL loads no trust store and trusts no one: even
    /// with the server's CA in SSL_CERT_FILE, HTTPS from it fails closed, while a client for
    /// an https URL with the same CA gets through. (It never speaks TLS anyway: every request
    /// goes to its http base, and redirects are not followed.)
    #[test]
    fn the_plain_http_client_never_completes_a_tls_handshake() {
        let tls = fluxloop_stand_in::Platform::start_tls();
        let ca = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(ca.path(), tls.ca_pem().unwrap()).unwrap();
        let opts = ClientOptions {
            timeout: Duration::from_secs(10),
            extra_roots: Some(ca.path().to_path_buf()),
            system_cert_dirs: None,
            proxy: Default::default(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let target = format!("{}/api/auth/key", tls.url());
        let get = |base: &str| {
            let client = ApiClient::new(parse_base_url(base).unwrap(), &opts).unwrap();
            runtime.block_on(client.http.get(&target).send())
        };
        assert!(get(&tls.url()).is_ok(), "the control: the CA is trusted");
        let refused = get("http://127.0.0.1:9").unwrap_err();
        assert!(
            error_chain(&refused).contains("certificate"),
            "{}",
            error_chain(&refused)
        );
        // Only the control's request got through the handshake.
        assert_eq!(tls.requests().len(), 1);
    }

    #[test]
    fn endpoint_keeps_a_path_prefix() {
        let opts = ClientOptions {
            timeout: Duration::from_secs(1),
            extra_roots: None,
            system_cert_dirs: None,
            proxy: Default::default(),
        };
        let c = ApiClient::new(parse_base_url("https://h/prefix/").unwrap(), &opts).unwrap();
        assert_eq!(
            c.endpoint("/api/auth/key").as_str(),
            "https://h/prefix/api/auth/key"
        );
        let c = ApiClient::new(parse_base_url("https://h").unwrap(), &opts).unwrap();
        assert_eq!(
            c.endpoint("/api/auth/key").as_str(),
            "https://h/api/auth/key"
        );
    }

    #[test]
    fn user_agent_format() {
        let ua = user_agent();
        assert!(ua.starts_with("fluxloop/"), "{ua}");
        assert!(ua.ends_with(&format!("({})", std::env::consts::OS)), "{ua}");
    }
}
