//! Accepting connections: limits on how many are open (per client address
//! and in all), a deadline for reading each request's headers, TLS
//! handshakes in their own tasks, and a graceful shutdown.
//!
//! A connection over a limit is answered `503` and closed at once (plain
//! HTTP), or closed (TLS: no handshake is spent on it). A client that sends
//! its headers slower than `header_timeout` — or keeps a connection idle
//! between requests longer than that — is disconnected, so neither slow
//! headers nor idle connections can hold the service's file descriptors.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

/// How many connections may be open.
pub struct Limits {
    per_ip: usize,
    total: usize,
    /// Connections open now (shared with the metrics).
    open: Arc<AtomicU64>,
    by_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// An open connection's place; given back when dropped.
pub struct Permit {
    limits: Arc<Limits>,
    ip: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.limits.open.fetch_sub(1, Ordering::AcqRel);
        let mut by_ip = self.limits.by_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = by_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                by_ip.remove(&self.ip);
            }
        }
    }
}

impl Limits {
    pub fn new(per_ip: usize, total: usize, open: Arc<AtomicU64>) -> Arc<Limits> {
        Arc::new(Limits { per_ip, total, open, by_ip: Mutex::new(HashMap::new()) })
    }

    /// A place for a connection from `ip`, or why there is none.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, String> {
        let mut by_ip = self.by_ip.lock().unwrap_or_else(|e| e.into_inner());
        if self.open() >= self.total {
            return Err(format!("the service has its limit of {} connections open", self.total));
        }
        let n = by_ip.entry(ip).or_insert(0);
        if *n >= self.per_ip {
            return Err(format!("{ip} has its limit of {} connections open", self.per_ip));
        }
        *n += 1;
        self.open.fetch_add(1, Ordering::AcqRel);
        Ok(Permit { limits: Arc::clone(self), ip })
    }

    pub fn open(&self) -> usize {
        usize::try_from(self.open.load(Ordering::Acquire)).unwrap_or(usize::MAX)
    }
}

/// How to serve connections.
pub struct Options {
    pub tls: Option<(Arc<ServerConfig>, Duration)>,
    pub header_timeout: Duration,
    pub limits: Arc<Limits>,
    /// After a shutdown signal, how long requests under way may take to finish.
    pub drain: Duration,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the
/// requests under way finish (within `options.drain`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: Options,
    on_refused: Arc<dyn Fn() + Send + Sync>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let tls = options.tls.map(|(config, timeout)| (TlsAcceptor::from(config), timeout));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    eprintln!("ward serve: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let permit = match options.limits.admit(peer.ip()) {
            Ok(p) => p,
            Err(why) => {
                on_refused();
                tokio::spawn(refuse(stream, why, tls.is_some()));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let stop = stop_rx.clone();
        let header_timeout = options.header_timeout;
        match &tls {
            None => {
                tokio::spawn(async move {
                    connection(stream, router, header_timeout, stop).await;
                    drop(permit);
                });
            }
            Some((acceptor, handshake_timeout)) => {
                let (acceptor, handshake_timeout) = (acceptor.clone(), *handshake_timeout);
                tokio::spawn(async move {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => connection(tls, router, header_timeout, stop).await,
                        Ok(Err(e)) => eprintln!("ward serve: TLS handshake with {peer}: {e}"),
                        Err(_) => eprintln!("ward serve: TLS handshake with {peer} timed out"),
                    }
                    drop(permit);
                });
            }
        }
    }
    // Stop taking connections; ask those open to finish their request and close.
    drop(listener);
    let _ = stop_tx.send(true);
    let deadline = tokio::time::Instant::now() + options.drain;
    while options.limits.open() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Answers a connection over the limits and closes it.
async fn refuse(mut stream: TcpStream, why: String, tls: bool) {
    eprintln!("ward serve: connection refused: {why}");
    if tls {
        return; // no handshake spent on it
    }
    let body = serde_json::json!({ "error": format!("too many connections: {why}") }).to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Serves one connection (HTTP/1.1, keep-alive) until it closes, the header
/// deadline passes, or the service stops.
async fn connection<I>(io: I, router: Router, header_timeout: Duration, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut router = router.clone();
        async move {
            use tower_service::Service as _;
            router.call(request.map(Body::new)).await
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            changed = stop.changed() => {
                conn.as_mut().graceful_shutdown();
                if changed.is_err() {
                    let _ = conn.as_mut().await;
                    break;
                }
            }
        }
    }
}

/// The listening address as printed (`http(s)://ADDR`).
pub fn url(local: SocketAddr, tls: bool) -> String {
    format!("{}://{local}", if tls { "https" } else { "http" })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn limits_count_per_address_and_in_all() {
        let limits = Limits::new(2, 3, Arc::default());
        let (a, b) = ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());
        let p1 = limits.admit(a).unwrap();
        let _p2 = limits.admit(a).unwrap();
        assert!(limits.admit(a).err().unwrap().contains("127.0.0.2"));
        let _p3 = limits.admit(b).unwrap();
        assert!(limits.admit(b).err().unwrap().contains("limit of 3"));
        drop(p1);
        let _p4 = limits.admit(b).unwrap();
        assert_eq!(limits.open(), 3);
    }
}
