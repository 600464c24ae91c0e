//! Driving `ward serve` from tests: a project with two policy versions, the
//! server as a child process on 127.0.0.1 with an ephemeral port, and a small
//! blocking HTTP/1.1 client (keep-alive, optionally over TLS).
//!
//! Shared by `tests/serve.rs` and `tests/serve_load.rs` through `#[path]`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn ward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ward")).args(args).env("NO_COLOR", "1").output().expect("run ward")
}

pub fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("serve-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub const SCHEMA: &str = "schema s {\n  entity User { level: Int }\n  entity Doc\n  \
                          action read, write by [User] on [Doc] with { note: String }\n}\n";

/// Version A: level ≥ 1 may read. Version B: level ≥ 2 may read, and a forbid on u3.
pub const POLICY_A: &str = "import stdlib.pii\n\npolicy p {\n  @id(\"read\")\n  permit action: read when principal.level >= 1\n\n  \
                            @id(\"emails\")\n  mask text with pii.email using redact\n}\n";
pub const POLICY_B: &str = "policy p {\n  @id(\"read-senior\")\n  permit action: read when principal.level >= 2\n\n  \
                            @id(\"not-u3\")\n  forbid action: read when principal == User::\"u3\"\n}\n";

pub const TOKEN_ALL: &str = "token-all";
pub const TOKEN_MASK_ONLY: &str = "token-mask-only";
pub const TOKEN_ADMIN: &str = "token-admin";

pub fn sha256_hex(s: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A project directory: sources for A and B, their bundles, entities.
pub struct Project {
    pub dir: PathBuf,
    pub bundle_a: PathBuf,
    pub bundle_b: PathBuf,
    /// The bundle the server is configured with.
    pub served: PathBuf,
}

impl Project {
    pub fn new(name: &str, sign: bool) -> Project {
        let dir = scratch(name);
        for v in ["a", "b"] {
            std::fs::create_dir_all(dir.join(v)).unwrap();
            std::fs::write(dir.join(v).join("schema.ward"), SCHEMA).unwrap();
            std::fs::write(dir.join(v).join("policy.ward"), if v == "a" { POLICY_A } else { POLICY_B }).unwrap();
        }
        let mut entities = vec![serde_json::json!({"uid": {"type": "Doc", "id": "d"}})];
        for u in 0..4 {
            entities.push(serde_json::json!({"uid": {"type": "User", "id": format!("u{u}")}, "attrs": {"level": u}}));
        }
        std::fs::write(dir.join("entities.json"), serde_json::to_string(&entities).unwrap()).unwrap();
        if sign {
            let out = ward(&["keygen", "-o", dir.join("signer").to_str().unwrap()]);
            assert!(out.status.success(), "{}", text(&out.stderr));
            let out = ward(&["keygen", "-o", dir.join("other").to_str().unwrap()]);
            assert!(out.status.success(), "{}", text(&out.stderr));
        }
        let build = |v: &str| {
            let bundle = dir.join(format!("{v}.bundle"));
            let src = dir.join(v);
            let key = dir.join("signer.key");
            let mut args = vec!["build", src.to_str().unwrap(), "-o", bundle.to_str().unwrap()];
            if sign {
                args.extend(["--sign", key.to_str().unwrap()]);
            }
            let out = ward(&args);
            assert!(out.status.success(), "ward build: {}{}", text(&out.stdout), text(&out.stderr));
            bundle
        };
        let (bundle_a, bundle_b) = (build("a"), build("b"));
        let served = dir.join("served.bundle");
        std::fs::copy(&bundle_a, &served).unwrap();
        Project { dir, bundle_a, bundle_b, served }
    }

    /// Replaces the served bundle atomically (as `ward build -o` does).
    pub fn serve_bundle(&self, from: &Path) {
        let tmp = self.dir.join("served.bundle.tmp");
        std::fs::copy(from, &tmp).unwrap();
        std::fs::rename(&tmp, &self.served).unwrap();
    }

    /// A configuration file with the three tokens and `extra` TOML in `[server]` / after.
    pub fn config(&self, server: &str, policy: &str, rest: &str) -> PathBuf {
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n{server}\n\n[policy]\nbundle = \"served.bundle\"\n\
             entities = \"entities.json\"\n{policy}\n\n{rest}\n\n\
             [[tokens]]\nname = \"all\"\nsha256 = \"{}\"\nscopes = [\"decide\", \"mask\", \"metrics\"]\n\n\
             [[tokens]]\nname = \"mask-only\"\nsha256 = \"{}\"\nscopes = [\"mask\"]\n\n\
             [[tokens]]\nname = \"admin\"\nsha256 = \"{}\"\nscopes = [\"admin\"]\n",
            sha256_hex(TOKEN_ALL),
            sha256_hex(TOKEN_MASK_ONLY),
            sha256_hex(TOKEN_ADMIN),
        );
        let path = self.dir.join("ward.toml");
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// A running `ward serve`; killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub tls: bool,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ward"))
            .arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ward serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        if line.is_empty() {
            let status = child.wait().unwrap();
            std::thread::sleep(Duration::from_millis(100));
            panic!("ward serve exited ({status}) before listening: {}", stderr.lock().unwrap());
        }
        let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected: {line}"));
        let (scheme, addr) = url.split_once("://").unwrap();
        Server { child, addr: addr.parse().unwrap(), tls: scheme == "https", stderr }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill").args([sig, &self.pid().to_string()]).status().unwrap();
        assert!(st.success());
    }

    /// A new plain-HTTP connection.
    pub fn connect(&self) -> Conn {
        Conn::plain(self.addr)
    }

    /// One request on a fresh connection.
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Response {
        self.connect().request(method, path, token, body).unwrap()
    }

    /// Waits (bounded) until `check` holds, polling `/v1/policy`.
    pub fn wait_for(&self, what: &str, check: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.call("GET", "/v1/policy", Some(TOKEN_ALL), None);
            let v = r.json();
            if check(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "gave up waiting for {what}; last: {v}; log:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A keep-alive HTTP/1.1 connection.
pub struct Conn {
    stream: BufReader<Box<dyn Stream>>,
    host: String,
}

impl Conn {
    pub fn plain(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.set_nodelay(true).unwrap();
        Conn { stream: BufReader::new(Box::new(s)), host: addr.to_string() }
    }

    pub fn over(stream: Box<dyn Stream>, host: &str) -> Conn {
        Conn { stream: BufReader::new(stream), host: host.to_string() }
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> std::io::Result<Response> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        if let Some(t) = token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        let body = body.unwrap_or("");
        if method == "POST" {
            head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(body.as_bytes())?;
        s.flush()?;
        self.read_response()
    }

    fn read_response(&mut self) -> std::io::Result<Response> {
        let mut line = String::new();
        self.stream.read_line(&mut line)?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line: {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.stream.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| std::io::Error::other("no content-length"))?;
        let mut body = vec![0; len];
        self.stream.read_exact(&mut body)?;
        Ok(Response { status, headers, body: String::from_utf8_lossy(&body).into_owned() })
    }
}

pub fn request_json(user: &str, action: &str) -> String {
    serde_json::json!({
        "principal": {"type": "User", "id": user},
        "action": action,
        "resource": {"type": "Doc", "id": "d"},
        "context": {"note": "n"},
    })
    .to_string()
}

/// The decision without the `policy` field the service adds.
pub fn strip_policy(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("policy");
    }
    v
}
