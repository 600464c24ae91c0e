//! Streams for the commands that read and write data (`ward mask`,
//! `ward detokenize`, `ward eval`): buffered output that notices a closed
//! pipe, and bounded lines.
//!
//! A reader that goes away (`ward mask … | head`) is no error: the command
//! stops reading and exits with 141, as a process killed by SIGPIPE does
//! (Rust ignores the signal, so every write must check instead; `main`
//! keeps a net for any other command).

use std::io::{BufRead, BufReader, BufWriter, ErrorKind, Read, StdoutLock, Write};
use std::path::Path;
use std::process::ExitCode;

/// The exit status when stdout was closed under us.
pub const CLOSED_PIPE: u8 = 141;

/// Stdout went away (a closed pipe) or failed.
#[derive(Debug)]
pub enum OutError {
    Closed,
    Failed(String),
}

impl OutError {
    /// The exit status: 141 for a closed pipe (nothing to report), 1
    /// otherwise (reported on stderr).
    pub fn exit(&self) -> ExitCode {
        match self {
            OutError::Closed => ExitCode::from(CLOSED_PIPE),
            OutError::Failed(e) => {
                eprintln!("error: cannot write the output: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

fn classify(e: std::io::Error) -> OutError {
    if e.kind() == ErrorKind::BrokenPipe { OutError::Closed } else { OutError::Failed(e.to_string()) }
}

/// Buffered stdout.
pub struct Out {
    w: BufWriter<StdoutLock<'static>>,
}

impl Out {
    pub fn new() -> Out {
        Out { w: BufWriter::with_capacity(64 * 1024, std::io::stdout().lock()) }
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), OutError> {
        self.w.write_all(bytes).map_err(classify)
    }

    pub fn line(&mut self, text: &str) -> Result<(), OutError> {
        self.write(text.as_bytes())?;
        self.write(b"\n")
    }

    pub fn flush(&mut self) -> Result<(), OutError> {
        self.w.flush().map_err(classify)
    }
}

/// A buffered input.
pub type Input = BufReader<Box<dyn Read>>;

/// An input: a file, or stdin for `-`.
pub fn open(path: &Path) -> Result<Input, String> {
    let inner: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(path).map_err(|e| crate::files::describe(&e))?)
    };
    Ok(BufReader::with_capacity(256 * 1024, inner))
}

/// One line read by [`read_line`].
pub enum Line {
    /// A line (without its `\n` or `\r\n`).
    Text(String),
    /// A line longer than the limit: skipped without being held in memory.
    TooLong(usize),
    /// A line that is not UTF-8.
    NotUtf8,
    Eof,
}

/// Reads one line of at most `max` bytes into `buf` (reused). A longer
/// line is read to its end and dropped, holding at most `max` bytes.
pub fn read_line(r: &mut Input, buf: &mut Vec<u8>, max: usize) -> std::io::Result<Line> {
    buf.clear();
    let mut total = 0usize;
    let mut too_long = false;
    loop {
        let available = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            if total == 0 {
                return Ok(Line::Eof);
            }
            break;
        }
        let (chunk, done) = match available.iter().position(|c| *c == b'\n') {
            Some(i) => (available.get(..=i).unwrap_or(available), true),
            None => (available, false),
        };
        let n = chunk.len();
        total += n;
        if !too_long {
            if buf.len() + n > max.saturating_add(2) {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        r.consume(n);
        if done {
            break;
        }
    }
    if too_long {
        return Ok(Line::TooLong(total));
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    if buf.len() > max {
        return Ok(Line::TooLong(total));
    }
    match String::from_utf8(std::mem::take(buf)) {
        Ok(s) => Ok(Line::Text(s)),
        Err(_) => Ok(Line::NotUtf8),
    }
}

/// Appends at most `max` bytes of `r` to `buf`; whether that was all of it.
pub fn read_bounded(r: &mut Input, buf: &mut Vec<u8>, max: usize) -> std::io::Result<bool> {
    let before = buf.len();
    r.by_ref().take(max as u64 + 1).read_to_end(buf)?;
    Ok(buf.len() - before <= max)
}

/// Whether the next read of `r` would have to wait for the OS (what was
/// read is all used): the moment to flush what was written so far, so
/// that a reader of a live stream is not kept waiting by the buffer.
pub fn drained(r: &Input) -> bool {
    r.buffer().is_empty()
}

/// Reads one line, its `\n` included, into `buf` (cleared): at most `max`
/// bytes. Whether the whole line fit (an empty `buf` is the end of input).
pub fn read_bounded_line(r: &mut Input, buf: &mut Vec<u8>, max: usize) -> std::io::Result<bool> {
    buf.clear();
    loop {
        let available = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(true);
        }
        let (chunk, done) = match available.iter().position(|c| *c == b'\n') {
            Some(i) => (available.get(..=i).unwrap_or(available), true),
            None => (available, false),
        };
        let room = max.saturating_sub(buf.len());
        if chunk.len() > room {
            let n = room;
            buf.extend_from_slice(chunk.get(..n).unwrap_or(chunk));
            r.consume(n);
            return Ok(false);
        }
        let n = chunk.len();
        buf.extend_from_slice(chunk);
        r.consume(n);
        if done {
            return Ok(true);
        }
    }
}
