//! Raw-socket HTTP client for the tests: no HTTP library, so that what is checked is the bytes
//! on the wire, faults included.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length").map(|v| v.parse().unwrap())
    }

    /// The body as JSON, after checking the headers every JSON response must carry.
    pub fn json(&self) -> Value {
        assert_eq!(
            self.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(self.content_length(), Some(self.body.len()));
        serde_json::from_slice(&self.body).expect("body is JSON")
    }

    /// `error.code` of a JSON error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .expect("error.code")
            .to_string()
    }
}

/// Sends `raw` on a fresh connection and reads until the server closes it.
pub fn exchange(addr: &str, raw: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(raw).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    parse(&bytes)
}

pub fn parse(bytes: &[u8]) -> Response {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("complete response head");
    let head = std::str::from_utf8(&bytes[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"));
    let status = parts.next().unwrap().parse().unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_ascii_lowercase(), v.trim().to_string())
        })
        .collect::<Vec<_>>();
    let response = Response {
        status,
        headers,
        body: bytes[end + 4..].to_vec(),
    };
    assert_eq!(response.header("connection"), Some("close"));
    response
}

/// A request as a CLI would send it; `auth` is the whole Authorization header value.
pub fn request(addr: &str, method: &str, target: &str, auth: Option<&str>) -> Response {
    let mut raw =
        format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n");
    if let Some(auth) = auth {
        raw.push_str(&format!("Authorization: {auth}\r\n"));
    }
    raw.push_str("\r\n");
    exchange(addr, raw.as_bytes())
}

pub fn with_key(addr: &str, method: &str, target: &str, key: &str) -> Response {
    request(addr, method, target, Some(&format!("Bearer {key}")))
}
