//! Which proxy a request to the platform goes through, decided from the proxy variables by the
//! rules reqwest (hyper-util) routes by, only so that an error can name the proxy that failed.
//! The variables' values are read in context.rs: this module reads no environment.

use std::net::IpAddr;

use url::Url;

/// The proxy variables as the environment holds them.
#[derive(Debug, Clone, Default)]
pub struct ProxyVars {
    /// The first of `HTTPS_PROXY`, `https_proxy` that is set (even empty), with its name.
    pub https: Option<(&'static str, String)>,
    /// The first of `ALL_PROXY`, `all_proxy` that is set, with its name.
    pub all: Option<(&'static str, String)>,
    /// The first of `NO_PROXY`, `no_proxy` that is set.
    pub no: Option<String>,
    /// `REQUEST_METHOD` is set (a CGI script): reqwest then ignores every proxy variable.
    pub cgi: bool,
}

/// How requests reach the platform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ProxyRoute {
    /// No proxy variable applies.
    #[default]
    Direct,
    /// Through `proxy` (`scheme://host:port`, never a user name or password), set by `variable`.
    Via {
        proxy: String,
        variable: &'static str,
    },
    /// Directly although `variable` sets a proxy: `NO_PROXY` names the host.
    Bypassed { variable: &'static str },
}

impl ProxyVars {
    /// The route of requests to `base`. Plain http (loopback only) is never proxied
    /// (`ApiClient::new`).
    pub fn route(&self, base: &Url) -> ProxyRoute {
        if self.cgi || base.scheme() != "https" {
            return ProxyRoute::Direct;
        }
        // An HTTPS_PROXY that is empty or not a URL falls back to ALL_PROXY, as in reqwest.
        let chosen = [&self.https, &self.all]
            .into_iter()
            .flatten()
            .find_map(|(name, value)| shown_proxy(value).map(|proxy| (*name, proxy)));
        let Some((variable, proxy)) = chosen else {
            return ProxyRoute::Direct;
        };
        let host = base.host_str().unwrap_or_default();
        if self
            .no
            .as_deref()
            .is_some_and(|no| no_proxy_names(no, host))
        {
            return ProxyRoute::Bypassed { variable };
        }
        ProxyRoute::Via { proxy, variable }
    }
}

/// `scheme://host:port` of a proxy setting, without its user name and password; `None` when it
/// is empty or not a URL. A bare `host:port` is `http://`, as reqwest reads it.
fn shown_proxy(value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let url = Url::parse(value)
        .ok()
        .filter(Url::has_host)
        .or_else(|| Url::parse(&format!("http://{value}")).ok())?;
    let host = url.host_str()?;
    Some(match url.port_or_known_default() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

/// Whether a `NO_PROXY` list names `host`: `*`; an IP address or network (`10.0.0.0/8`); a
/// domain, which also names its subdomains (`example.com` and `.example.com` alike).
fn no_proxy_names(list: &str, host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = host.parse::<IpAddr>().ok();
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .any(|entry| match ip {
            _ if entry == "*" => true,
            Some(ip) => ip_matches(entry, ip),
            None => domain_matches(entry, host),
        })
}

fn ip_matches(entry: &str, ip: IpAddr) -> bool {
    let Some((net, bits)) = entry.split_once('/') else {
        return entry.parse::<IpAddr>() == Ok(ip);
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

fn domain_matches(entry: &str, host: &str) -> bool {
    let domain = entry.strip_prefix('.').unwrap_or(entry);
    let host = host.to_ascii_lowercase();
    let domain = domain.to_ascii_lowercase();
    host == domain || host.ends_with(&format!(".{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(https: Option<&str>, all: Option<&str>, no: Option<&str>) -> ProxyVars {
        ProxyVars {
            https: https.map(|v| ("HTTPS_PROXY", v.to_string())),
            all: all.map(|v| ("ALL_PROXY", v.to_string())),
            no: no.map(str::to_string),
            cgi: false,
        }
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn the_proxy_is_named_without_its_password() {
        let route = vars(Some("http://user:s3cret@proxy.corp:3128"), None, None)
            .route(&url("https://api.fluxloop.ai"));
        assert_eq!(
            route,
            ProxyRoute::Via {
                proxy: "http://proxy.corp:3128".into(),
                variable: "HTTPS_PROXY"
            }
        );
        let bare = vars(Some("proxy.corp:8080"), None, None).route(&url("https://h"));
        assert!(matches!(bare, ProxyRoute::Via { proxy, .. } if proxy == "http://proxy.corp:8080"));
    }

    #[test]
    fn an_empty_https_proxy_falls_back_to_all_proxy() {
        let route = vars(Some(""), Some("socks5://127.0.0.1:1080"), None).route(&url("https://h"));
        assert_eq!(
            route,
            ProxyRoute::Via {
                proxy: "socks5://127.0.0.1:1080".into(),
                variable: "ALL_PROXY"
            }
        );
        assert_eq!(
            vars(None, None, None).route(&url("https://h")),
            ProxyRoute::Direct
        );
    }

    #[test]
    fn no_proxy_names_domains_subdomains_addresses_and_networks() {
        let via = |no: &str, base: &str| vars(Some("http://p:1"), None, Some(no)).route(&url(base));
        let bypassed = ProxyRoute::Bypassed {
            variable: "HTTPS_PROXY",
        };
        assert_eq!(via("fluxloop.ai", "https://api.fluxloop.ai"), bypassed);
        assert_eq!(via(".fluxloop.ai", "https://fluxloop.ai"), bypassed);
        assert_eq!(
            via("x, API.FLUXLOOP.AI", "https://api.fluxloop.ai"),
            bypassed
        );
        assert_eq!(via("*", "https://anything"), bypassed);
        assert_eq!(via("127.0.0.1", "https://127.0.0.1:8443"), bypassed);
        assert_eq!(via("10.0.0.0/8", "https://10.2.3.4"), bypassed);
        assert_eq!(via("::1", "https://[::1]:8443"), bypassed);
        assert!(matches!(
            via("notfluxloop.ai", "https://fluxloop.ai"),
            ProxyRoute::Via { .. }
        ));
        assert!(matches!(
            via("10.0.0.0/8", "https://11.0.0.1"),
            ProxyRoute::Via { .. }
        ));
    }

    #[test]
    fn plain_http_and_cgi_are_never_proxied() {
        assert_eq!(
            vars(Some("http://p:1"), None, None).route(&url("http://127.0.0.1:8080")),
            ProxyRoute::Direct
        );
        let cgi = ProxyVars {
            cgi: true,
            ..vars(Some("http://p:1"), None, None)
        };
        assert_eq!(cgi.route(&url("https://h")), ProxyRoute::Direct);
    }
}
