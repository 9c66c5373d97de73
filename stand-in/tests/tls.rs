//! The stand-in over HTTPS, checked with a raw rustls client: same routes and faults as over
//! plain HTTP, a certificate that verifies only against this instance's own CA, and a
//! shutdown that still releases held connections.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use fluxloop_stand_in::{Fault, Platform, keys};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use support::{Response, parse};

fn client_config(ca_pem: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

fn connect(p: &Platform, ca_pem: &str, name: &str) -> StreamOwned<ClientConnection, TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", p.port())).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = ServerName::try_from(name.to_string()).unwrap();
    let conn = ClientConnection::new(client_config(ca_pem), name).unwrap();
    StreamOwned::new(conn, tcp)
}

/// One request over TLS; `Err` carries the TLS or I/O failure.
fn https_get(p: &Platform, ca_pem: &str, name: &str, key: &str) -> Result<Response, String> {
    let mut tls = connect(p, ca_pem, name);
    let raw = format!(
        "GET /api/auth/key HTTP/1.1\r\nHost: {name}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(raw.as_bytes()).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    tls.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    Ok(parse(&bytes))
}

#[test]
fn serves_the_contract_over_tls_to_a_client_that_trusts_its_ca() {
    let p = Platform::start_tls();
    assert_eq!(p.url(), format!("https://localhost:{}", p.port()));
    let ca = p.ca_pem().expect("a TLS platform has a CA");
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");

    for name in ["localhost", "127.0.0.1"] {
        let resp = https_get(&p, &ca, name, keys::VALID).unwrap();
        assert_eq!(resp.status, 200, "via {name}");
        assert_eq!(resp.json()["key"]["id"], "key_01HV8Y3M2N");
    }
    let reqs = p.requests();
    assert_eq!(reqs.len(), 2);
    let expected = format!("Bearer {}", keys::VALID);
    assert_eq!(reqs[0].header("authorization"), Some(expected.as_str()));
    assert_eq!(reqs[0].path(), "/api/auth/key");
}

#[test]
fn a_client_that_trusts_another_ca_refuses_the_handshake() {
    let p = Platform::start_tls();
    let other = Platform::start_tls();
    let wrong_ca = other.ca_pem().unwrap();
    assert_ne!(
        wrong_ca,
        p.ca_pem().unwrap(),
        "each instance has its own CA"
    );

    let err = https_get(&p, &wrong_ca, "localhost", keys::VALID).unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(
        p.requests().is_empty(),
        "no request gets past a refused handshake"
    );
}

#[test]
fn certificate_names_only_the_hosts_asked_for() {
    let p = Platform::start_tls_for(&["other.example"]);
    let ca = p.ca_pem().unwrap();
    let err = https_get(&p, &ca, "localhost", keys::VALID).unwrap_err();
    assert!(err.contains("not valid for name"), "{err}");
    assert!(p.requests().is_empty());
    // The same certificate is fine for the name it was made for.
    assert_eq!(
        https_get(&p, &ca, "other.example", keys::VALID)
            .unwrap()
            .status,
        200
    );
}

#[test]
fn faults_apply_over_tls() {
    let p = Platform::start_tls();
    let ca = p.ca_pem().unwrap();
    p.set_fault(Some(Fault::HtmlBadGateway));
    let resp = https_get(&p, &ca, "localhost", keys::VALID).unwrap();
    assert_eq!(resp.status, 502);
    assert_eq!(resp.header("content-type"), Some("text/html"));

    // Truncated: the connection ends (cleanly, with close_notify) before Content-Length.
    p.set_fault(Some(Fault::TruncatedJson));
    let resp = https_get(&p, &ca, "localhost", keys::VALID).unwrap();
    assert_eq!(resp.status, 200);
    assert!(resp.body.len() < resp.content_length().unwrap());
}

#[test]
fn dropping_a_tls_platform_releases_a_silent_connection() {
    let p = Platform::start_tls();
    let ca = p.ca_pem().unwrap();
    p.set_fault(Some(Fault::Silent));
    let mut tls = connect(&p, &ca, "localhost");
    tls.write_all(b"GET /api/auth/key HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    // Wait until the request is in, so the connection is among the held ones.
    for _ in 0..500 {
        if !p.requests().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(p.requests().len(), 1);
    let port = p.port();
    drop(p);

    // The held socket was shut down: the read ends instead of waiting for the 10 s timeout.
    let mut buf = Vec::new();
    match tls.read_to_end(&mut buf) {
        Ok(_) => assert!(buf.is_empty(), "a silent server sent {buf:?}"),
        Err(e) => assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
    }
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn plain_instances_are_unchanged() {
    let p = Platform::start();
    assert_eq!(p.url(), format!("http://127.0.0.1:{}", p.port()));
    assert_eq!(p.ca_pem(), None);
}
