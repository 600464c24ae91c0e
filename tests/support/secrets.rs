//! A seeded generator of labelled documents for measuring the credential
//! detectors of `stdlib.pii` (`pii.secrets`): `.env` files, YAML and JSON
//! configuration, code, shell history, CI logs, chat messages and `curl`
//! commands, with planted credentials of every provider the module knows
//! (the kind and byte range of each recorded: for an assignment or a URL
//! password, the value only) and planted decoys that must survive:
//! placeholders (`ghp_xxxx…`, `${TOKEN}`, `changeme`, `<your-password>`),
//! hashes, UUIDs, publishable keys, counters (`max_tokens: 4096`), paths,
//! prose (`Password: required`).
//!
//! The token shapes follow the providers' documented formats; the values
//! are random. Shared by `tests/detectors.rs` through `#[path]`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::ops::Range;

use crate::corpus::Rng;

/// The credential detectors of `stdlib.pii` this corpus plants values for.
pub const DETECTORS: [&str; 24] = [
    "github_token",
    "gitlab_token",
    "slack_token",
    "slack_webhook",
    "stripe_key",
    "google_api_key",
    "google_oauth_secret",
    "azure_storage_key",
    "azure_client_secret",
    "openai_key",
    "anthropic_key",
    "npm_token",
    "pypi_token",
    "huggingface_token",
    "sendgrid_key",
    "twilio_key",
    "shopify_token",
    "digitalocean_token",
    "vault_token",
    "databricks_token",
    "age_secret_key",
    "url_password",
    "password_assignment",
    "secret_assignment",
];

/// One generated document.
#[derive(Debug, Clone)]
pub struct SecretDoc {
    pub text: String,
    /// Planted credentials: (detector, byte range of what must be masked).
    pub secrets: Vec<(&'static str, Range<usize>)>,
    /// Planted decoys: what must be left alone.
    pub decoys: Vec<(&'static str, Range<usize>)>,
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const URLSAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX: &[u8] = b"0123456789abcdef";
const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const BECH32: &[u8] = b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L";

/// A credential of `detector`'s provider (for assignments, the value).
fn credential(r: &mut Rng, detector: &str) -> String {
    match detector {
        "github_token" => match r.below(3) {
            0 => format!("github_pat_{}_{}", r.from(ALNUM, 22), r.from(ALNUM, 59)),
            _ => format!("{}_{}", r.pick_str(&["ghp", "gho", "ghu", "ghs", "ghr"]), r.from(ALNUM, 36)),
        },
        "gitlab_token" => match r.below(4) {
            0 => format!("glptt-{}", r.from(HEX, 40)),
            1 => format!("GR1348941{}", r.from(URLSAFE, 20)),
            _ => format!("{}-{}", r.pick_str(&["glpat", "glrt", "gldt", "glsoat"]), r.from(ALNUM, 20)),
        },
        "slack_token" => match r.below(3) {
            0 => format!("xoxb-{}-{}-{}", r.digits(12), r.digits(13), r.from(ALNUM, 24)),
            1 => format!("xoxp-{}-{}-{}-{}", r.digits(11), r.digits(12), r.digits(12), r.from(HEX, 32)),
            _ => format!("xapp-1-A{}-{}-{}", r.from(UPPER_ALNUM, 10), r.digits(13), r.from(HEX, 64)),
        },
        "slack_webhook" => format!(
            "https://hooks.slack.com/services/T{}/B{}/{}",
            r.from(UPPER_ALNUM, 8),
            r.from(UPPER_ALNUM, 10),
            r.from(ALNUM, 24)
        ),
        "stripe_key" => match r.below(3) {
            0 => format!("whsec_{}", r.from(ALNUM, 32)),
            _ => {
                let kind = r.pick_str(&["sk_live", "sk_test", "rk_live", "rk_test"]);
                let n = r.range(24, 99) as usize;
                format!("{kind}_{}", r.from(ALNUM, n))
            }
        },
        "google_api_key" => format!("AIza{}", r.from(URLSAFE, 35)),
        "google_oauth_secret" => format!("GOCSPX-{}", r.from(URLSAFE, 28)),
        "azure_storage_key" => format!("{}==", r.from(B64, 86)),
        "azure_client_secret" => format!("{}{}Q~{}", r.from(ALNUM, 3), r.digits(1), r.from(ALNUM, 34)),
        "openai_key" => match r.below(2) {
            0 => format!("sk-proj-{}T3BlbkFJ{}", r.from(URLSAFE, 60), r.from(URLSAFE, 60)),
            _ => format!("sk-{}T3BlbkFJ{}", r.from(ALNUM, 20), r.from(ALNUM, 20)),
        },
        "anthropic_key" => format!("sk-ant-api03-{}AA", r.from(URLSAFE, 93)),
        "npm_token" => format!("npm_{}", r.from(ALNUM, 36)),
        "pypi_token" => {
            let n = r.range(60, 150) as usize;
            format!("pypi-AgEIcHlwaS5vcmc{}", r.from(URLSAFE, n))
        }
        "huggingface_token" => format!("hf_{}", r.from(LETTERS, 34)),
        "sendgrid_key" => format!("SG.{}.{}", r.from(URLSAFE, 22), r.from(URLSAFE, 43)),
        "twilio_key" => format!("SK{}", r.from(HEX, 32)),
        "shopify_token" => format!("{}_{}", r.pick_str(&["shpat", "shpca", "shppa", "shpss"]), r.from(HEX, 32)),
        "digitalocean_token" => format!("{}_v1_{}", r.pick_str(&["dop", "doo", "dor"]), r.from(HEX, 64)),
        "vault_token" => format!("hvs.{}", r.from(URLSAFE, 90)),
        "databricks_token" => format!("dapi{}", r.from(HEX, 32)),
        "age_secret_key" => format!("AGE-SECRET-KEY-1{}", r.from(BECH32, 58)),
        "url_password" | "password_assignment" => password(r),
        _ => {
            let n = r.range(24, 64) as usize;
            r.from(ALNUM, n) // secret_assignment
        }
    }
}

/// A password as people choose them, or as a generator makes them.
fn password(r: &mut Rng) -> String {
    match r.below(3) {
        0 => {
            let word = r.pick_str(&["Summer", "Winter", "Dragon", "Monkey", "Sunshine", "Tr0ub4dor", "Kaffee"]);
            format!("{word}{}{}", r.range(10, 2026), r.pick_str(&["!", "#", "?", "$", ""]))
        }
        1 => {
            let n = r.range(12, 24) as usize;
            r.from(b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#%&*+=?@", n)
        }
        _ => format!("{}-{}-{}", r.from(LOWER, 5), r.digits(3), r.from(ALNUM, 6)),
    }
}

/// The label a credential of `detector` is given in configuration.
fn variable(r: &mut Rng, detector: &str) -> &'static str {
    match detector {
        "github_token" => r.pick_str(&["GITHUB_TOKEN", "GH_TOKEN", "gh_pat"]),
        "gitlab_token" => r.pick_str(&["GITLAB_TOKEN", "CI_RUNNER_TOKEN"]),
        "slack_token" => r.pick_str(&["SLACK_BOT_TOKEN", "slack_token"]),
        "slack_webhook" => r.pick_str(&["SLACK_WEBHOOK_URL", "webhook"]),
        "stripe_key" => r.pick_str(&["STRIPE_SECRET_KEY", "stripe.api_key"]),
        "google_api_key" => r.pick_str(&["GOOGLE_API_KEY", "MAPS_KEY", "firebaseApiKey"]),
        "google_oauth_secret" => "GOOGLE_CLIENT_SECRET",
        "azure_client_secret" => r.pick_str(&["AZURE_CLIENT_SECRET", "clientSecret"]),
        "openai_key" => "OPENAI_API_KEY",
        "anthropic_key" => "ANTHROPIC_API_KEY",
        "npm_token" => "NPM_TOKEN",
        "pypi_token" => r.pick_str(&["TWINE_PASSWORD", "PYPI_TOKEN"]),
        "huggingface_token" => "HF_TOKEN",
        "sendgrid_key" => "SENDGRID_API_KEY",
        "twilio_key" => "TWILIO_API_KEY",
        "shopify_token" => "SHOPIFY_ACCESS_TOKEN",
        "digitalocean_token" => "DIGITALOCEAN_TOKEN",
        "vault_token" => "VAULT_TOKEN",
        "databricks_token" => "DATABRICKS_TOKEN",
        "age_secret_key" => "AGE_KEY",
        "password_assignment" => {
            r.pick_str(&["password", "DB_PASSWORD", "passwd", "db_pass", "smtp_password", "PGPASSWORD"])
        }
        _ => r.pick_str(&["client_secret", "API_KEY", "auth_token", "access_key", "webhook_secret", "private_key_id"]),
    }
}

struct Builder {
    text: String,
    secrets: Vec<(&'static str, Range<usize>)>,
    decoys: Vec<(&'static str, Range<usize>)>,
}

impl Builder {
    fn s(&mut self, t: &str) {
        self.text.push_str(t);
    }

    fn secret(&mut self, detector: &'static str, value: &str) {
        let start = self.text.len();
        self.text.push_str(value);
        self.secrets.push((detector, start..self.text.len()));
    }

    fn decoy(&mut self, what: &'static str, value: &str) {
        let start = self.text.len();
        self.text.push_str(value);
        self.decoys.push((what, start..self.text.len()));
    }
}

/// Plants one credential of `detector` in a line of the document's genre.
fn plant(b: &mut Builder, r: &mut Rng, detector: &'static str, genre: &str) {
    let value = credential(r, detector);
    match detector {
        "azure_storage_key" => {
            b.s(&format!("AZURE_STORAGE=DefaultEndpointsProtocol=https;AccountName={};AccountKey=", r.from(LOWER, 10)));
            b.secret(detector, &value);
            b.s(";EndpointSuffix=core.windows.net\n");
            return;
        }
        "url_password" => {
            let scheme = r.pick_str(&["postgres", "mysql", "redis", "amqp", "https"]);
            b.s(&format!("DATABASE_URL={scheme}://{}:", r.pick_str(&["app", "svc_orders", "admin", "dana"])));
            // In a URL, reserved characters of a password are percent-encoded.
            let encoded: String = value
                .chars()
                .map(|c| match c {
                    '#' | '?' | '@' | '/' | '%' | ':' => format!("%{:02X}", c as u32),
                    c => c.to_string(),
                })
                .collect();
            b.secret(detector, &encoded);
            b.s(&format!("@{}.internal:5432/app\n", r.from(LOWER, 6)));
            return;
        }
        _ => {}
    }
    let var = variable(r, detector);
    match genre {
        "env" => {
            b.s(&format!("{var}="));
            b.secret(detector, &value);
            b.s("\n");
        }
        "yaml" => {
            b.s(&format!("  {}: \"", var.to_lowercase()));
            b.secret(detector, &value);
            b.s("\"\n");
        }
        "json" => {
            b.s(&format!("  \"{}\": \"", var.to_lowercase()));
            b.secret(detector, &value);
            b.s("\",\n");
        }
        "code" => {
            b.s(&format!("{} = os.environ.get(\"{var}\", \"", var.to_lowercase()));
            b.secret(detector, &value);
            b.s("\")\n");
        }
        "shell" => {
            b.s(&format!("$ export {var}='"));
            b.secret(detector, &value);
            b.s("'\n");
        }
        "chat" if !matches!(detector, "password_assignment" | "secret_assignment") => {
            b.s(r.pick_str(&["here's the token you asked for: ", "use this one → ", "try again with "]));
            b.secret(detector, &value);
            b.s(" and tell me if it works\n");
        }
        "curl" if !matches!(detector, "password_assignment" | "secret_assignment") => {
            b.s("curl -sS -H \"Authorization: token ");
            b.secret(detector, &value);
            b.s("\" https://api.example.com/v1/things\n");
        }
        _ => {
            b.s(&format!("{} level=info msg=\"loaded config\" {var}=", r.digits(10)));
            b.secret(detector, &value);
            b.s(" pid=4242\n");
        }
    }
}

/// Values that look like credentials, or sit where one would, and are not.
fn plant_decoy(b: &mut Builder, r: &mut Rng) {
    let (label, before, value, after): (&'static str, String, String, &str) = match r.below(16) {
        0 => ("placeholder", "GITHUB_TOKEN=".into(), format!("ghp_{}", "x".repeat(36)), "\n"),
        1 => ("placeholder", "GITHUB_TOKEN=".into(), "${GITHUB_TOKEN}".into(), "\n"),
        2 => (
            "placeholder",
            "password: ".into(),
            r.pick_str(&["changeme", "********", "<your-password>", "{{ vault_db_password }}"]).into(),
            "\n",
        ),
        3 => (
            "placeholder",
            "api_key = \"".into(),
            r.pick_str(&["YOUR_API_KEY_HERE", "your-api-key", "xxxxxxxxxxxxxxxx", "REPLACE_ME"]).into(),
            "\"\n",
        ),
        4 => ("hash", "commit ".into(), r.from(HEX, 40), " Merge branch 'main'\n"),
        5 => ("hash", "sha256: ".into(), r.from(HEX, 64), "\n"),
        6 => (
            "uuid",
            "request_id=".into(),
            format!(
                "{}-{}-4{}-a{}-{}",
                r.from(HEX, 8),
                r.from(HEX, 4),
                r.from(HEX, 3),
                r.from(HEX, 3),
                r.from(HEX, 12)
            ),
            "\n",
        ),
        7 => ("publishable key", "STRIPE_PUBLISHABLE_KEY=".into(), format!("pk_live_{}", r.from(ALNUM, 24)), "\n"),
        8 => (
            "counter",
            r.pick_str(&["max_tokens: ", "token_count=", "tokens: ", "secret_count = "]).into(),
            {
                let n = r.range(2, 9) as usize;
                r.digits(n)
            },
            "\n",
        ),
        9 => (
            "path",
            r.pick_str(&["private_key_path=", "secret_file: ", "api_key_file="]).into(),
            format!("/etc/{}/{}.pem", r.from(LOWER, 6), r.from(LOWER, 8)),
            "\n",
        ),
        10 => (
            "prose",
            "".into(),
            r.pick_str(&[
                "Password: required",
                "Password reset link sent to your inbox",
                "the secret: keep it simple",
                "Token: see the vault",
            ])
            .into(),
            ".\n",
        ),
        11 => (
            "word",
            r.pick_str(&["token_type: ", "secret_santa = ", "auth_token_header: "]).into(),
            r.pick_str(&["bearer", "true", "Authorization"]).into(),
            "\n",
        ),
        12 => ("short id", "AIza prefix is ".into(), format!("AIza{}", r.from(ALNUM, 10)), " in the docs\n"),
        13 => (
            "word",
            "pip install ".into(),
            r.pick_str(&["sk-learn-contrib", "task-list-runner", "scikit-learn"]).into(),
            "\n",
        ),
        14 => ("placeholder", "SLACK_BOT_TOKEN=".into(), "xoxb-your-bot-token".into(), "\n"),
        _ => ("placeholder", "AZURE_CLIENT_SECRET=".into(), "<client-secret>".into(), "\n"),
    };
    b.s(&before);
    b.decoy(label, &value);
    b.s(after);
}

const GENRES: [&str; 8] = ["env", "yaml", "json", "code", "shell", "chat", "curl", "log"];

/// One document: a genre, a few credentials, decoys, filler.
pub fn document(r: &mut Rng) -> SecretDoc {
    let genre = r.pick_str(&GENRES);
    let mut b = Builder { text: String::new(), secrets: Vec::new(), decoys: Vec::new() };
    b.s(match genre {
        "env" => "# production settings\n",
        "yaml" => "service:\n",
        "json" => "{\n",
        "code" => "import os\n\n",
        "shell" => "$ cd deploy\n",
        "chat" => "[10:42] dana: ",
        "curl" => "# reproduce the bug:\n",
        _ => "2026-11-26T10:00:00Z starting\n",
    });
    for _ in 0..r.range(2, 5) {
        if r.chance(0.6) {
            let detector = *r.pick(&DETECTORS);
            plant(&mut b, r, detector, genre);
        } else {
            plant_decoy(&mut b, r);
        }
        b.s(r.pick_str(&["", "# see runbook\n", "retries: 3\n", "  timeout_ms: 2500\n", "ok\n"]));
    }
    if genre == "json" {
        b.s("  \"v\": 1\n}\n");
    }
    SecretDoc { text: b.text, secrets: b.secrets, decoys: b.decoys }
}

pub fn corpus(seed: u64, docs: usize) -> Vec<SecretDoc> {
    let mut r = Rng::new(seed);
    (0..docs).map(|_| document(&mut r)).collect()
}
