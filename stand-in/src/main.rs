//! `fluxloop-stand-in`: the stand-in platform as a process, for the demo script.
//! Prints its base URL as the only stdout line so a script can capture it, and everything
//! else to stderr.

#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use fluxloop_stand_in::{ConnectSettings, Fault, LogEntry, Platform, keys};

const USAGE: &str = "\
usage: fluxloop-stand-in [--port N] [--tls-ca FILE] [--fault NAME] [--retry-after SECS] [--times N]
                         [--location URL] [--interval SECS] [--auto-approve-after SECS]

  --port N          port on 127.0.0.1 to listen on (default 0: any free port)
  --tls-ca FILE     serve HTTPS (https://localhost:PORT) with a certificate signed by a CA
                    made for this run, whose PEM is written to FILE (for SSL_CERT_FILE or
                    curl --cacert)
  --fault NAME      misbehave on every request: server-error, html-502, truncated,
                    rate-limited, unavailable, silent, huge, redirect
  --retry-after N   Retry-After seconds for rate-limited (default 5)
  --times N         answer only the first N requests with rate-limited/unavailable
                    (default: all of them)
  --location URL    target of the redirect fault (required with --fault redirect)
  --interval SECS   polling interval of browser logins (default 5)
  --auto-approve-after SECS
                    approve every browser login SECS seconds after it starts (default:
                    only by hand, on the page at /cli-connect)";

struct Args {
    port: u16,
    tls_ca: Option<String>,
    fault: Option<Fault>,
    connect: ConnectSettings,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut port = 0;
    let mut fault_name = None;
    let mut retry_after = 5;
    let mut times = u32::MAX;
    let mut location = None;
    let mut tls_ca = None;
    let mut connect = ConnectSettings::default();

    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg, None),
        };
        if !matches!(
            flag.as_str(),
            "--port"
                | "--tls-ca"
                | "--fault"
                | "--retry-after"
                | "--times"
                | "--location"
                | "--interval"
                | "--auto-approve-after"
        ) {
            return Err(format!("unexpected argument '{flag}'"));
        }
        let value = inline
            .or_else(|| args.next())
            .ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |what: &str| format!("{flag} expects {what}, got '{value}'");
        match flag.as_str() {
            "--port" => port = value.parse().map_err(|_| number("a port number"))?,
            "--retry-after" => retry_after = value.parse().map_err(|_| number("seconds"))?,
            "--times" => times = value.parse().map_err(|_| number("a count"))?,
            "--location" => location = Some(value),
            "--tls-ca" => tls_ca = Some(value),
            "--interval" => connect.interval = value.parse().map_err(|_| number("seconds"))?,
            "--auto-approve-after" => {
                let secs: u64 = value.parse().map_err(|_| number("seconds"))?;
                connect.auto_approve_after = Some(std::time::Duration::from_secs(secs));
            }
            _ => fault_name = Some(value),
        }
    }

    let fault = match fault_name.as_deref() {
        None => None,
        Some("server-error") => Some(Fault::ServerError),
        Some("html-502") => Some(Fault::HtmlBadGateway),
        Some("truncated") => Some(Fault::TruncatedJson),
        Some("rate-limited") => Some(Fault::RateLimited { retry_after, times }),
        Some("unavailable") => Some(Fault::Unavailable { times }),
        Some("silent") => Some(Fault::Silent),
        Some("huge") => Some(Fault::HugeBody),
        Some("redirect") => Some(Fault::Redirect {
            location: location
                .take()
                .ok_or("--fault redirect needs --location URL")?,
        }),
        Some(other) => return Err(format!("unknown fault '{other}'")),
    };
    if location.is_some() {
        return Err("--location only goes with --fault redirect".into());
    }
    Ok(Some(Args {
        port,
        tls_ca,
        fault,
        connect,
    }))
}

fn log(entry: &LogEntry) {
    let status = entry
        .status
        .map_or_else(|| "-".to_string(), |s| s.to_string());
    let fault = entry
        .fault
        .map(|f| format!(" (fault: {f})"))
        .unwrap_or_default();
    eprintln!("{} {} {status}{fault}", entry.method, entry.path);
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let started = match &args.tls_ca {
        None => Platform::start_on(args.port),
        Some(_) => Platform::start_tls_on(args.port),
    };
    let platform = match started {
        Ok(platform) => platform,
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{}: {e}", args.port);
            return ExitCode::FAILURE;
        }
    };
    if let (Some(path), Some(pem)) = (&args.tls_ca, platform.ca_pem())
        && let Err(e) = std::fs::write(path, pem)
    {
        eprintln!("error: cannot write the CA certificate to {path}: {e}");
        return ExitCode::FAILURE;
    }
    let fault_note = args
        .fault
        .as_ref()
        .map(|f| format!(" with fault {f:?}"))
        .unwrap_or_default();
    platform.set_fault(args.fault);
    platform.set_connect(args.connect);
    platform.set_logger(Some(Arc::new(log)));

    // Holding stderr until the table is out keeps early request log lines (from clients that
    // start as soon as they read the URL) below the "requests:" header.
    let mut stderr = std::io::stderr().lock();
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "{}", platform.url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    let mut table = format!(
        "fluxloop-stand-in serving {}{fault_note}\nfixture keys:\n",
        platform.url()
    );
    for (name, key) in keys::all() {
        table.push_str(&format!("  {name:<20} {key}\n"));
    }
    table.push_str("requests:\n");
    let _ = stderr.write_all(table.as_bytes());
    drop(stderr);

    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_flags() {
        let args = parse(&["--port", "8080", "--fault=rate-limited", "--times", "2"])
            .unwrap()
            .unwrap();
        assert_eq!(args.port, 8080);
        assert_eq!(
            args.fault,
            Some(Fault::RateLimited {
                retry_after: 5,
                times: 2
            })
        );
        assert!(parse(&["--help"]).unwrap().is_none());
        assert_eq!(parse(&[]).unwrap().unwrap().fault, None);
        assert_eq!(parse(&[]).unwrap().unwrap().tls_ca, None);
        let tls = parse(&["--tls-ca", "/tmp/ca.pem"]).unwrap().unwrap();
        assert_eq!(tls.tls_ca.as_deref(), Some("/tmp/ca.pem"));
        let args = parse(&["--auto-approve-after", "3", "--interval=1"])
            .unwrap()
            .unwrap();
        assert_eq!(
            args.connect.auto_approve_after,
            Some(std::time::Duration::from_secs(3))
        );
        assert_eq!(args.connect.interval, 1);
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            &["--port"][..],
            &["--port", "x"],
            &["--fault", "melt"],
            &["--fault", "redirect"],
            &["--location", "http://x"],
            &["--tls-ca"],
            &["serve"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
