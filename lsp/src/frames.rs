//! What stands between stdin/stdout and tower-lsp-server: LSP framing read
//! by Ward, so that bad input is answered instead of ending the session.
//!
//! tower-lsp-server reads its input through a `FramedRead`, which ends the
//! stream at the first message it cannot decode: random bytes, a body that
//! is not JSON, or JSON that is not JSON-RPC made `ward lsp` stop reading
//! and exit 0 without a word. Here every frame is read and checked first
//! ([`Deframer`], [`check`]); a good one is passed to the server unchanged,
//! a bad one is answered as JSON-RPC says (`-32700` parse error or `-32600`
//! invalid request, `id` null unless the message had a readable one) and
//! logged to the client (`window/logMessage`) and to stderr, and the
//! session goes on. The server's output and these answers are written to
//! stdout whole frame by whole frame.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// The longest header block read before it is called garbage.
pub const MAX_HEADER: usize = 8 * 1024;
/// The largest message body kept: larger ones are skipped and refused.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

const CONTENT_LENGTH: &[u8] = b"Content-Length";

/// What the input held next.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A message body, framed by a valid header.
    Frame(Vec<u8>),
    /// The start of bytes that are not an LSP frame (skipped up to the next
    /// `Content-Length` header): reported once per run of them.
    Garbage,
    /// A header declaring a body larger than [`MAX_BODY`] (skipped).
    TooLarge(usize),
}

/// Splits an input stream into LSP frames, resynchronising after garbage
/// at the next `Content-Length` (as tower-lsp-server's codec does).
#[derive(Default)]
pub struct Deframer {
    buf: Vec<u8>,
    /// The body length of the frame being read, once its header is complete.
    body: Option<usize>,
    /// Bytes of an oversized body still to skip.
    skip: usize,
    /// Inside a run of garbage (already reported).
    in_garbage: bool,
}

impl Deframer {
    /// Adds input and returns what it completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut bytes = bytes;
        if self.skip > 0 {
            let n = self.skip.min(bytes.len());
            self.skip -= n;
            bytes = bytes.get(n..).unwrap_or_default();
        }
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(event) = self.next_event() {
            out.push(event);
        }
        out
    }

    fn next_event(&mut self) -> Option<Event> {
        if self.skip > 0 {
            return None;
        }
        if let Some(len) = self.body {
            if self.buf.len() < len {
                return None;
            }
            let rest = self.buf.split_off(len);
            let body = std::mem::replace(&mut self.buf, rest);
            self.body = None;
            return Some(Event::Frame(body));
        }
        if self.buf.is_empty() {
            return None;
        }
        // A header block must start with a header name we know.
        let known = |b: &[u8]| {
            [CONTENT_LENGTH, b"Content-Type".as_slice()].iter().any(|name| {
                let n = name.len().min(b.len());
                b.get(..n) == name.get(..n)
            })
        };
        if !known(&self.buf) {
            return self.garbage();
        }
        let Some(end) = find(&self.buf, b"\r\n\r\n") else {
            if self.buf.len() > MAX_HEADER {
                return self.garbage();
            }
            return None;
        };
        match content_length(self.buf.get(..end).unwrap_or_default()) {
            Some(len) => {
                self.in_garbage = false;
                self.buf.drain(..end + 4);
                if len > MAX_BODY {
                    let n = len.min(self.buf.len());
                    self.buf.drain(..n);
                    self.skip = len - n;
                    return Some(Event::TooLarge(len));
                }
                self.body = Some(len);
                self.next_event()
            }
            None => self.garbage(),
        }
    }

    /// Drops bytes up to the next `Content-Length` (after the first byte);
    /// reports a run of garbage once (a valid header ends the run).
    fn garbage(&mut self) -> Option<Event> {
        let report = !self.in_garbage;
        self.in_garbage = true;
        let next = self.buf.get(1..).and_then(|b| find(b, CONTENT_LENGTH)).map(|i| i + 1);
        match next {
            Some(i) => {
                self.buf.drain(..i);
            }
            None => {
                // Keep what could be the start of a `Content-Length` still arriving.
                let cut = self.buf.len().saturating_sub(CONTENT_LENGTH.len() - 1);
                self.buf.drain(..cut);
            }
        }
        if report {
            Some(Event::Garbage)
        } else if next.is_some() {
            self.next_event()
        } else {
            None
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The `Content-Length` of a header block, if every line is a header and
/// that one is present and a number.
fn content_length(block: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(block).ok()?;
    let mut length = None;
    for line in text.split("\r\n") {
        let (name, value) = line.split_once(':')?;
        match name {
            "Content-Length" => length = Some(value.trim().parse::<usize>().ok()?),
            "Content-Type" => {}
            _ => return None,
        }
    }
    length
}

/// Why a well-framed body is not a message, with the JSON-RPC error code.
pub fn check(body: &[u8]) -> Result<(), (i64, String, serde_json::Value)> {
    let value: serde_json::Value = match std::str::from_utf8(body)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(t).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => return Err((-32700, format!("the message is not JSON: {e}"), serde_json::Value::Null)),
    };
    // Exactly what the server reads: a JSON-RPC request, notification or response.
    let request = serde_json::from_value::<tower_lsp_server::jsonrpc::Request>(value.clone());
    let response = serde_json::from_value::<tower_lsp_server::jsonrpc::Response>(value.clone());
    if request.is_ok() || response.is_ok() {
        return Ok(());
    }
    let id = match value.get("id") {
        Some(id @ (serde_json::Value::Number(_) | serde_json::Value::String(_))) => id.clone(),
        _ => serde_json::Value::Null,
    };
    Err((-32600, "the message is JSON but not a JSON-RPC 2.0 request, notification or response".to_string(), id))
}

/// A frame of `message`.
fn frame(message: &serde_json::Value) -> Vec<u8> {
    let body = message.to_string();
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// The answer to bad input: the error response and the log line for the client.
fn answer(code: i64, message: &str, id: serde_json::Value) -> [Vec<u8>; 2] {
    eprintln!("ward lsp: {message}");
    let error = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message },
    });
    let log = serde_json::json!({
        "jsonrpc": "2.0",
        "method": "window/logMessage",
        "params": { "type": 1, "message": format!("ward lsp: ignored bad input: {message}") },
    });
    [frame(&error), frame(&log)]
}

/// Reads `input`, passes good frames to `server_in` unchanged and answers
/// bad input on `out`. Returns at the end of `input` (closing `server_in`).
pub async fn read_input<I, S>(mut input: I, mut server_in: S, out: mpsc::UnboundedSender<Vec<u8>>)
where
    I: AsyncRead + Unpin,
    S: AsyncWrite + Unpin,
{
    let mut deframer = Deframer::default();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for event in deframer.push(chunk.get(..n).unwrap_or_default()) {
            let bad = match event {
                Event::Frame(body) => match check(&body) {
                    Ok(()) => {
                        let mut framed = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
                        framed.extend_from_slice(&body);
                        if server_in.write_all(&framed).await.is_err() || server_in.flush().await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Err(bad) => bad,
                },
                Event::Garbage => (
                    -32700,
                    "bytes that are not an LSP message (expected a `Content-Length` header); skipped to the next \
                     header"
                        .to_string(),
                    serde_json::Value::Null,
                ),
                Event::TooLarge(len) => (
                    -32600,
                    format!("a message of {len} bytes is larger than the limit of {MAX_BODY}; skipped"),
                    serde_json::Value::Null,
                ),
            };
            let (code, message, id) = bad;
            for f in answer(code, &message, id) {
                if out.send(f).is_err() {
                    return;
                }
            }
        }
    }
    let _ = server_in.shutdown().await;
}

/// Splits the server's output into whole frames for `out` (so that they
/// never interleave with the answers to bad input).
pub async fn read_output<R>(mut server_out: R, out: mpsc::UnboundedSender<Vec<u8>>)
where
    R: AsyncRead + Unpin,
{
    let mut deframer = Deframer::default();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match server_out.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for event in deframer.push(chunk.get(..n).unwrap_or_default()) {
            if let Event::Frame(body) = event {
                let mut framed = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
                framed.extend_from_slice(&body);
                if out.send(framed).is_err() {
                    return;
                }
            }
        }
    }
}

/// Writes frames to `output` until every sender is gone.
pub async fn write_output<O>(mut output: O, mut frames: mpsc::UnboundedReceiver<Vec<u8>>)
where
    O: AsyncWrite + Unpin,
{
    while let Some(f) = frames.recv().await {
        if output.write_all(&f).await.is_err() || output.flush().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn framed(body: &str) -> Vec<u8> {
        format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    #[test]
    fn frames_split_across_reads_and_garbage_resynchronises() {
        let mut d = Deframer::default();
        let mut input = b"\x00\xffjunk\r\n\r\n{".to_vec();
        input.extend(framed(r#"{"a":1}"#));
        input.extend(b"more junk Content-Lengt");
        input.extend(b"h: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}");
        let mut events = Vec::new();
        for byte in &input {
            events.extend(d.push(std::slice::from_ref(byte)));
        }
        assert_eq!(
            events,
            [Event::Garbage, Event::Frame(br#"{"a":1}"#.to_vec()), Event::Garbage, Event::Frame(b"{}".to_vec())]
        );
    }

    #[test]
    fn oversized_bodies_are_skipped_without_being_kept() {
        let mut d = Deframer::default();
        let huge = MAX_BODY + 10;
        let events = d.push(format!("Content-Length: {huge}\r\n\r\nxx").as_bytes());
        assert_eq!(events, [Event::TooLarge(huge)]);
        assert!(d.push(&vec![b'x'; MAX_BODY]).is_empty());
        assert!(d.buf.is_empty());
        let mut rest = vec![b'x'; 8];
        rest.extend(framed("{}"));
        assert_eq!(d.push(&rest), [Event::Frame(b"{}".to_vec())]);
    }

    #[test]
    fn checks_what_the_server_would_read() {
        assert!(check(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#).is_ok());
        assert!(check(br#"{"jsonrpc":"2.0","method":"initialized"}"#).is_ok());
        assert!(check(br#"{"jsonrpc":"2.0","id":3,"result":null}"#).is_ok());
        assert_eq!(check(b"not json").unwrap_err().0, -32700);
        assert_eq!(check(b"\xff").unwrap_err().0, -32700);
        assert_eq!(check(br#"{"hello":1}"#).unwrap_err().0, -32600);
        let (code, _, id) = check(br#"{"id":7,"method":3}"#).unwrap_err();
        assert_eq!((code, id), (-32600, serde_json::json!(7)));
        assert_eq!(check(b"[]").unwrap_err().0, -32600);
    }
}
