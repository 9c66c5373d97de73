//! The network misbehaving at the byte level (issue 11, part 5): a reset in the middle of the
//! body, headers then silence, a body trickling one byte a second, the wrong content type, and
//! a host name that does not resolve. Each ends with a documented exit code, within the total
//! deadline (FLUXLOOP_TIMEOUT), and without a retry (these are not 429 or 5xx answers).
//! TLS handshake failures are in tests/tls.rs.
#![allow(
    clippy::print_stderr,
    reason = "prints the figures of docs/reliability.md"
)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::env::{Run, TestEnv, exit_name, keys};

/// A server on 127.0.0.1 that reads each request's head, then does `answer` with the
/// connection. Returns its port and how many connections it has accepted.
fn serve(answer: fn(TcpStream)) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut stream = stream;
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                answer(stream);
            });
        }
    });
    (port, accepted)
}

/// `status` with the VALID key from the environment against the server at `port`, with a
/// 3 s deadline.
fn status_against(env: &TestEnv, url: &str) -> Run {
    env.run_with(
        &["auth", "status"],
        None,
        &[
            ("FLUXLOOP_API_KEY", keys::VALID),
            ("FLUXLOOP_API_URL", url),
            ("FLUXLOOP_TIMEOUT", "3"),
        ],
    )
}

/// What every fault must give: the documented code named, a message, no crash, and the 3 s
/// deadline kept (with slack for a busy machine).
fn check(run: &Run, code: &str, says: &str) {
    let got = run.code.map_or("killed", exit_name);
    assert_eq!(got, code, "{}", run.stderr);
    assert!(run.stderr.contains(says), "{}", run.stderr);
    assert!(!run.stderr.contains("crashed"), "{}", run.stderr);
    assert!(
        run.elapsed < Duration::from_secs(8),
        "took {:?}: past the 3 s deadline",
        run.elapsed
    );
}

const VALID_BODY: &str = r#"{"valid":true}"#;

#[test]
fn a_connection_reset_in_the_middle_of_the_body_is_a_network_error() {
    let env = TestEnv::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        // Read one byte of the request and leave the rest unread: closing a socket with unread
        // data makes Linux send a reset (RST), not an orderly end (std has no SO_LINGER).
        let mut first = [0u8; 1];
        let _ = stream.read(&mut first);
        std::thread::sleep(Duration::from_millis(300));
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{\"valid\":",
        );
        std::thread::sleep(Duration::from_millis(100));
        drop(stream);
    });
    let run = status_against(&env, &format!("http://127.0.0.1:{port}"));
    eprintln!("reset mid-body:\n{}", run.stderr);
    check(&run, "network", "reset by peer");
}

#[test]
fn headers_then_silence_ends_at_the_deadline() {
    let env = TestEnv::new();
    let (port, accepted) = serve(|mut stream| {
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        );
        std::thread::sleep(Duration::from_secs(30));
    });
    let run = status_against(&env, &format!("http://127.0.0.1:{port}"));
    eprintln!("headers then stall:\n{}", run.stderr);
    check(&run, "network", "3 s");
    assert!(
        run.elapsed >= Duration::from_millis(2500),
        "{:?}",
        run.elapsed
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "retried");
}

#[test]
fn a_body_trickling_one_byte_a_second_ends_at_the_total_deadline() {
    let env = TestEnv::new();
    let (port, accepted) = serve(|mut stream| {
        let body = format!("{VALID_BODY:<200}");
        let _ = stream.write_all(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        for byte in body.bytes() {
            if stream.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let run = status_against(&env, &format!("http://127.0.0.1:{port}"));
    eprintln!("trickle:\n{}", run.stderr);
    // Each byte arrives well within any per-read timeout: only a total deadline stops it.
    check(&run, "network", "3 s");
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "retried");
}

#[test]
fn the_wrong_content_type_is_an_unexpected_response() {
    let env = TestEnv::new();
    let (port, accepted) = serve(|mut stream| {
        let body = "<html><body>Sign in to the captive portal</body></html>";
        let _ = stream.write_all(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    });
    let run = status_against(&env, &format!("http://127.0.0.1:{port}"));
    eprintln!("wrong content type:\n{}", run.stderr);
    check(&run, "network", "it is not JSON");
    // The page itself is not shown.
    assert!(!run.stderr.contains("Sign in to"), "{}", run.stderr);
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "retried");
}

#[test]
fn a_host_name_that_does_not_resolve_is_a_network_error() {
    let env = TestEnv::new();
    // `.invalid` never resolves (RFC 2606).
    let run = status_against(&env, "https://api.fluxloop.invalid");
    eprintln!("dns:\n{}", run.stderr);
    check(&run, "network", "api.fluxloop.invalid");
}
