//! Between byte offsets (the compiler's) and LSP positions (lines and
//! UTF-16 columns), between URIs and file paths, and from the compiler's
//! values to the protocol's.

use std::path::PathBuf;

use tower_lsp_server::ls_types::{Position, Range, TextDocumentContentChangeEvent, Uri};
use ward_compiler::Span;

/// Where each line of a text starts.
pub struct LineIndex<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str) -> LineIndex<'t> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// The position of a byte offset (clamped to the text).
    pub fn position(&self, offset: u32) -> Position {
        let mut offset = (offset as usize).min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|s| *s <= offset).saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let column: usize = self.text.get(start..offset).map_or(0, |t| t.chars().map(char::len_utf16).sum());
        Position { line: u32::try_from(line).unwrap_or(u32::MAX), character: u32::try_from(column).unwrap_or(u32::MAX) }
    }

    /// The byte offset of a position (clamped to its line and to the text).
    pub fn offset(&self, position: Position) -> u32 {
        let Some(start) = self.starts.get(position.line as usize).copied() else {
            return u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        };
        let end = self.starts.get(position.line as usize + 1).map_or(self.text.len(), |e| e.saturating_sub(1));
        let line = self.text.get(start..end).unwrap_or("");
        let mut units = 0u32;
        let mut offset = start;
        for (i, c) in line.char_indices() {
            if units >= position.character {
                offset = start + i;
                break;
            }
            units += u32::try_from(c.len_utf16()).unwrap_or(2);
            offset = start + i + c.len_utf8();
        }
        if line.is_empty() {
            offset = start;
        }
        u32::try_from(offset).unwrap_or(u32::MAX)
    }

    pub fn range(&self, span: Span) -> Range {
        Range { start: self.position(span.start), end: self.position(span.end) }
    }

    pub fn span(&self, range: Range) -> Span {
        let start = self.offset(range.start);
        let end = self.offset(range.end).max(start);
        Span { start, end }
    }
}

/// The file a URI names, read as `url::Url::to_file_path` reads it: a path
/// from the root, on no host or `localhost`. `Uri::to_file_path` alone would
/// also take the path of `untitled:Untitled-1` or of `https://host/x`.
pub(crate) fn file_path(uri: &Uri) -> Option<PathBuf> {
    let host = uri.authority().map_or("", |a| a.host());
    if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) || !uri.path().as_str().starts_with('/') {
        return None;
    }
    uri.to_file_path().map(std::borrow::Cow::into_owned)
}

/// A document's identity: its URI, a file's path escaped one way, so that
/// clients that escape differently (`a+b@c.ward` or `a%2Bb%40c.ward`,
/// `file://localhost/`) name one document, not two.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct DocKey(Uri);

impl DocKey {
    pub(crate) fn of(uri: &Uri) -> DocKey {
        DocKey(file_path(uri).and_then(Uri::from_file_path).unwrap_or_else(|| uri.clone()))
    }
}

/// Applies the changes of a `didChange` (full or incremental) to `text`.
pub fn apply_changes(text: &str, changes: &[TextDocumentContentChangeEvent]) -> String {
    let mut text = text.to_string();
    for change in changes {
        match change.range {
            None => text = change.text.clone(),
            Some(range) => {
                let span = LineIndex::new(&text).span(range);
                if text.is_char_boundary(span.start as usize) && text.is_char_boundary(span.end as usize) {
                    text.replace_range(span.range(), &change.text);
                }
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn positions_count_utf16_units() {
        let text = "ab\né😀x\n";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap() as u32;
        assert_eq!(index.position(x), Position { line: 1, character: 3 });
        assert_eq!(index.offset(Position { line: 1, character: 3 }), x);
        assert_eq!(index.offset(Position { line: 0, character: 99 }), 2);
        assert_eq!(index.offset(Position { line: 9, character: 0 }), text.len() as u32);
        assert_eq!(index.position(text.len() as u32), Position { line: 2, character: 0 });
    }

    #[test]
    fn file_paths_of_uris() {
        let path = |u: &str| file_path(&u.parse().unwrap());
        assert_eq!(path("file:///tmp/a%20b.ward"), Some(PathBuf::from("/tmp/a b.ward")));
        assert_eq!(path("file://localhost/tmp/a.ward"), Some(PathBuf::from("/tmp/a.ward")));
        assert_eq!(path("file://server/tmp/a.ward"), None);
        assert_eq!(path("untitled:Untitled-1"), None);
        assert_eq!(path("https://example.com/a.ward"), None);
    }

    #[test]
    fn one_file_is_one_document_however_escaped() {
        let key = |u: &str| DocKey::of(&u.parse().unwrap());
        let plain = key("file:///tmp/a+b@c.ward");
        assert_eq!(key("file:///tmp/a%2Bb%40c.ward"), plain);
        assert_eq!(key("file:///tmp/a%2bb%40c.ward"), plain);
        assert_eq!(key("file://localhost/tmp/a+b@c.ward"), plain);
        assert_ne!(key("file:///tmp/a+b.ward"), plain);
        assert_eq!(key("untitled:Untitled-1"), key("untitled:Untitled-1"));
        assert_ne!(key("untitled:Untitled-1"), key("untitled:Untitled-2"));
    }

    #[test]
    fn incremental_changes_apply_in_order() {
        let change = |l1, c1, l2, c2, t: &str| TextDocumentContentChangeEvent {
            range: Some(Range { start: Position::new(l1, c1), end: Position::new(l2, c2) }),
            range_length: None,
            text: t.to_string(),
        };
        let text = apply_changes("policy p {\n}\n", &[change(0, 7, 0, 8, "q"), change(1, 0, 1, 0, "  permit\n")]);
        assert_eq!(text, "policy q {\n  permit\n}\n");
    }
}
