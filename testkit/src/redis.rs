//! A throwaway `redis-server` on a free loopback port, stopped when dropped:
//! `$WARD_REDIS_SERVER` (exported by scripts/test), else `redis-server` on
//! the `PATH`.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::require::missing;

pub struct RedisServer {
    child: Child,
    port: u16,
}

fn program() -> String {
    std::env::var("WARD_REDIS_SERVER").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "redis-server".into())
}

/// Ready means answering `PING`, not only accepting connections.
fn answers_ping(port: u16) -> bool {
    let Ok(mut con) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = con.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    con.write_all(b"PING\r\n").is_ok() && con.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

fn free_port() -> Option<u16> {
    Some(std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port())
}

impl RedisServer {
    /// Starts a server. `None` only when `WARD_ALLOW_SKIP` names `redis` and
    /// none can be started (the skip is announced); otherwise a failure to
    /// start panics with what to do.
    pub fn start() -> Option<RedisServer> {
        let program = program();
        // Two tests can be handed the same free port; the loser's server
        // exits at once, so check that *our* server is the one answering.
        for _ in 0..10 {
            let port = free_port()?;
            let spawned = Command::new(&program)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let mut child = match spawned {
                Ok(c) => c,
                Err(e) => {
                    missing(
                        "redis",
                        &format!("cannot start `{program}`: {e}"),
                        "scripts/test installs Debian's redis-server and exports WARD_REDIS_SERVER",
                    );
                    return None;
                }
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    break; // lost the port: try another
                }
                if answers_ping(port) {
                    // Still ours a moment after answering? (A server that lost
                    // the port exits within milliseconds of starting.)
                    std::thread::sleep(Duration::from_millis(200));
                    if child.try_wait().ok().flatten().is_none() {
                        return Some(RedisServer { child, port });
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        missing("redis", &format!("`{program}` did not start on a free port"), "check that redis-server runs");
        None
    }

    /// Kills the server now (tests of a Redis that dies under load).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
