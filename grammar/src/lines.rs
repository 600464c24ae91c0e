//! Byte offsets (every [`Span`](crate::Span) is one) and the lines and
//! columns people and editors count: 1-based lines and character columns
//! for diagnostics, 0-based lines and UTF-16 columns for the LSP.
//!
//! The one place Ward maps between them; the CLI's JSON diagnostics, the
//! golden tests and the LSP's positions all read the same answer.

use std::ops::Range;

/// A 1-based line and a 1-based column counted in characters (Unicode
/// scalar values), as compilers print `file:line:column`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for LineCol {
    /// `line:column`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Where each line of a text starts. Offsets past the end of the text are
/// clamped to it, and an offset inside a character to that character's start.
#[derive(Debug, Clone)]
pub struct LineIndex<'t> {
    text: &'t str,
    /// The byte offset of each line's first character; `starts[0] == 0`.
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str) -> LineIndex<'t> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    pub fn text(&self) -> &'t str {
        self.text
    }

    /// `offset` clamped to the text and moved back to a character boundary.
    fn floor(&self, offset: u32) -> usize {
        let mut offset = (offset as usize).min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }

    /// The 0-based line holding the (floored) `offset`, and where it starts.
    fn line_start(&self, offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|s| *s <= offset).saturating_sub(1);
        (line, self.starts.get(line).copied().unwrap_or(0))
    }

    /// The 1-based line and character column of a byte offset.
    pub fn line_col(&self, offset: u32) -> LineCol {
        let offset = self.floor(offset);
        let (line, start) = self.line_start(offset);
        let column = self.text.get(start..offset).map_or(0, |t| t.chars().count());
        LineCol { line: line + 1, column: column + 1 }
    }

    /// The byte range of the line holding `offset`, without its `\n`.
    pub fn line_range(&self, offset: u32) -> Range<usize> {
        let (line, start) = self.line_start(self.floor(offset));
        let end = self.starts.get(line + 1).map_or(self.text.len(), |next| next - 1);
        start..end
    }

    /// The 0-based line and 0-based UTF-16 column of a byte offset: an LSP
    /// `Position`.
    pub fn utf16_position(&self, offset: u32) -> (u32, u32) {
        let offset = self.floor(offset);
        let (line, start) = self.line_start(offset);
        let column: usize = self.text.get(start..offset).map_or(0, |t| t.chars().map(char::len_utf16).sum());
        (u32::try_from(line).unwrap_or(u32::MAX), u32::try_from(column).unwrap_or(u32::MAX))
    }

    /// The byte offset of a 0-based line and UTF-16 column (an LSP
    /// `Position`), clamped to the end of its line; a line past the last one
    /// is the end of the text.
    pub fn utf16_offset(&self, line: u32, character: u32) -> u32 {
        let Some(start) = self.starts.get(line as usize).copied() else {
            return u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        };
        let end = self.starts.get(line as usize + 1).map_or(self.text.len(), |e| e.saturating_sub(1));
        let text = self.text.get(start..end).unwrap_or("");
        let mut units = 0u32;
        let mut offset = start;
        for (i, c) in text.char_indices() {
            if units >= character {
                offset = start + i;
                break;
            }
            units += u32::try_from(c.len_utf16()).unwrap_or(2);
            offset = start + i + c.len_utf8();
        }
        u32::try_from(offset).unwrap_or(u32::MAX)
    }
}

/// The 1-based line and character column of one byte offset of `text`
/// (build a [`LineIndex`] to ask about many).
pub fn line_col(text: &str, offset: u32) -> LineCol {
    LineIndex::new(text).line_col(offset)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn lines_and_character_columns_are_one_based() {
        let text = "ab\né😀x\n\nlast";
        let index = LineIndex::new(text);
        let at = |c: char| text.find(c).unwrap() as u32;
        assert_eq!(index.line_col(0), LineCol { line: 1, column: 1 });
        assert_eq!(index.line_col(2), LineCol { line: 1, column: 3 }, "the newline ends line 1");
        assert_eq!(index.line_col(3), LineCol { line: 2, column: 1 });
        assert_eq!(index.line_col(at('x')), LineCol { line: 2, column: 3 }, "é and 😀 are one character each");
        assert_eq!(index.line_col(at('x') + 2), LineCol { line: 3, column: 1 }, "an empty line");
        assert_eq!(index.line_col(at('l')), LineCol { line: 4, column: 1 });
        assert_eq!(index.line_col(text.len() as u32), LineCol { line: 4, column: 5 });
        assert_eq!(line_col(text, at('x')), index.line_col(at('x')));
        assert_eq!(index.line_col(at('x')).to_string(), "2:3");
    }

    #[test]
    fn offsets_out_of_range_or_inside_a_character_are_clamped() {
        let text = "é\nz";
        let index = LineIndex::new(text);
        assert_eq!(index.line_col(1), LineCol { line: 1, column: 1 }, "inside é: its start");
        assert_eq!(index.line_col(99), LineCol { line: 2, column: 2 });
        assert_eq!(index.utf16_position(99), (1, 1));
        assert_eq!(LineIndex::new("").line_col(5), LineCol { line: 1, column: 1 });
    }

    #[test]
    fn line_ranges_exclude_the_newline() {
        let text = "ab\n\ncd";
        let index = LineIndex::new(text);
        assert_eq!(index.line_range(1), 0..2);
        assert_eq!(index.line_range(2), 0..2);
        assert_eq!(index.line_range(3), 3..3);
        assert_eq!(index.line_range(5), 4..6);
        assert_eq!(index.line_range(6), 4..6);
    }

    #[test]
    fn positions_count_utf16_units() {
        let text = "ab\né😀x\n";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap() as u32;
        assert_eq!(index.utf16_position(x), (1, 3));
        assert_eq!(index.utf16_offset(1, 3), x);
        assert_eq!(index.utf16_offset(0, 99), 2, "clamped to the end of its line");
        assert_eq!(index.utf16_offset(2, 0), text.len() as u32);
        assert_eq!(index.utf16_offset(9, 0), text.len() as u32, "past the last line");
        assert_eq!(index.utf16_position(text.len() as u32), (2, 0));
        for offset in 0..=text.len() as u32 {
            if text.is_char_boundary(offset as usize) {
                let (line, character) = index.utf16_position(offset);
                assert_eq!(index.utf16_offset(line, character), offset, "round trip at {offset}");
            }
        }
    }
}
