//! Outbound HTTP for plugins: the one door out of the sandbox, and the guard at it.
//!
//! A request leaves only if its host is on the plugin's allow-list (on port 443 unless the entry
//! names another); private, loopback, link-local and other non-public addresses (as literals or as
//! what a name resolves to, checked at connect time so that DNS rebinding cannot slip past) and
//! plain `http://` are refused unless the operator set `allow_private_network`. The plugin sets
//! no header that decides where or how the request travels (`host`, `content-length`, hop-by-hop
//! headers), and only a bounded number of them. No redirects are followed, no proxy from the
//! environment is used, responses are capped in size, and every request is bounded by what is
//! left of the call's time budget.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderName, HeaderValue};

use super::bindings::switchboard::channel::http::{Auth, HttpError, Request};
use super::bindings::{Header, HttpResponse};
use super::secrets::Secrets;

/// The largest response body a plugin may receive.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// The longest any one request may take, whatever the plugin asks for.
pub const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most headers a plugin may set on one request.
pub const MAX_REQUEST_HEADERS: usize = 64;
/// The most bytes of header names and values a plugin may set on one request.
pub const MAX_REQUEST_HEADER_BYTES: usize = 64 * 1024;
/// Headers the HTTP client sets from the URL and the body, or that manage the connection: a
/// plugin that set them could aim the request at another virtual host than the allow-listed one,
/// or smuggle a second request into the connection.
const RESERVED_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// Where a plugin may send requests.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    /// Lowercase host names, optionally with `:port`.
    pub allowed_hosts: Vec<String>,
    pub allow_private_network: bool,
}

/// The HTTP clients plugins share: one that refuses private addresses when connecting, one that
/// does not (for plugins whose operator allowed the private network).
#[derive(Clone)]
pub struct Egress {
    public_only: reqwest::Client,
    any_network: reqwest::Client,
}

impl Egress {
    pub fn new() -> Result<Self, reqwest::Error> {
        let builder = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .connect_timeout(Duration::from_secs(10))
                .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
        };
        Ok(Egress {
            public_only: builder()
                .dns_resolver(Arc::new(PublicOnlyResolver))
                .build()?,
            any_network: builder().build()?,
        })
    }

    /// Sends the plugin's request if its policy allows, attaching credentials from its secrets.
    pub async fn fetch(
        &self,
        policy: &EgressPolicy,
        secrets: &Secrets,
        request: Request,
        time_left: Duration,
    ) -> Result<HttpResponse, HttpError> {
        let url = reqwest::Url::parse(&request.url)
            .map_err(|e| HttpError::InvalidRequest(format!("bad URL {:?}: {e}", request.url)))?;
        check_destination(policy, &url).map_err(HttpError::Denied)?;
        let timeout = request
            .timeout_ms
            .map_or(MAX_REQUEST_TIMEOUT, |ms| Duration::from_millis(ms.into()))
            .min(MAX_REQUEST_TIMEOUT)
            .min(time_left);
        if timeout.is_zero() {
            return Err(HttpError::Timeout);
        }
        let client = if policy.allow_private_network {
            &self.any_network
        } else {
            &self.public_only
        };
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| HttpError::InvalidRequest(format!("bad method {:?}", request.method)))?;
        check_headers(&request.headers)?;
        let mut builder = client.request(method, url).timeout(timeout);
        for header in &request.headers {
            let (name, value) = header_pair(header)?;
            builder = builder.header(name, value);
        }
        builder = match &request.auth {
            None => builder,
            Some(Auth::Bearer(secret)) => builder.bearer_auth(secret_value(secrets, secret)?),
            Some(Auth::Basic(basic)) => builder.basic_auth(
                &basic.username,
                Some(secret_value(secrets, &basic.password_secret)?),
            ),
        };
        let response = builder
            .body(request.body)
            .send()
            .await
            .map_err(send_error)?;
        read_response(response).await
    }
}

/// Whether `url` may be requested under `policy`: the scheme, the allow-list, and (for IP
/// literals, which skip name resolution) the address itself.
pub fn check_destination(policy: &EgressPolicy, url: &reqwest::Url) -> Result<(), String> {
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_private_network => {}
        "http" => return Err("plain http:// is not allowed; use https://".into()),
        other => return Err(format!("scheme {other}:// is not allowed")),
    }
    let host = url
        .host_str()
        .ok_or("the URL has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let port = url.port_or_known_default().unwrap_or(443);
    let entries = || policy.allowed_hosts.iter();
    if !entries().any(|entry| allow_entry_host(entry) == Some(host.as_str())) {
        return Err(format!("host {host} is not on this plugin's allowed_hosts"));
    }
    if !entries().any(|entry| allow_entry_matches(entry, &host, port, policy.allow_private_network))
    {
        return Err(format!(
            "port {port} of host {host} is not on this plugin's allowed_hosts (an entry without a port allows 443 only)"
        ));
    }
    if let Ok(ip) = host.parse::<IpAddr>()
        && !policy.allow_private_network
        && !is_public(ip)
    {
        return Err(format!(
            "{ip} is a private, loopback or link-local address (set allow_private_network to allow it)"
        ));
    }
    Ok(())
}

/// Whether an allow-list entry (`host`, `host:port`, `[v6]` or `[v6]:port`) covers `host` on
/// `port`. An entry without a port allows 443 only (and 80, for plain `http://`, where the operator
/// allowed the private network): an API host's other ports are other services.
fn allow_entry_matches(entry: &str, host: &str, port: u16, allow_plain_http: bool) -> bool {
    let Some((entry_host, entry_port)) = split_allow_entry(entry) else {
        return false;
    };
    let port_allowed = match entry_port {
        Some(p) => p.parse() == Ok(port),
        None => port == 443 || (allow_plain_http && port == 80),
    };
    entry_host == host && port_allowed
}

/// The host part of an allow-list entry.
fn allow_entry_host(entry: &str) -> Option<&str> {
    split_allow_entry(entry).map(|(host, _)| host)
}

/// An allow-list entry as host and optional port; `None` for an unclosed `[`.
fn split_allow_entry(entry: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        return Some((host, tail.strip_prefix(':')));
    }
    Some(match entry.split_once(':') {
        Some((h, p)) if !p.contains(':') => (h, Some(p)),
        _ => (entry, None),
    })
}

/// Whether an address is on the public internet: not loopback, private, link-local, shared,
/// documentation, benchmarking, reserved, multicast or unspecified, and not an IPv6 address that
/// embeds or translates to an IPv4 one (a NAT64, 6to4 or Teredo gateway would carry the request
/// to an IPv4 address that was never checked).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                // Shared address space (carrier-grade NAT), 100.64.0.0/10.
                || (a == 100 && (64..128).contains(&b))
                // IETF protocol assignments, 192.0.0.0/24.
                || (a == 192 && b == 0 && c == 0)
                // The old 6to4 relay anycast, 192.88.99.0/24.
                || (a == 192 && b == 88 && c == 99)
                // Benchmarking, 198.18.0.0/15.
                || (a == 198 && (b & 0xfe) == 18)
                // Reserved, 240.0.0.0/4.
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let [s0, s1, s2, s3, s4, s5, ..] = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // IPv4-compatible (deprecated), ::/96.
                || (s0, s1, s2, s3, s4, s5) == (0, 0, 0, 0, 0, 0)
                // NAT64, 64:ff9b::/96 and the local-use 64:ff9b:1::/48.
                || (s0, s1, s2, s3, s4, s5) == (0x64, 0xff9b, 0, 0, 0, 0)
                || (s0, s1, s2) == (0x64, 0xff9b, 1)
                // Discard-only, 100::/64.
                || (s0, s1, s2, s3) == (0x100, 0, 0, 0)
                // Teredo, 2001::/32, and documentation, 2001:db8::/32.
                || (s0, s1) == (0x2001, 0)
                || (s0, s1) == (0x2001, 0xdb8)
                // 6to4, 2002::/16.
                || s0 == 0x2002
                // Unique local, fc00::/7; link-local, fe80::/10; site-local (deprecated), fec0::/10.
                || (s0 & 0xfe00) == 0xfc00
                || (s0 & 0xffc0) == 0xfe80
                || (s0 & 0xffc0) == 0xfec0)
        }
    }
}

/// Resolves names and keeps only public addresses, so that an allowed name pointing at an
/// internal address is refused at connect time.
struct PublicOnlyResolver;

#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to private, loopback or link-local addresses")]
struct PrivateDestination(String);

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| is_public(addr.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(PrivateDestination(host)) as _);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Refuses more headers than [`MAX_REQUEST_HEADERS`] or [`MAX_REQUEST_HEADER_BYTES`], and any of
/// the [`RESERVED_HEADERS`].
fn check_headers(headers: &[Header]) -> Result<(), HttpError> {
    if headers.len() > MAX_REQUEST_HEADERS {
        return Err(HttpError::InvalidRequest(format!(
            "{} headers; at most {MAX_REQUEST_HEADERS} may be set",
            headers.len()
        )));
    }
    let bytes: usize = headers.iter().map(|h| h.name.len() + h.value.len()).sum();
    if bytes > MAX_REQUEST_HEADER_BYTES {
        return Err(HttpError::InvalidRequest(format!(
            "{bytes} bytes of headers; at most {MAX_REQUEST_HEADER_BYTES} may be set"
        )));
    }
    if let Some(reserved) = headers.iter().find(|h| {
        RESERVED_HEADERS
            .iter()
            .any(|name| h.name.trim().eq_ignore_ascii_case(name))
    }) {
        return Err(HttpError::InvalidRequest(format!(
            "header {} is set by the host, not by plugins",
            reserved.name.trim().to_ascii_lowercase()
        )));
    }
    Ok(())
}

fn header_pair(header: &Header) -> Result<(HeaderName, HeaderValue), HttpError> {
    let name = HeaderName::from_bytes(header.name.as_bytes())
        .map_err(|_| HttpError::InvalidRequest(format!("bad header name {:?}", header.name)))?;
    let value = HeaderValue::from_str(&header.value)
        .map_err(|_| HttpError::InvalidRequest(format!("bad value for header {}", header.name)))?;
    Ok((name, value))
}

fn secret_value<'a>(secrets: &'a Secrets, name: &str) -> Result<&'a str, HttpError> {
    secrets
        .get(name)
        .map(|value| value.expose())
        .map_err(|_| HttpError::SecretMissing(name.to_string()))
}

fn send_error(error: reqwest::Error) -> HttpError {
    if error.is_timeout() {
        return HttpError::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(cause) = source {
        if let Some(private) = cause.downcast_ref::<PrivateDestination>() {
            return HttpError::Denied(private.to_string());
        }
        source = cause.source();
    }
    HttpError::Connection(error_chain(&error))
}

/// The error and its causes on one line (reqwest's own `Display` hides the cause).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn read_response(mut response: reqwest::Response) -> Result<HttpResponse, HttpError> {
    if response
        .content_length()
        .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
    {
        return Err(HttpError::ResponseTooLarge);
    }
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| Header {
            name: name.as_str().to_string(),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(send_error)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(HttpError::ResponseTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], private: bool) -> EgressPolicy {
        EgressPolicy {
            allowed_hosts: hosts.iter().map(|h| h.to_string()).collect(),
            allow_private_network: private,
        }
    }

    fn check(policy: &EgressPolicy, url: &str) -> Result<(), String> {
        check_destination(policy, &reqwest::Url::parse(url).unwrap())
    }

    #[test]
    fn only_allow_listed_hosts_are_reachable() {
        let p = policy(&["api.sendgrid.com"], false);
        assert!(check(&p, "https://api.sendgrid.com/v3/mail/send").is_ok());
        assert!(check(&p, "https://API.SendGrid.com/v3").is_ok());
        let denied = check(&p, "https://evil.example.com/").unwrap_err();
        assert!(
            denied.contains("not on this plugin's allowed_hosts"),
            "{denied}"
        );
        assert!(check(&p, "https://api.sendgrid.com.evil.com/").is_err());
    }

    #[test]
    fn a_port_in_the_list_pins_the_port() {
        let p = policy(&["127.0.0.1:4010"], true);
        assert!(check(&p, "http://127.0.0.1:4010/x").is_ok());
        assert!(check(&p, "http://127.0.0.1:4011/x").is_err());
        let v6 = policy(&["[::1]:8080", "2001:db8::1"], true);
        assert!(check(&v6, "http://[::1]:8080/").is_ok());
        assert!(check(&v6, "http://[::1]:9090/").is_err());
        assert!(check(&v6, "https://[2001:db8::1]/").is_ok());
    }

    #[test]
    fn private_addresses_and_plain_http_need_the_operator_s_consent() {
        let p = policy(&["127.0.0.1", "10.0.0.5", "api.example.com"], false);
        assert!(
            check(&p, "https://127.0.0.1/")
                .unwrap_err()
                .contains("private")
        );
        assert!(
            check(&p, "https://10.0.0.5/")
                .unwrap_err()
                .contains("private")
        );
        assert!(
            check(&p, "http://api.example.com/")
                .unwrap_err()
                .contains("plain http")
        );
        let open = policy(&["127.0.0.1"], true);
        assert!(check(&open, "http://127.0.0.1/").is_ok());
        assert!(
            check(&p, "ftp://api.example.com/")
                .unwrap_err()
                .contains("ftp")
        );
    }

    #[test]
    fn an_entry_without_a_port_allows_port_443_only() {
        let p = policy(&["api.sendgrid.com"], false);
        assert!(check(&p, "https://api.sendgrid.com/v3").is_ok());
        assert!(check(&p, "https://api.sendgrid.com:443/v3").is_ok());
        assert_eq!(
            check(&p, "https://api.sendgrid.com:8443/v3"),
            Err("port 8443 of host api.sendgrid.com is not on this plugin's allowed_hosts (an entry without a port allows 443 only)".into())
        );
        assert!(check(&p, "https://api.sendgrid.com:22/").is_err());
        // Plain http (port 80) only where the operator allowed the private network.
        let open = policy(&["127.0.0.1", "[::1]"], true);
        assert!(check(&open, "http://127.0.0.1/").is_ok());
        assert!(check(&open, "http://[::1]/").is_ok());
        assert!(check(&open, "http://127.0.0.1:8080/").is_err());
        assert!(check(&open, "https://[::1]:6379/").is_err());
    }

    #[test]
    fn a_plugin_cannot_set_host_length_or_connection_headers() {
        let header = |name: &str| Header {
            name: name.into(),
            value: "x".into(),
        };
        assert!(check_headers(&[header("content-type"), header("x-idempotency-key")]).is_ok());
        for name in [
            "host",
            "Host",
            "content-length",
            "Transfer-Encoding",
            "connection",
            "upgrade",
            "te",
        ] {
            match check_headers(&[header("accept"), header(name)]) {
                Err(HttpError::InvalidRequest(why)) => assert_eq!(
                    why,
                    format!(
                        "header {} is set by the host, not by plugins",
                        name.to_ascii_lowercase()
                    )
                ),
                other => panic!("{name} was not refused: {other:?}"),
            }
        }
    }

    #[test]
    fn a_plugin_sets_a_bounded_number_and_size_of_headers() {
        let many: Vec<Header> = (0..=MAX_REQUEST_HEADERS)
            .map(|i| Header {
                name: format!("x-h{i}"),
                value: "v".into(),
            })
            .collect();
        assert!(check_headers(&many[..MAX_REQUEST_HEADERS]).is_ok());
        match check_headers(&many) {
            Err(HttpError::InvalidRequest(why)) => {
                assert_eq!(why, "65 headers; at most 64 may be set")
            }
            other => panic!("65 headers were not refused: {other:?}"),
        }
        let large = [Header {
            name: "x-large".into(),
            value: "v".repeat(MAX_REQUEST_HEADER_BYTES),
        }];
        match check_headers(&large) {
            Err(HttpError::InvalidRequest(why)) => {
                assert_eq!(why, "65543 bytes of headers; at most 65536 may be set")
            }
            other => panic!("64 KiB of headers were not refused: {other:?}"),
        }
    }

    #[test]
    fn public_means_routable() {
        for ip in [
            "8.8.8.8",
            "198.17.255.255",
            "198.20.0.1",
            "192.0.1.1",
            "223.255.255.255",
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "2003::1",
            "64:ff9c::1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "255.255.255.254",
            "255.255.255.255",
            "192.0.0.8",
            "192.0.0.170",
            "192.88.99.1",
            "64:ff9b::808:808",
            "64:ff9b::7f00:1",
            "64:ff9b:1::a00:1",
            "2002:808:808::1",
            "2002:7f00:1::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "::127.0.0.1",
            "::8.8.8.8",
            "100::1",
            "fec0::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
