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
    assert!(masked["email"].as_str().unwrap().starts_with("tok_"), "{masked}");
    assert_eq!(masked["card_number"], "****1111");
    assert_eq!(masked["ssn"], "[REDACTED]");
    assert_eq!(masked["name"], "Maria Anders");
    // Free text: emails tokenized with the same key, cards cut to their last
    // four, SSNs and secrets redacted; an order number failing Luhn kept.
    let notes = masked["notes"].as_str().unwrap();
    assert!(notes.contains("card ****0004."), "{notes}");
    assert!(notes.contains("Backup contact: tok_"), "{notes}");
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

    // Another key with the same name: the tokens stay tokens.
    let wrong = keys_file(&dir, "crm", [2; 32]);
    let nope = ward(&["detokenize", "--key", "crm", "--keys", &wrong, masked.trim_end()]);
    assert!(nope.status.success());
    assert!(!text(&nope.stdout).contains("@"), "{}", text(&nope.stdout));
    assert_eq!(text(&nope.stdout).trim_end(), masked.trim_end());
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
    assert!(masked.ends_with("real: ****1111.\n"), "{}", &masked[masked.len() - 60..]);
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
