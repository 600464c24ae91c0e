//! An issuer's JWKS fetched from its URL (`jwks_url`, docs/identity.md).
//!
//! One GET per fetch, on a connection of its own (keys are fetched at start
//! and then at most once per `jwks_refresh_seconds`, so pooling would buy
//! nothing). Every cost is bounded: the whole fetch — connecting, the TLS
//! handshake, the answer — has one deadline, and the body is read up to
//! [`MAX_JWKS_BYTES`] and no further. Only `https` is spoken, except to a
//! loopback host; certificates are checked against the system's roots or
//! the issuer's `ca_file`. What the body holds is read by the same strict
//! parser as a JWKS file (`identity::parse_jwks`).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, LengthLimitError, Limited};
use hyper::header;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// The largest JWKS read, from a file or a URL.
pub const MAX_JWKS_BYTES: u64 = 1 << 20;

/// Where the certificates trusted for `https` come from without a `ca_file`
/// (Debian's `ca-certificates`; the same path on Ubuntu and Alpine).
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A `jwks_url`, checked: `https`, or `http` to a loopback host.
#[derive(Debug, Clone)]
pub struct Url {
    pub tls: bool,
    /// Without the brackets of an IPv6 literal.
    host: String,
    port: u16,
    /// `host[:port]`, as the `Host` header.
    authority: String,
    path: String,
    text: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, String> {
        let uri: hyper::Uri = text.parse().map_err(|e| format!("`{text}` is not a URL: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("`{text}`: give an `https://` URL")),
        };
        let authority = uri.authority().ok_or_else(|| format!("`{text}`: no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!("`{text}`: credentials in the URL are not supported"));
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_string();
        let loopback =
            host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if !tls && !loopback {
            return Err(format!(
                "`{text}`: plain `http://` is allowed only to a loopback host (127.0.0.1, ::1, localhost); \
                 keys fetched in clear could be replaced on the way: use `https://`"
            ));
        }
        Ok(Url {
            tls,
            port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            host,
            authority: authority.as_str().to_string(),
            path: uri.path_and_query().map_or("/", |p| p.as_str()).to_string(),
            text: text.to_string(),
        })
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Fetches one issuer's JWKS.
pub struct Fetcher {
    pub url: Url,
    tls: Option<TlsConnector>,
    timeout: Duration,
}

impl Fetcher {
    /// Reads the trusted certificates now, so that a bad `ca_file` stops the start.
    pub fn new(url: Url, ca_file: Option<&Path>, timeout: Duration) -> Result<Fetcher, String> {
        let tls = if url.tls { Some(connector(ca_file.unwrap_or(Path::new(SYSTEM_ROOTS)))?) } else { None };
        Ok(Fetcher { url, tls, timeout })
    }

    /// The body of a 200 answer, at most [`MAX_JWKS_BYTES`], within the timeout.
    pub async fn fetch(&self) -> Result<String, String> {
        let url = &self.url;
        match tokio::time::timeout(self.timeout, self.exchange()).await {
            Ok(result) => result.map_err(|e| format!("jwks_url `{url}`: {e}")),
            Err(_) => Err(format!(
                "jwks_url `{url}`: no complete answer within {} s (`jwks_timeout_seconds`)",
                self.timeout.as_secs()
            )),
        }
    }

    async fn exchange(&self) -> Result<String, String> {
        let url = &self.url;
        let tcp = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        match &self.tls {
            None => get(tcp, url).await,
            Some(connector) => {
                let name = ServerName::try_from(url.host.clone()).map_err(|e| format!("host `{}`: {e}", url.host))?;
                let stream = connector.connect(name, tcp).await.map_err(|e| format!("TLS: {e}"))?;
                get(stream, url).await
            }
        }
    }
}

fn connector(roots_file: &Path) -> Result<TlsConnector, String> {
    let shown = roots_file.display();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(roots_file)
        .map_err(|e| format!("trusted certificates `{shown}`: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("trusted certificates `{shown}`: {e}"))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("trusted certificates `{shown}`: no certificate Ward can use in the file"));
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn get<S>(io: S, url: &Url) -> Result<String, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(|e| format!("HTTP: {e}"))?;
    let request = hyper::Request::get(url.path.as_str())
        .header(header::HOST, url.authority.as_str())
        .header(header::ACCEPT, "application/jwk-set+json, application/json")
        .header(header::USER_AGENT, concat!("ward/", env!("CARGO_PKG_VERSION")))
        .header(header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("HTTP: {e}"))?;
    let answer = async {
        let response = sender.send_request(request).await.map_err(|e| format!("no answer: {e}"))?;
        if response.status() != hyper::StatusCode::OK {
            return Err(format!("answered {} (a JWKS is a 200 answer)", response.status()));
        }
        let too_large = || format!("the answer is larger than the limit of {MAX_JWKS_BYTES} bytes");
        let declared =
            response.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_JWKS_BYTES) {
            return Err(too_large());
        }
        let body = Limited::new(response.into_body(), MAX_JWKS_BYTES as usize)
            .collect()
            .await
            .map_err(|e| if e.is::<LengthLimitError>() { too_large() } else { format!("reading the answer: {e}") })?;
        String::from_utf8(body.to_bytes().to_vec()).map_err(|_| "the answer is not UTF-8".to_string())
    };
    // The connection is driven here rather than in a spawned task, so that
    // the deadline around the fetch ends it too. When it ends first (closed
    // or failed), the answer ends with it, with an error if incomplete.
    let connection = async {
        let _ = connection.await;
        std::future::pending::<Result<String, String>>().await
    };
    tokio::select! {
        result = answer => result,
        result = connection => result,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn urls_are_https_or_loopback_http() {
        let u = Url::parse("https://sso.example.com/realms/a/certs?x=1").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.path.as_str()),
            (true, "sso.example.com", 443, "/realms/a/certs?x=1")
        );
        let u = Url::parse("http://[::1]:8080/jwks").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port, u.authority.as_str()), (false, "::1", 8080, "[::1]:8080"));
        assert!(Url::parse("http://127.0.0.1/").is_ok() && Url::parse("http://LOCALHOST:1/").is_ok());
        assert_eq!(Url::parse("https://idp.test").unwrap().path, "/");
        for (bad, says) in [
            ("http://sso.example.com/certs", "loopback"),
            ("http://10.0.0.1/certs", "loopback"),
            ("ftp://sso.example.com/certs", "https://"),
            ("sso.example.com/certs", "not a URL"),
            ("/realms/agents/certs", "https://"),
            ("https://user:pw@sso.example.com/", "credentials"),
            ("https://", "not a URL"),
        ] {
            let e = Url::parse(bad).unwrap_err();
            assert!(e.contains(says) && e.contains(bad), "{bad}: {e}");
        }
    }
}
