//! Outbound HTTP for plugins: the one door out of the sandbox, and the guard at it.
//!
//! A request leaves only if its host is on the plugin's allow-list; private, loopback and
//! link-local addresses (as literals or as what a name resolves to, checked at connect time so
//! that DNS rebinding cannot slip past) and plain `http://` are refused unless the operator set
//! `allow_private_network`. No redirects are followed, no proxy from the environment is used,
//! responses are capped in size, and every request is bounded by what is left of the call's time
//! budget.

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
    let listed = policy
        .allowed_hosts
        .iter()
        .any(|entry| allow_entry_matches(entry, &host, port));
    if !listed {
        return Err(format!("host {host} is not on this plugin's allowed_hosts"));
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
/// `port`. An entry without a port allows any port.
fn allow_entry_matches(entry: &str, host: &str, port: u16) -> bool {
    let (entry_host, entry_port) = if let Some(rest) = entry.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => return false,
        }
    } else {
        match entry.split_once(':') {
            Some((h, p)) if !p.contains(':') => (h, Some(p)),
            _ => (entry, None),
        }
    };
    entry_host == host && entry_port.is_none_or(|p| p.parse() == Ok(port))
}

/// Whether an address is on the public internet: not loopback, private, link-local, shared,
/// documentation, multicast or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
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
    fn public_means_routable() {
        for ip in ["8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
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
