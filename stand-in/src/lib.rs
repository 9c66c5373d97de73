//! A stand-in for the FluxLoop Web Platform's authentication endpoints
//! (`docs/platform-api.yaml`), serving on 127.0.0.1 so the CLI can be tested end to end
//! without the network, including the ways a real platform or its proxies misbehave.
//!
//! Responses are chosen by the bearer token: see [`keys`] for the scenarios.
//!
//! [`Platform::start_tls`] serves the same routes and faults over HTTPS, with a certificate
//! from a CA made up at start-up ([`Platform::ca_pem`]).

#![forbid(unsafe_code)]

mod api;
mod connect;
mod faults;
mod http;
pub mod keys;
mod tls;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use connect::State;
use tls::Conn;

pub use connect::{ConnectFault, ConnectSettings, DEFAULT_KEY_DAYS, LoginView, MintedKey};
pub use faults::{ESCAPES, HUGE_BODY_LEN};

/// One request exactly as the platform received it, so tests can assert on what the CLI
/// actually sent (headers, and that the key never appears where it should not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// Header names lowercased, values trimmed, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// First value of a header; HTTP header names are case-insensitive.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The target without its query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// Misbehaviour injected in front of every route, for the CLI's error handling tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 500 with a JSON `internal` error.
    ServerError,
    /// 502 with an nginx-style HTML page, as a proxy in front of the platform would send.
    HtmlBadGateway,
    /// 200 JSON whose Content-Length promises more than the half that is sent before closing.
    TruncatedJson,
    /// The next `times` requests get 429 with `Retry-After`, later ones are served normally.
    RateLimited { retry_after: u64, times: u32 },
    /// The next `times` requests get a 503 JSON `internal` error, later ones are served normally.
    Unavailable { times: u32 },
    /// Reads the request and never answers; the socket stays open until the platform drops.
    Silent,
    /// 307 to `location`, verbatim, for every request.
    Redirect { location: String },
    /// 200 JSON of exactly [`HUGE_BODY_LEN`] bytes (a VALID response padded by an unknown
    /// field), streamed with a correct Content-Length.
    HugeBody,
    /// A hostile server or proxy that echoes the bearer token it was sent into every string
    /// field of the reply: whole, without its `flux_` prefix, its secret alone, and cut in the
    /// middle, one form per field in turn.
    EchoKey(Hostile),
    /// Every string field of the reply carries terminal escapes: clear screen (`ESC [ 2J`), an
    /// OSC 52 clipboard write, and BEL.
    TerminalEscapes(Hostile),
    /// Numbers no sane platform sends; see [`Absurd`].
    AbsurdNumbers(Absurd),
}

/// Which reply a hostile fault ([`Fault::EchoKey`], [`Fault::TerminalEscapes`]) fills with its
/// payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hostile {
    /// 500 JSON error: the payload is in `message`.
    ServerError,
    /// 403 `permission_denied`: in `message`, `required_permission` and each of `permissions`.
    PermissionDenied,
    /// 401: in `code` and `message`.
    Unauthorized,
    /// 404 JSON error: in `message`.
    NotFound,
    /// 307: in `Location`.
    Redirect,
    /// 200 with the route's VALID answer (204 for DELETE), with the payload in every string
    /// field but the dates, permission names included: e-mail, organization, project, plan,
    /// key name and environment.
    Success,
    /// 200 with the route's VALID answer, but a boolean field (`scopes.all_projects`,
    /// `api_access`) is a string holding the payload, so a decoder that quotes the
    /// offending value quotes the payload.
    WrongType,
}

/// What [`Fault::AbsurdNumbers`] sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Absurd {
    /// 429 to every request, with this `Retry-After` verbatim (`18446744073709551615`, `-1`,
    /// garbage, an HTTP-date in year 9999).
    RetryAfter(String),
    /// The route's VALID answer with the key's `expires_at` set to this JSON value verbatim
    /// (year 99999, year 1, a number).
    ExpiresAt(serde_json::Value),
    /// The route's VALID answer with `runs_per_month` and `runs_this_month` at `u64::MAX`.
    HugeCounts,
    /// The route's VALID answer under this `Content-Length` header verbatim, whatever the body
    /// length (`18446744073709551615`, `99999999999999999999`, `-1`, `1`).
    ContentLength(String),
}

impl Fault {
    /// Short name for logs, matching the demo binary's `--fault` values.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::ServerError => "server-error",
            Fault::HtmlBadGateway => "html-502",
            Fault::TruncatedJson => "truncated",
            Fault::RateLimited { .. } => "rate-limited",
            Fault::Unavailable { .. } => "unavailable",
            Fault::Silent => "silent",
            Fault::Redirect { .. } => "redirect",
            Fault::HugeBody => "huge",
            Fault::EchoKey(_) => "echo-key",
            Fault::TerminalEscapes(_) => "terminal-escapes",
            Fault::AbsurdNumbers(_) => "absurd-numbers",
        }
    }
}

/// What the platform did with one request; deliberately free of headers and query strings so
/// that logging it can never leak a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub method: String,
    /// Path without query; anything key-shaped replaced by `[redacted]`.
    pub path: String,
    /// `None` when no response was sent ([`Fault::Silent`]).
    pub status: Option<u16>,
    /// The fault that produced the response, if any.
    pub fault: Option<&'static str>,
}

/// Receives a [`LogEntry`] per request, from the connection's thread.
pub type Logger = Arc<dyn Fn(&LogEntry) + Send + Sync>;

struct Shared {
    stopping: AtomicBool,
    requests: Mutex<Vec<RecordedRequest>>,
    fault: Mutex<Option<Fault>>,
    /// Revocations, browser logins, minted keys.
    state: Mutex<State>,
    /// Connections of unanswered ([`Fault::Silent`]) requests, closed on drop.
    held: Mutex<Vec<Conn>>,
    logger: Mutex<Option<Logger>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not take the whole platform down with it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// The fault for the next request, counting down the limited ones under the lock so that
    /// concurrent requests consume exactly `times` faulty replies.
    fn next_fault(&self) -> Option<Fault> {
        let mut slot = lock(&self.fault);
        let times = match slot.as_mut()? {
            Fault::RateLimited { times, .. } | Fault::Unavailable { times } => times,
            other => return Some(other.clone()),
        };
        if *times == 0 {
            *slot = None;
            return None;
        }
        *times -= 1;
        slot.clone()
    }
}

/// A running stand-in platform. Dropping it stops the server and closes held sockets.
pub struct Platform {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
    /// PEM of the CA that signed the server certificate; `None` for plain HTTP.
    ca_pem: Option<String>,
}

impl Platform {
    /// Starts on an ephemeral port. Panics if 127.0.0.1 cannot be bound, which in a test is
    /// the most useful thing to do.
    pub fn start() -> Platform {
        Platform::start_on(0).expect("cannot bind the stand-in platform to 127.0.0.1")
    }

    /// Starts on a given port (0 for an ephemeral one), for the demo binary.
    pub fn start_on(port: u16) -> std::io::Result<Platform> {
        Platform::launch(port, None)
    }

    /// Starts over HTTPS on an ephemeral port, with a certificate for `localhost` and
    /// `127.0.0.1` signed by a CA made for this instance alone (see [`Platform::ca_pem`]).
    pub fn start_tls() -> Platform {
        Platform::start_tls_for(&["localhost", "127.0.0.1"])
    }

    /// Starts over HTTPS with a certificate for exactly `names` (DNS names or IP
    /// addresses), e.g. only `other.example` to serve a certificate for the wrong host.
    pub fn start_tls_for(names: &[&str]) -> Platform {
        let tls = tls::generate(names).expect("cannot make the stand-in's TLS certificate");
        Platform::launch(0, Some(tls)).expect("cannot bind the stand-in platform to 127.0.0.1")
    }

    /// Starts over HTTPS on a given port (0 for an ephemeral one), for the demo binary, with
    /// the certificate of [`Platform::start_tls`].
    pub fn start_tls_on(port: u16) -> std::io::Result<Platform> {
        let tls = tls::generate(&["localhost", "127.0.0.1"]).map_err(std::io::Error::other)?;
        Platform::launch(port, Some(tls))
    }

    fn launch(port: u16, tls: Option<tls::Tls>) -> std::io::Result<Platform> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let (config, ca_pem) = match tls {
            Some(t) => (Some(t.config), Some(t.ca_pem)),
            None => (None, None),
        };
        let shared = Arc::new(Shared {
            stopping: AtomicBool::new(false),
            requests: Mutex::default(),
            fault: Mutex::default(),
            state: Mutex::new(State::new(base_url(addr, ca_pem.is_some()))),
            held: Mutex::default(),
            logger: Mutex::default(),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("stand-in-accept".into())
                .spawn(move || accept_loop(&listener, &shared, config.as_ref()))?
        };
        Ok(Platform {
            addr,
            shared,
            acceptor: Some(acceptor),
            ca_pem,
        })
    }

    /// Base URL without a trailing slash. Over TLS the host is `localhost`, the name a
    /// certificate is normally checked against.
    pub fn url(&self) -> String {
        base_url(self.addr, self.ca_pem.is_some())
    }

    /// The PEM certificate of the CA to trust for this instance; `None` for plain HTTP.
    pub fn ca_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request received so far, in arrival order, including those answered by a fault.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Applies `fault` to every following request (counted ones only until used up);
    /// `None` restores normal service.
    pub fn set_fault(&self, fault: Option<Fault>) {
        *lock(&self.shared.fault) = fault;
    }

    /// Keys revoked through `DELETE /api/auth/key` on this instance, in order.
    pub fn revoked(&self) -> Vec<String> {
        lock(&self.shared.state).revoked.clone()
    }

    /// Keys minted on this instance (browser logins and rotations), in order, revoked or not.
    pub fn minted(&self) -> Vec<MintedKey> {
        lock(&self.shared.state).minted.clone()
    }

    /// Minted keys not revoked: the live keys a login or rotation added.
    pub fn live_minted(&self) -> Vec<MintedKey> {
        let state = lock(&self.shared.state);
        state
            .minted
            .iter()
            .filter(|k| !state.revoked.contains(&k.api_key))
            .cloned()
            .collect()
    }

    /// Interval, lifetime and auto-approval of the browser logins started from now on.
    pub fn set_connect(&self, settings: ConnectSettings) {
        lock(&self.shared.state).settings = settings;
    }

    /// Applies a browser-login or rotation fault (counted ones only until used up); `None`
    /// restores normal service.
    pub fn set_connect_fault(&self, fault: Option<ConnectFault>) {
        lock(&self.shared.state).fault = fault;
    }

    /// The device codes of the browser logins started here: secrets, which tests check that
    /// the CLI never shows.
    pub fn device_codes(&self) -> Vec<String> {
        lock(&self.shared.state).device_codes()
    }

    /// Browser logins started on this instance, in order.
    pub fn logins(&self) -> Vec<LoginView> {
        lock(&self.shared.state).logins()
    }

    /// Approves the pending login with this user code, as the user would on the page; false
    /// if no pending login has it.
    pub fn approve(&self, user_code: &str) -> bool {
        lock(&self.shared.state).decide(user_code, true)
    }

    /// Refuses the pending login with this user code.
    pub fn deny(&self, user_code: &str) -> bool {
        lock(&self.shared.state).decide(user_code, false)
    }

    /// Installs a per-request logger (the demo binary prints to stderr); `None` removes it.
    pub fn set_logger(&self, logger: Option<Logger>) {
        *lock(&self.shared.logger) = logger;
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // accept() has no timeout; a connection of our own is what wakes it up.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).is_ok();
        if let Some(acceptor) = self.acceptor.take()
            && woke
        {
            let _ = acceptor.join();
        }
        for conn in lock(&self.shared.held).drain(..) {
            let _ = conn.tcp().shutdown(std::net::Shutdown::Both);
        }
    }
}

fn base_url(addr: SocketAddr, tls: bool) -> String {
    match tls {
        false => format!("http://{addr}"),
        true => format!("https://localhost:{}", addr.port()),
    }
}

fn accept_loop(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    tls: Option<&Arc<rustls::ServerConfig>>,
) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else {
            // Typically out of file descriptors; back off rather than spin.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        // Bounds how long a client that never finishes its request (or its TLS handshake)
        // can pin a thread.
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let Ok(conn) = Conn::new(stream, tls) else {
            continue;
        };
        let shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("stand-in-conn".into())
            .spawn(move || serve(&shared, conn));
        if spawned.is_err() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn serve(shared: &Shared, mut stream: Conn) {
    let req = match http::read_request(&mut stream) {
        Ok(req) => req,
        Err(http::ReadError::Closed) => return,
        Err(http::ReadError::Malformed(why)) => {
            http::write_reply(&mut stream, &api::error(400, "bad_request", why));
            stream.close();
            return;
        }
        Err(http::ReadError::TooLarge) => {
            http::write_reply(
                &mut stream,
                &api::error(413, "bad_request", "request too large"),
            );
            stream.close();
            return;
        }
    };
    lock(&shared.requests).push(req.clone());

    let fault = shared.next_fault();
    let reply = match &fault {
        Some(fault) => faults::reply(fault, &req),
        None => api::handle(&req, chrono::Utc::now(), &mut lock(&shared.state)),
    };
    let silent = matches!(reply.body, http::Body::Silent);

    // Logged before the first response byte leaves, so a script or test that has seen the
    // response can rely on its log line already being written.
    let logger = lock(&shared.logger).clone();
    if let Some(logger) = logger {
        logger(&LogEntry {
            method: req.method.clone(),
            path: api::loggable_path(&req),
            status: (!silent).then_some(reply.status),
            fault: fault.as_ref().map(Fault::name),
        });
    }

    if !silent {
        http::write_reply(&mut stream, &reply);
        stream.close();
        return;
    }
    let mut held = lock(&shared.held);
    // Checked under the lock Drop drains, so a socket is never parked after the drain.
    if !shared.stopping.load(Ordering::SeqCst) {
        held.push(stream);
    }
}
