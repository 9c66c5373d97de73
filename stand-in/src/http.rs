//! Just enough HTTP/1.1 to serve one request per connection. Hand-rolled so that the fault
//! modes control exactly which bytes reach the client and when the socket closes.

use std::io::{self, Read, Write};

use crate::RecordedRequest;

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 1024 * 1024;

pub(crate) enum ReadError {
    /// The peer closed or went quiet before sending a request line; nothing to answer.
    Closed,
    /// Not HTTP we understand; answer 400 with this explanation.
    Malformed(&'static str),
    TooLarge,
}

pub(crate) fn read_request(stream: &mut impl Read) -> Result<RecordedRequest, ReadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = find(&buf, b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_HEAD {
            return Err(ReadError::TooLarge);
        }
        match stream.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Err(ReadError::Closed),
            Ok(0) => return Err(ReadError::Malformed("request head ended early")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) if buf.is_empty() => return Err(ReadError::Closed),
            Err(_) => return Err(ReadError::Malformed("request head ended early")),
        }
    };

    let mut body = buf.split_off(head_end + 4);
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| ReadError::Malformed("request head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Malformed("bad request line"));
    };
    if method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || target.is_empty()
        || !version.starts_with("HTTP/1.")
    {
        return Err(ReadError::Malformed("bad request line"));
    }

    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Malformed("bad header line"));
        };
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(ReadError::Malformed("bad header name"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }

    if headers.iter().any(|(n, _)| n == "transfer-encoding") {
        return Err(ReadError::Malformed(
            "chunked request bodies are not supported",
        ));
    }
    let mut length = None;
    for (_, value) in headers.iter().filter(|(n, _)| n == "content-length") {
        let n: usize = value
            .parse()
            .map_err(|_| ReadError::Malformed("bad Content-Length"))?;
        if length.is_some_and(|l| l != n) {
            return Err(ReadError::Malformed("conflicting Content-Length"));
        }
        length = Some(n);
    }
    let length = length.unwrap_or(0);
    if length > MAX_BODY {
        return Err(ReadError::TooLarge);
    }

    body.truncate(length);
    while body.len() < length {
        match stream.read(&mut chunk) {
            Ok(0) => return Err(ReadError::Malformed("body shorter than Content-Length")),
            Ok(n) => body.extend_from_slice(&chunk[..n.min(length - body.len())]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(ReadError::Malformed("body shorter than Content-Length")),
        }
    }

    Ok(RecordedRequest {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

pub(crate) enum Body {
    /// Sent whole, with a matching Content-Length.
    Full(Vec<u8>),
    /// Content-Length announces all of it, but only the first half is sent before closing.
    Truncated(Vec<u8>),
    /// A large body written piecewise: `prefix`, then `fill_len` copies of `fill`, then `suffix`.
    Streamed {
        prefix: Vec<u8>,
        fill: u8,
        fill_len: usize,
        suffix: Vec<u8>,
    },
    /// Never answered; the caller keeps the socket open.
    Silent,
    /// Sent whole under a `Content-Length` of `claimed`, verbatim: a lie, as like as not.
    Misdeclared { body: Vec<u8>, claimed: String },
}

pub(crate) const JSON: &str = "application/json; charset=utf-8";

impl Reply {
    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type", JSON.to_string())],
            body: Body::Full(value.to_string().into_bytes()),
        }
    }

    pub(crate) fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::Full(Vec::new()),
        }
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes the reply. Errors are ignored: a client that hangs up early (say, on a huge body)
/// is something the tests provoke on purpose.
pub(crate) fn write_reply(stream: &mut impl Write, reply: &Reply) {
    let _ = try_write(stream, reply);
    let _ = stream.flush();
}

fn try_write(stream: &mut impl Write, reply: &Reply) -> io::Result<()> {
    let length = match &reply.body {
        Body::Full(b) | Body::Truncated(b) => b.len().to_string(),
        Body::Misdeclared { claimed, .. } => claimed.clone(),
        Body::Streamed {
            prefix,
            fill_len,
            suffix,
            ..
        } => (prefix.len() + fill_len + suffix.len()).to_string(),
        Body::Silent => return Ok(()),
    };
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    // As a real server does (RFC 9110, 6.6.1): `fluxloop auth doctor` compares it with the clock.
    if !reply
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("date"))
    {
        let now = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
        head.push_str(&format!("Date: {now}\r\n"));
    }
    // RFC 9110 forbids Content-Length on 204.
    if reply.status != 204 {
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");

    match &reply.body {
        Body::Full(body) | Body::Misdeclared { body, .. } => {
            let mut all = head.into_bytes();
            all.extend_from_slice(body);
            stream.write_all(&all)
        }
        Body::Truncated(body) => {
            let mut all = head.into_bytes();
            all.extend_from_slice(&body[..body.len() / 2]);
            stream.write_all(&all)
        }
        Body::Streamed {
            prefix,
            fill,
            fill_len,
            suffix,
        } => {
            stream.write_all(head.as_bytes())?;
            stream.write_all(prefix)?;
            let block = vec![*fill; 64 * 1024];
            let mut left = *fill_len;
            while left > 0 {
                let n = left.min(block.len());
                stream.write_all(&block[..n])?;
                left -= n;
            }
            stream.write_all(suffix)
        }
        Body::Silent => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> Result<RecordedRequest, ReadError> {
        read_request(&mut &raw[..])
    }

    #[test]
    fn parses_head_and_body() {
        let req = parse(
            b"POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nX-Thing:  v \r\n\r\nabcdef",
        )
        .ok()
        .unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.target, "/a?b=1");
        assert_eq!(req.header("x-thing"), Some("v"));
        assert_eq!(req.header("HOST"), Some("x"));
        assert_eq!(req.body, b"abc");
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(parse(b""), Err(ReadError::Closed)));
        assert!(matches!(
            parse(b"GET /\r\n\r\n"),
            Err(ReadError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"),
            Err(ReadError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nnocolon\r\n\r\n"),
            Err(ReadError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
            Err(ReadError::TooLarge)
        ));
    }
}
