//! `ward mask` and `ward detokenize` through the real binary, on the
//! customer-support example: what is masked and how, tokens that only the
//! right key reverses, failing closed (a missing key, a field mask on text),
//! and bad input (invalid UTF-8, 10,000-deep JSON, a 5 MB string, a 1 MB
//! digit run, near-miss card numbers) — a clear error or a correct result,
//! never a panic and never an unmasked leak.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const AT: &str = "2026-11-26T10:00:00Z";

fn ward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("WARD_KEY_CX_EMAIL")
        .env_remove("WARD_KEY_CRM")
        .output()
        .expect("run ward")
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("mask-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, body: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

fn example() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/examples/customer-support").to_string()
}

/// Line 1 of the example's requests: the support agent reads customer c-1001.
fn read_request(dir: &Path) -> String {
    let lines = std::fs::read_to_string(format!("{}/requests.jsonl", example())).unwrap();
    write(dir, "request.json", lines.lines().next().unwrap())
}

fn keys_file(dir: &Path, name: &str, key: [u8; 32]) -> String {
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    write(dir, &format!("keys-{}.json", key[0]), serde_json::json!({ name: hex }).to_string())
}

/// `ward mask` with the example policy and fixture.
fn mask_example(dir: &Path, payload: &str, keys: Option<&str>) -> Output {
    mask_example_request(&read_request(dir), payload, keys)
}

/// `ward mask` with the example policy and fixture, for the request in the file `request`.
fn mask_example_request(request: &str, payload: &str, keys: Option<&str>) -> Output {
    let policy = example();
    let mut args = vec![
        "mask",
        "--policy",
        &policy,
        "--fixture",
        "acme_crm",
        "--request",
        request,
        "--payload",
        payload,
        "--at",
        AT,
    ];
    if let Some(k) = keys {
        args.extend(["--keys", k]);
    }
    ward(&args)
}

/// A policy whose masks act on text only (no field masks), with detectors
/// from `stdlib.pii`: for text payloads.
fn text_policy(dir: &Path) -> (String, String) {
    let policy = "import stdlib.pii\n\nschema s {\n  entity User\n  entity Ticket\n  action read by [User] on [Ticket]\n}\n\n\
                  policy p {\n  permit action: read\n\n  @id(\"emails\")\n  mask text with pii.email using tokenize(key: \"crm\")\n\n  \
                  @id(\"cards\")\n  mask text with pii.credit_card using partial(last: 4)\n\n  \
                  @id(\"the-rest\")\n  mask text with pii.ssn, pii.phone, pii.iban, pii.secrets using redact\n}\n";
    let request = r#"{"principal":{"type":"User","id":"dana"},"action":"read","resource":{"type":"Ticket","id":"t-1"},"context":{}}"#;
    (write(dir, "text.ward", policy), write(dir, "text-request.json", request))
}

fn mask_text(dir: &Path, payload: &str, keys: Option<&str>) -> Output {
    let (policy, request) = text_policy(dir);
    let mut args = vec!["mask", "--policy", &policy, "--request", &request, "--payload", payload, "--at", AT];
    if let Some(k) = keys {
        args.extend(["--keys", k]);
    }
    ward(&args)
}

fn assert_no_panic(out: &Output) {
    assert_ne!(out.status.code(), Some(101), "ward stopped on an internal error: {}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
}

const RECORD: &str = r#"{
  "id": "c-1001",
  "name": "Maria Anders",
  "email": "maria.anders@northwind.example",
  "phone": "+1 415 555 0142",
  "card_number": "4111 1111 1111 1111",
  "ssn": "536-22-8145",
  "notes": "Paid invoice 2211 with card 5500 0000 0000 0004. Backup contact: ops@northwind.example. Ref 4716 0312 9983 1457.",
  "tickets": [{"body": "My SSN is 536-22-8145, key AKIAIOSFODNN7EXAMPLE"}]
}"#;

#[test]
fn a_json_record_is_masked_by_the_examples_rules() {
    let dir = scratch("json");
    let payload = write(&dir, "record.json", RECORD);
    let keys = keys_file(&dir, "cx-email", [7; 32]);
    let out = mask_example(&dir, &payload, Some(&keys));
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let masked: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Fields: email tokenized, card partial, SSN redacted; the rest as is.
    assert!(masked["email"].as_str().unwrap().starts_with("tok2_"), "{masked}");
    assert_eq!(masked["card_number"], "****1111");
    assert_eq!(masked["ssn"], "[REDACTED]");
    assert_eq!(masked["name"], "Maria Anders");
    // Free text: emails tokenized with the same key, cards cut to their last
    // four, SSNs and secrets redacted; an order number failing Luhn kept.
    let notes = masked["notes"].as_str().unwrap();
    assert!(notes.contains("card ****0004."), "{notes}");
    assert!(notes.contains("Backup contact: tok2_"), "{notes}");
    assert!(notes.contains("Ref 4716 0312 9983 1457."), "{notes}");
    assert_eq!(masked["tickets"][0]["body"], "My SSN is [REDACTED:ssn], key [REDACTED:aws_access_key]");
    let all = text(&out.stdout);
    for secret in
        ["maria.anders@", "ops@northwind", "4111 1111 1111 1111", "5500 0000", "536-22-8145", "AKIAIOSFODNN7EXAMPLE"]
    {
        assert!(!all.contains(secret), "{secret} leaked: {all}");
    }
}

#[test]
fn tokens_come_back_only_with_their_key() {
    let dir = scratch("tokens");
    let payload = write(
        &dir,
        "ticket.txt",
        "Customer dana@acme.example wrote from dana.k@home.example about card 4242 4242 4242 4242.\n",
    );
    let key = keys_file(&dir, "crm", [1; 32]);
    let out = mask_text(&dir, &payload, Some(&key));
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let masked = text(&out.stdout);
    assert!(!masked.contains("@"), "{masked}");
    assert!(masked.contains("card ****4242."), "{masked}");
    // The same value, the same token (deterministic under one key).
    let again = mask_text(&dir, &payload, Some(&key));
    assert_eq!(text(&again.stdout), masked);

    let back = ward(&["detokenize", "--key", "crm", "--keys", &key, masked.trim_end()]);
    assert!(back.status.success(), "{}", text(&back.stderr));
    assert_eq!(
        text(&back.stdout).trim_end(),
        "Customer dana@acme.example wrote from dana.k@home.example about card ****4242."
    );
    let input = write(&dir, "masked.txt", &masked);
    let from_file = ward(&["detokenize", "--key", "crm", "--keys", &key, "--input", &input]);
    assert!(text(&from_file.stdout).contains("dana@acme.example"));

    // Another key with the same name: the tokens do not authenticate under
    // it — an error naming where, exit 1, and no line half-detokenized.
    let wrong = keys_file(&dir, "crm", [2; 32]);
    let nope = ward(&["detokenize", "--key", "crm", "--keys", &wrong, masked.trim_end()]);
    assert_no_panic(&nope);
    assert_eq!(nope.status.code(), Some(1), "{}", text(&nope.stderr));
    assert!(nope.stdout.is_empty(), "{}", text(&nope.stdout));
    let err = text(&nope.stderr);
    assert!(err.contains("line 1, byte 10: token of key `crm`") && err.contains("none of the 1 key(s) given"), "{err}");
    // No key of that name: refused.
    let missing = ward(&["detokenize", "--key", "other", "--keys", &key, masked.trim_end()]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("no key `other`"), "{}", text(&missing.stderr));
    assert!(missing.stdout.is_empty());
}

#[test]
fn a_missing_key_fails_closed() {
    let dir = scratch("nokey");
    let payload = write(&dir, "record.json", RECORD);
    let out = mask_example(&dir, &payload, None);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "the payload was released: {}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("no tokenization key `cx-email`") && err.contains("DENY"), "{err}");

    // A keys file without that key: the same.
    let other = keys_file(&dir, "unrelated", [3; 32]);
    let out = mask_example(&dir, &payload, Some(&other));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn a_field_mask_on_a_text_payload_fails_closed() {
    let dir = scratch("fieldtext");
    let payload = write(&dir, "record.txt", "Maria Anders, SSN 536-22-8145, maria.anders@northwind.example");
    let keys = keys_file(&dir, "cx-email", [7; 32]);
    let out = mask_example(&dir, &payload, Some(&keys));
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "the payload was released: {}", text(&out.stdout));
    assert!(text(&out.stderr).contains("names a field, but the payload is text"), "{}", text(&out.stderr));
}

#[test]
fn a_deny_releases_nothing() {
    let dir = scratch("deny");
    let payload = write(&dir, "record.json", RECORD);
    let keys = keys_file(&dir, "cx-email", [7; 32]);
    // The fixture's customer c-2001 is in another region: no permit applies.
    let request = write(
        &dir,
        "other.json",
        r#"{"action":"read_customer","context":{},"principal":{"id":"support_bot","type":"Agent"},"resource":{"id":"c-2001","type":"Customer"}}"#,
    );
    let out = mask_example_request(&request, &payload, Some(&keys));
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_payloads_give_a_clear_error_or_a_correct_result() {
    let dir = scratch("bad");
    let key = keys_file(&dir, "crm", [1; 32]);
    let ex_keys = keys_file(&dir, "cx-email", [7; 32]);

    // Invalid UTF-8: refused before anything is decided.
    let bad = write(&dir, "bad.bin", b"card 4111 1111 1111 1111 \xff\xfe\x00 end");
    let out = mask_text(&dir, &bad, Some(&key));
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("valid UTF-8"), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());

    // JSON nested 10,000 deep is not parsed as JSON: as text it is scanned
    // (and has nothing to mask); field masks cannot apply to it and fail closed.
    let deep = format!("{}\"4111 1111 1111 1111\"{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_path = write(&dir, "deep.json", &deep);
    let out = mask_text(&dir, &deep_path, Some(&key));
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("4111 1111 1111 1111"));
    assert!(text(&out.stdout).contains("****1111"));
    let out = mask_example(&dir, &deep_path, Some(&ex_keys));
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());

    // A 5 MB string inside a JSON record: masked throughout.
    let filler = "Nothing to see in this sentence, just words and a date 2026-11-26. ".repeat(5 * 1024 * 1024 / 68);
    let big = serde_json::json!({
        "email": "maria.anders@northwind.example",
        "notes": format!("{filler}SSN 536-22-8145 {filler}card 4111 1111 1111 1111 {filler}"),
    });
    let big_path = write(&dir, "big.json", big.to_string());
    let out = mask_example(&dir, &big_path, Some(&ex_keys));
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let masked = text(&out.stdout);
    assert!(masked.len() > 5_000_000);
    assert!(masked.contains("SSN [REDACTED:ssn]") && masked.contains("card ****1111"));
    assert!(
        !masked.contains("536-22-8145") && !masked.contains("4111 1111 1111 1111") && !masked.contains("maria.anders@")
    );

    // A 1 MB run of digits: no card, SSN or phone number in it.
    let digits: String = (0..1024 * 1024).map(|i| char::from(b'0' + (i % 10) as u8)).collect();
    let digits_path = write(&dir, "digits.txt", &digits);
    let out = mask_text(&dir, &digits_path, Some(&key));
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim_end(), digits);

    // 50,000 near-miss card numbers (Luhn fails), then one real one.
    let near = "4111 1111 1111 1112 ".repeat(50_000) + "\nreal: 4111 1111 1111 1111.";
    let near_path = write(&dir, "near.txt", &near);
    let out = mask_text(&dir, &near_path, Some(&key));
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let masked = text(&out.stdout);
    // Text comes back byte for byte but for what is masked: no newline added.
    assert!(masked.ends_with("real: ****1111."), "{}", &masked[masked.len() - 60..]);
    assert!(!masked.contains("4111 1111 1111 1111"));

    // Not JSON at all, and empty: text, masked or passed through.
    let prose = write(&dir, "prose.txt", "{ not json: call +44 20 7946 0958 }");
    let out = mask_text(&dir, &prose, Some(&key));
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim_end(), "{ not json: call [REDACTED:phone] }");
    let empty = write(&dir, "empty.txt", "");
    let out = mask_text(&dir, &empty, Some(&key));
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// `ward mask` with the given stdin; returns the output.
fn ward_stdin(args: &[&str], stdin: impl AsRef<[u8]>) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run ward");
    let mut input = child.stdin.take().unwrap();
    let bytes = stdin.as_ref().to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&bytes);
    });
    let out = child.wait_with_output().expect("wait for ward");
    feeder.join().unwrap();
    out
}

/// Issue 14: masking as a stream — JSON lines from stdin, in one process,
/// with detectors alone (no policy, no request).
#[test]
fn json_lines_from_stdin_are_masked_line_by_line() {
    let lines = [
        r#"{"card": 4111111111111111, "count": 3, "note": "SSN 123-45-6789 4111111111111111"}"#,
        "",
        r#"{"ssn": "536228145", "phone": "+1-890-860-7912x86160", "token": "ghp_R8s3kT1xQ9vLm2Zp7Yc4Wn6Bd0Hf5Jg8Ka1E"}"#,
        "not json: mail dana@acme.example",
    ];
    let input = lines.join("\n") + "\n";
    for args in
        [vec!["mask", "--detectors", "stdlib.pii.all"], vec!["mask", "--detectors", "pii.all", "--payload", "-"]]
    {
        let out = ward_stdin(&args, &input);
        assert_no_panic(&out);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let got = text(&out.stdout);
        let got: Vec<&str> = got.lines().collect();
        assert_eq!(got.len(), 4, "{got:?}");
        let first: serde_json::Value = serde_json::from_str(got[0]).unwrap();
        assert_eq!(first["card"], "[REDACTED:credit_card]");
        assert_eq!(first["count"], 3);
        assert_eq!(first["note"], "SSN [REDACTED:ssn] [REDACTED:credit_card]");
        assert_eq!(got[1], "");
        let third: serde_json::Value = serde_json::from_str(got[2]).unwrap();
        assert_eq!(
            third,
            serde_json::json!({"ssn": "[REDACTED:ssn]", "phone": "[REDACTED:phone]", "token": "[REDACTED:github_token]"})
        );
        assert_eq!(got[3], "not json: mail [REDACTED:email]");
    }
}

/// Lines are bounded: a line longer than --max-line, or not UTF-8, is
/// reported and withheld; the others are masked; exit 2.
#[test]
fn long_and_broken_lines_are_withheld_and_named() {
    let mut input = b"{\"a\": \"dana@acme.example\"}\n".to_vec();
    input.extend(format!("{{\"b\": \"{}\"}}\n", "x".repeat(500)).as_bytes());
    input.extend(b"{\"c\": \"\xff\xfe\"}\n{\"d\": \"sam@acme.example\"}\n");
    let out = ward_stdin(&["mask", "--detectors", "pii.email", "--lines", "--max-line", "100"], &input);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "{\"a\":\"[REDACTED:email]\"}\n{\"d\":\"[REDACTED:email]\"}\n");
    let err = text(&out.stderr);
    assert!(err.contains("stdin:2: a line of 510 bytes is longer than --max-line 100"), "{err}");
    assert!(err.contains("stdin:3: the line is not valid UTF-8"), "{err}");
}

/// A decision's masks apply to every document of a stream; a deny
/// releases nothing; the audit log records what was masked.
#[test]
fn a_request_decided_once_masks_a_stream_and_is_audited_with_counts() {
    let dir = scratch("stream-request");
    let (policy, request) = text_policy(&dir);
    let key = keys_file(&dir, "crm", [1; 32]);
    let log = dir.join("audit.log").display().to_string();
    let input = "card 4111 1111 1111 1111\n{\"mail\": \"dana@acme.example\"}\n".repeat(3);
    let args =
        ["mask", "--policy", &policy, "--request", &request, "--keys", &key, "--audit-log", &log, "--lines", "-"];
    let out = ward_stdin(&args, &input);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = text(&out.stdout);
    assert_eq!(got.lines().count(), 6);
    assert!(got.lines().all(|l| l.contains("****1111") || l.contains("tok2_")), "{got}");
    let record: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&log).unwrap().lines().last().unwrap()).unwrap();
    let masked: Vec<(String, u64)> = record["masked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["by"].as_str().unwrap().to_string(), m["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(masked, [("credit_card".to_string(), 3), ("email".to_string(), 3)], "{record}");
    assert!(!std::fs::read_to_string(&log).unwrap().contains("dana@"));
}

/// Text is masked in blocks of about 1 MiB cut at line ends, never inside a
/// private key: a key across the first cut is masked whole.
#[test]
fn text_blocks_never_cut_a_private_key() {
    let filler = "Nothing to see here, just words, dates 2026-11-26 and amounts $12.50.\n";
    let mut input = filler.repeat(1024 * 1024 / filler.len());
    let body: Vec<String> =
        (0..40).map(|i| format!("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC{i:04}BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj")).collect();
    input.push_str("-----BEGIN PRIVATE KEY-----\n");
    input.push_str(&body.join("\n"));
    input.push_str("\n-----END PRIVATE KEY-----\nafter the key: dana@acme.example\n");
    let out = ward_stdin(&["mask", "--detectors", "pii.private_key,pii.email", "--text"], &input);
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = text(&out.stdout);
    assert!(!got.contains("MIIEvQ") && !got.contains("dana@"), "a key line leaked");
    assert!(got.ends_with("[REDACTED:private_key]\nafter the key: [REDACTED:email]\n"));
    assert!(got.starts_with(&filler.repeat(3)), "the text around it is kept");
}

/// Issue 14: a closed pipe ends `ward mask`, `ward detokenize` and `ward
/// eval` quietly — exit 0 or 141, never 101 or "internal error".
#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    use std::io::{BufRead, Write};
    let dir = scratch("pipe");
    let key = keys_file(&dir, "crm", [1; 32]);
    let token = {
        let out = ward_stdin(
            &["mask", "--detectors", "pii.email", "--method", "tokenize(key: \"crm\")", "--keys", &key],
            "dana@acme.example\n",
        );
        text(&out.stdout).trim().to_string()
    };
    assert!(token.starts_with("tok2_"), "{token}");
    let request = read_request(&dir);
    let requests = write(&dir, "requests.jsonl", (std::fs::read_to_string(&request).unwrap() + "\n").repeat(20_000));
    let policy = example();
    let lines = "{\"mail\": \"dana@acme.example\", \"pad\": \"..............................\"}\n".repeat(100_000);
    let detok_lines = format!("{token} and more text\n").repeat(20_000);
    let cases: Vec<(Vec<String>, String)> = vec![
        (vec!["mask".into(), "--detectors".into(), "pii.email".into()], lines),
        (vec!["detokenize".into(), "--key".into(), "crm".into(), "--keys".into(), key.clone()], detok_lines),
        (
            ["eval", "--policy", &policy, "--fixture", "acme_crm", "--requests", &requests, "--at", AT]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            String::new(),
        ),
    ];
    for (args, input) in cases {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ward"))
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        {
            // Read one line, then close the pipe, as `| head -1` does.
            let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
            let mut first = String::new();
            reader.read_line(&mut first).unwrap();
            assert!(!first.is_empty(), "{args:?} printed nothing");
        }
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        let err = text(&out.stderr);
        assert!(matches!(out.status.code(), Some(0) | Some(141)), "{args:?}: {:?} {err}", out.status);
        assert!(!err.contains("internal error") && !err.contains("panicked"), "{args:?}: {err}");
    }
}

/// Issue 14: keys rotate (old tokens read while the old key is listed),
/// and tokens of the previous scheme are refused with the way out.
#[test]
fn keys_rotate_and_old_tokens_are_refused() {
    let dir = scratch("rotate");
    let hex = |k: [u8; 32]| k.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let old = keys_file(&dir, "crm", [1; 32]);
    let both = write(&dir, "both.json", serde_json::json!({"crm": [hex([2; 32]), hex([1; 32])]}).to_string());
    let new = keys_file(&dir, "crm", [2; 32]);
    let tokenize = |keys: &str| {
        let args = ["mask", "--detectors", "pii.email", "--method", "tokenize(key: \"crm\")", "--keys", keys];
        text(&ward_stdin(&args, "dana@acme.example\n").stdout).trim().to_string()
    };
    let (t_old, t_new) = (tokenize(&old), tokenize(&both));
    assert_eq!(t_new, tokenize(&new), "the current key is the first of the list");
    assert_ne!(t_old, t_new);
    let back = ward(&["detokenize", "--key", "crm", "--keys", &both, &format!("{t_old} {t_new}")]);
    assert!(back.status.success(), "{}", text(&back.stderr));
    assert_eq!(text(&back.stdout), "dana@acme.example dana@acme.example\n");
    let gone = ward(&["detokenize", "--key", "crm", "--keys", &new, &t_old]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(text(&gone.stderr).contains("a previous key in the keys file"), "{}", text(&gone.stderr));
    // A token of the previous scheme (`tok_`, AES-GCM under an HMAC nonce).
    let legacy = ward(&["detokenize", "--key", "crm", "--keys", &new, "mail tok_q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83v"]);
    assert_eq!(legacy.status.code(), Some(1));
    let err = text(&legacy.stderr);
    assert!(err.contains("previous tokenization") && err.contains("mask the values again"), "{err}");
}
