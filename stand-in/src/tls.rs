//! HTTPS for the stand-in: a throw-away CA made at start-up signs a server certificate, so
//! tests can show what the CLI does with a CA it trusts (via `SSL_CERT_FILE`) and one it
//! does not. rustls's blocking API keeps the thread-per-connection design.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// The server side of one platform: its TLS configuration and the CA a client must trust.
pub(crate) struct Tls {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) ca_pem: String,
}

/// A fresh CA and a certificate for `names` (DNS names or IP addresses) signed by it.
pub(crate) fn generate(names: &[&str]) -> Result<Tls, String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");

    let ca_key = KeyPair::generate().map_err(|e| fail("CA key", &e))?;
    let mut ca_params =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| fail("CA params", &e))?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // A name of its own, as real CAs have: a client that trusts another instance's CA must
    // find no issuer at all, not a namesake whose signature does not match.
    let id: String = ca_key.public_key_raw()[1..9]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    ca_params.distinguished_name.push(
        DnType::CommonName,
        format!("FluxLoop stand-in test CA {id}"),
    );
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(|e| fail("CA certificate", &e))?;
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().map_err(|e| fail("server key", &e))?;
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).map_err(|e| fail("server names", &e))?;
    params
        .distinguished_name
        .push(DnType::CommonName, "FluxLoop stand-in");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| fail("server certificate", &e))?;

    // Chosen explicitly rather than relying on a process-wide default, which would panic
    // when none (or more than one) is installed. ring is what the CLI uses.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone(), ca_cert.der().clone()];
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail("TLS versions", &e))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| fail("TLS config", &e))?;
    // The hand-rolled server speaks HTTP/1.1 only; say so rather than let a client guess h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];

    Ok(Tls {
        config: Arc::new(config),
        ca_pem: ca_cert.pem(),
    })
}

/// One accepted connection, plain or TLS; the request/response code does not care which.
pub(crate) enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Conn {
    pub(crate) fn new(stream: TcpStream, tls: Option<&Arc<ServerConfig>>) -> io::Result<Conn> {
        Ok(match tls {
            None => Conn::Plain(stream),
            Some(config) => {
                let server = ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
                // The handshake happens on the first read, inside the request parser: a client
                // that rejects the certificate therefore never gets as far as a request.
                Conn::Tls(Box::new(StreamOwned::new(server, stream)))
            }
        })
    }

    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref(),
        }
    }

    /// Ends the response: with `Connection: close`, the client sees the end of the body (or
    /// of a truncated one) only here. TLS says so first with close_notify.
    pub(crate) fn close(mut self) {
        if let Conn::Tls(s) = &mut self {
            s.conn.send_close_notify();
            let _ = s.flush();
        }
        let _ = self.tcp().shutdown(Shutdown::Write);
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}
