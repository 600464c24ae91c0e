//! The parser: recursive descent over logos tokens, following `ward.pest`.
//!
//! Design (see ARCHITECTURE.md, "Grammar strategy"): the pest grammar is the
//! specification; this parser accepts the same language and adds what pest
//! cannot give us cheaply — spans on every node, recovery at the next item so
//! one broken rule does not hide the others, and messages that say what was
//! expected. Each item parser returns `Err(Fail)` after recording exactly one
//! error; the enclosing block then skips to the next item it recognises.

use crate::Span;
use crate::ast::*;
use crate::lexer::{Token, TokenKind, lex};

/// How deeply expressions and types may nest. Deeper input gets a diagnostic
/// (E0006) instead of exhausting the stack. Brackets, prefix operators and
/// the operators of a chain (`a || b || c`, `x.a.b`) each nest one level:
/// no syntax tree is much deeper than this, so that whatever walks one
/// recursively stays within bounds too.
pub const MAX_NESTING: u32 = 2_000;

/// Before each nesting level the parser makes sure this much stack is left,
/// moving onto a fresh heap-allocated segment otherwise: unoptimised builds
/// use well over 10 KiB of stack per level, and [`parse`] must not overflow
/// even on a 2 MiB thread stack.
const STACK_RED_ZONE: usize = 256 * 1024;
const STACK_SEGMENT: usize = 4 * 1024 * 1024;

/// A syntax error: what was wrong, where, and (when we know) how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// A stable code such as `E0001`.
    pub code: &'static str,
    pub message: String,
    pub span: Span,
    /// The label under the primary span.
    pub label: String,
    /// Secondary spans with their labels (for instance the unclosed `{`).
    pub related: Vec<(Span, String)>,
    pub help: Option<String>,
}

/// The result of parsing: a tree (always) and the errors met on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Parse {
    pub file: SourceFile,
    pub errors: Vec<SyntaxError>,
}

/// Parses a whole file. Never fails and never panics.
pub fn parse(source: &str) -> Parse {
    let all = lex(source);
    let mut tokens = Vec::with_capacity(all.len() + 1);
    let mut comments = Vec::new();
    let mut docs = Vec::new();
    for tok in all {
        match tok.kind {
            TokenKind::Comment => comments.push(tok),
            TokenKind::DocComment => {
                comments.push(tok);
                docs.push(tok);
            }
            _ => tokens.push(tok),
        }
    }
    let end = Span::new(source.len(), source.len());
    tokens.push(Token { kind: TokenKind::Eof, span: end });
    let mut p = Parser { src: source, tokens, docs, pos: 0, errors: Vec::new(), depth: 0, reach: 0 };
    let items = p.items();
    let comments =
        comments.into_iter().map(|t| Comment { text: p.text(t.span).trim_end().to_string(), span: t.span }).collect();
    Parse { file: SourceFile { items, comments, span: Span::new(0, source.len()) }, errors: p.errors }
}

/// Marks that an error has been recorded and the caller should recover.
#[derive(Debug)]
struct Fail;

type PResult<T> = Result<T, Fail>;

struct Parser<'s> {
    src: &'s str,
    /// Non-comment tokens, ending with `Eof`.
    tokens: Vec<Token>,
    /// `///` comments, in order, for attaching to declarations.
    docs: Vec<Token>,
    pos: usize,
    errors: Vec<SyntaxError>,
    /// Current nesting level, counted against [`MAX_NESTING`].
    depth: u32,
    /// The deepest level reached since the innermost operator chain started
    /// (see [`Parser::chain_start`]).
    reach: u32,
}

/// Where block-level recovery stopped.
#[derive(PartialEq, Eq)]
enum Stop {
    /// At a token that can start the next member of the block.
    Member,
    /// At the block's closing `}`.
    Close,
    /// At a top-level item (the block was never closed) or the end of input.
    Outer,
}

fn is_top_start(kind: TokenKind) -> bool {
    use TokenKind::*;
    matches!(kind, Import | Schema | Agent | Policy | Detector | Fixture | Test | At)
}

fn is_schema_member_start(kind: TokenKind) -> bool {
    use TokenKind::*;
    matches!(kind, Entity | Enum | Type | Action | Context | At)
}

fn is_policy_member_start(kind: TokenKind) -> bool {
    use TokenKind::*;
    matches!(kind, Permit | Forbid | Mask | Limit | At)
}

impl<'s> Parser<'s> {
    // ───────────────────────── token helpers ─────────────────────────

    fn tok(&self) -> Token {
        self.nth(0)
    }

    fn nth(&self, n: usize) -> Token {
        let last = self.tokens.len().saturating_sub(1);
        self.tokens
            .get((self.pos + n).min(last))
            .copied()
            .unwrap_or(Token { kind: TokenKind::Eof, span: Span::new(self.src.len(), self.src.len()) })
    }

    fn peek(&self) -> TokenKind {
        self.tok().kind
    }

    fn text(&self, span: Span) -> &'s str {
        self.src.get(span.range()).unwrap_or("")
    }

    fn at(&self, kind: TokenKind) -> bool {
        self.peek() == kind
    }

    /// True at the contextual keyword `word` (an identifier spelled so).
    fn at_word(&self, word: &str) -> bool {
        self.nth_is_word(0, word)
    }

    fn nth_is_word(&self, n: usize, word: &str) -> bool {
        let t = self.nth(n);
        t.kind == TokenKind::Ident && self.text(t.span) == word
    }

    fn bump(&mut self) -> Token {
        let t = self.tok();
        if t.kind != TokenKind::Eof {
            self.pos += 1;
        }
        t
    }

    fn eat(&mut self, kind: TokenKind) -> Option<Token> {
        if self.at(kind) { Some(self.bump()) } else { None }
    }

    fn eat_word(&mut self, word: &str) -> Option<Token> {
        if self.at_word(word) { Some(self.bump()) } else { None }
    }

    /// The end of the last consumed token: where the node being built ends.
    fn prev_end(&self) -> u32 {
        match self.pos.checked_sub(1).and_then(|i| self.tokens.get(i)) {
            Some(t) => t.span.end,
            None => 0,
        }
    }

    fn span_from(&self, start: Span) -> Span {
        Span { start: start.start, end: self.prev_end().max(start.start) }
    }

    fn expect(&mut self, kind: TokenKind, what: &str) -> PResult<Token> {
        match self.eat(kind) {
            Some(t) => Ok(t),
            None => self.fail_expected(what),
        }
    }

    fn expect_word(&mut self, word: &str) -> PResult<Token> {
        match self.eat_word(word) {
            Some(t) => Ok(t),
            None => self.fail_expected(&format!("`{word}`")),
        }
    }

    // ───────────────────────── errors ─────────────────────────

    fn found(&self) -> String {
        let t = self.tok();
        match t.kind {
            TokenKind::Ident => format!("`{}`", self.text(t.span)),
            TokenKind::Eof => "the end of the file".to_string(),
            k if k.is_reserved() => format!("the keyword `{}`", self.text(t.span)),
            TokenKind::Error => format!("`{}`", truncate(self.text(t.span), 20)),
            k => k.describe().to_string(),
        }
    }

    fn error(&mut self, code: &'static str, span: Span, message: String, label: &str, help: Option<String>) {
        self.errors.push(SyntaxError { code, message, span, label: label.to_string(), related: Vec::new(), help });
    }

    /// Records "expected X, found Y" at the current token, with a specific
    /// message for tokens that are errors in themselves.
    fn fail_expected<T>(&mut self, what: &str) -> PResult<T> {
        let t = self.tok();
        match t.kind {
            TokenKind::UnterminatedString => self.error(
                "E0002",
                t.span,
                "unterminated string".to_string(),
                "this string has no closing `\"` on its line",
                Some("strings cannot span lines; close it with `\"` or write `\\n`".to_string()),
            ),
            TokenKind::Error => {
                let text = self.text(t.span);
                let starts_with_digit = text.starts_with(|c: char| c.is_ascii_digit());
                let is_time =
                    text.len() > 10 && text.as_bytes().get(10) == Some(&b'T') && text.as_bytes().get(4) == Some(&b'-');
                let (message, label, help) = if is_time {
                    (
                        format!("malformed time `{}`", truncate(text, 40)),
                        "not a time",
                        Some(
                            "a time has hours, minutes and an offset: `2026-11-26T09:00:00Z`, `2026-11-26T10:00+01:00`"
                                .to_string(),
                        ),
                    )
                } else if starts_with_digit {
                    (
                        format!("malformed literal `{}`", truncate(text, 40)),
                        "a literal glued to what follows it",
                        Some("a literal ends before any letter or digit (`90d`, not `90days`), and a whole number before any `.`: a decimal has digits on both sides (`10.0`)".to_string()),
                    )
                } else {
                    let mut chars = text.chars();
                    let invisible = match (chars.next(), chars.next()) {
                        (Some(c), None) => {
                            (c.is_whitespace() || c.is_control() || matches!(c, '\u{200b}' | '\u{feff}')).then_some(c)
                        }
                        _ => None,
                    };
                    let help = match text {
                        "&" => Some("`and` is written `&&`".to_string()),
                        "|" => Some("`or` is written `||`".to_string()),
                        _ if invisible.is_some() => {
                            Some("only spaces, tabs and line breaks may separate tokens".to_string())
                        }
                        _ => None,
                    };
                    let shown = truncate(text, 20).escape_debug().to_string();
                    let message = match invisible {
                        Some(c) => format!("unexpected character U+{:04X} `{shown}`", u32::from(c)),
                        None => format!("unexpected character `{shown}`"),
                    };
                    (message, "not part of Ward's syntax", help)
                };
                self.error("E0004", t.span, message, label, help)
            }
            _ => {
                let found = self.found();
                let label = format!("expected {what}");
                self.error("E0001", t.span, format!("expected {what}, found {found}"), &label, None)
            }
        }
        Err(Fail)
    }

    // ───────────────────────── recovery ─────────────────────────

    /// True when only whitespace precedes `span` on its line.
    fn starts_line(&self, span: Span) -> bool {
        let before = self.src.get(..span.start as usize).unwrap_or("");
        let line = before.rsplit('\n').next().unwrap_or("");
        line.chars().all(|c| c == ' ' || c == '\t' || c == '\r')
    }

    fn at_line_start(&self, span: Span) -> bool {
        let start = span.start as usize;
        start == 0 || self.src.get(..start).is_some_and(|before| before.ends_with('\n'))
    }

    /// Skips from a failed member of a block to the next place to resume:
    /// a token that starts a member (at the block's own nesting level), the
    /// block's closing brace, or a top-level item starting a line.
    fn recover_in_block(&mut self, member_start: usize, is_member: fn(TokenKind) -> bool) -> Stop {
        let mut depth: i32 = 0;
        for t in self.tokens.get(member_start..self.pos).unwrap_or(&[]) {
            depth += brace_delta(t.kind);
        }
        if self.pos == member_start {
            depth += brace_delta(self.peek());
            self.bump();
        }
        loop {
            let t = self.tok();
            if t.kind == TokenKind::Eof {
                return Stop::Outer;
            }
            if (is_top_start(t.kind) && self.at_line_start(t.span) && !is_member(t.kind)) || self.assert_starts_line(t)
            {
                return Stop::Outer;
            }
            if depth <= 0 {
                if t.kind == TokenKind::RBrace {
                    return Stop::Close;
                }
                if is_member(t.kind) {
                    return Stop::Member;
                }
            }
            depth += brace_delta(t.kind);
            self.bump();
        }
    }

    /// Top-level recovery: skip to the next item keyword at nesting level 0,
    /// or to any item keyword that starts a line (braces may be unbalanced).
    fn recover_top(&mut self, item_start: usize) {
        let mut depth: i32 = 0;
        for t in self.tokens.get(item_start..self.pos).unwrap_or(&[]) {
            depth += brace_delta(t.kind);
        }
        if self.pos == item_start {
            depth += brace_delta(self.peek());
            self.bump();
        }
        loop {
            let t = self.tok();
            if t.kind == TokenKind::Eof {
                return;
            }
            if is_top_start(t.kind) && (depth <= 0 || self.at_line_start(t.span)) {
                // An `@` starting a line inside a block is a member's annotation.
                if t.kind != TokenKind::At || depth <= 0 {
                    return;
                }
            }
            if self.assert_starts_line(t) {
                return;
            }
            depth += brace_delta(t.kind);
            self.bump();
        }
    }

    // ───────────────────────── docs and annotations ─────────────────────────

    /// The `///` lines between the previous token and the current one.
    fn take_docs(&self) -> Docs {
        let from = self.prev_end();
        let to = self.tok().span.start;
        let first = self.docs.partition_point(|d| d.span.start < from);
        let lines = self
            .docs
            .get(first..)
            .unwrap_or(&[])
            .iter()
            .take_while(|d| d.span.end <= to)
            .map(|d| {
                let text = self.text(d.span);
                let body = text.strip_prefix("///").unwrap_or(text);
                body.strip_prefix(' ').unwrap_or(body).trim_end().to_string()
            })
            .collect();
        Docs { lines }
    }

    fn annotations(&mut self) -> PResult<Vec<Annotation>> {
        let mut out = Vec::new();
        while let Some(at) = self.eat(TokenKind::At) {
            let name = self.any_word("an annotation name after `@`")?;
            let mut arg = None;
            if self.eat(TokenKind::LParen).is_some() {
                arg = Some(match self.peek() {
                    TokenKind::String | TokenKind::Integer => AnnotationArg::Lit(self.literal()?),
                    k if k.is_word() => AnnotationArg::Word(self.any_word("an annotation argument")?),
                    _ => return self.fail_expected("a string, an integer or a word"),
                });
                self.expect(TokenKind::RParen, "`)`")?;
            }
            out.push(Annotation { name, arg, span: self.span_from(at.span) });
        }
        Ok(out)
    }

    fn no_annotations(&mut self, annotations: &[Annotation], what: &str) -> PResult<()> {
        if let (Some(first), Some(last)) = (annotations.first(), annotations.last()) {
            self.error(
                "E0009",
                first.span.to(last.span),
                format!("annotations cannot be attached to {what}"),
                "remove this annotation",
                None,
            );
            return Err(Fail);
        }
        Ok(())
    }

    // ───────────────────────── names ─────────────────────────

    fn ident(&mut self, what: &str) -> PResult<Ident> {
        let t = self.tok();
        if t.kind == TokenKind::Ident {
            self.bump();
            return Ok(Ident { name: self.text(t.span).to_string(), span: t.span });
        }
        // A declaration keyword starting a line begins the next declaration:
        // the name is missing, rather than spelled as a reserved word.
        let next_declaration = self.starts_line(t.span)
            && (is_top_start(t.kind) || is_schema_member_start(t.kind) || is_policy_member_start(t.kind));
        if t.kind.is_reserved() && !next_declaration {
            let word = self.text(t.span);
            self.error(
                "E0008",
                t.span,
                format!("expected {what}, found the reserved word `{word}`"),
                "reserved words cannot be used as names",
                Some(format!("choose another name, such as `{word}_`")),
            );
            // Recovery resumes after the word: it is a name here, not the
            // keyword starting the next item.
            self.bump();
            return Err(Fail);
        }
        self.fail_expected(what)
    }

    /// Any word, keywords included: attribute names after `.`, record keys.
    fn any_word(&mut self, what: &str) -> PResult<Ident> {
        let t = self.tok();
        if t.kind.is_word() {
            self.bump();
            return Ok(Ident { name: self.text(t.span).to_string(), span: t.span });
        }
        self.fail_expected(what)
    }

    fn path(&mut self, what: &str) -> PResult<Path> {
        let first = self.ident(what)?;
        let start = first.span;
        let mut segments = vec![first];
        while self.at(TokenKind::Dot) && self.nth(1).kind.is_word() {
            self.bump();
            segments.push(self.any_word("a name after `.`")?);
        }
        Ok(Path { segments, span: self.span_from(start) })
    }

    /// An action's name where one is declared: an identifier, or a string
    /// for a name that is not one (`"view document"`, as Cedar allows). A
    /// string name is kept as a one-segment path whose text is the string's
    /// value; the formatter writes it back as a string.
    fn action_name(&mut self, what: &str) -> PResult<Ident> {
        if !self.at(TokenKind::String) {
            return self.ident(what);
        }
        let lit = self.literal_of(TokenKind::String, what)?;
        let name = lit.string_value().unwrap_or_default().to_string();
        if name.is_empty() {
            self.error("E0001", lit.span, "an action's name is empty".to_string(), "empty name", None);
            return Err(Fail);
        }
        Ok(Ident { name, span: lit.span })
    }

    /// A reference to an action: a path, or a string naming it.
    fn action_ref(&mut self, what: &str) -> PResult<Path> {
        if !self.at(TokenKind::String) {
            return self.qpath(what);
        }
        let name = self.action_name(what)?;
        Ok(Path { span: name.span, segments: vec![name] })
    }

    /// `a`, `"a b"` or `[a, "b c", …]`: actions.
    fn action_list(&mut self, what: &str) -> PResult<NameList> {
        let start = self.tok().span;
        if self.eat(TokenKind::LBracket).is_none() {
            let path = self.action_ref(what)?;
            return Ok(NameList { span: path.span, names: vec![path], bracketed: false });
        }
        let names = self.delimited(start, TokenKind::RBracket, |p| p.action_ref(what))?;
        Ok(NameList { names, bracketed: true, span: self.span_from(start) })
    }

    fn name_list(&mut self, what: &str) -> PResult<NameList> {
        let start = self.tok().span;
        if self.eat(TokenKind::LBracket).is_none() {
            let path = self.qpath(what)?;
            return Ok(NameList { span: path.span, names: vec![path], bracketed: false });
        }
        let names = self.delimited(start, TokenKind::RBracket, |p| p.qpath(what))?;
        Ok(NameList { names, bracketed: true, span: self.span_from(start) })
    }

    /// Expects the closing delimiter of a group opened at `open`.
    fn close(&mut self, kind: TokenKind, open: Span) -> PResult<Token> {
        if let Some(t) = self.eat(kind) {
            return Ok(t);
        }
        let what = kind.describe();
        let result = self.fail_expected::<Token>(what);
        if let Some(last) = self.errors.last_mut()
            && last.code == "E0001"
        {
            last.related.push((open, "opened here".to_string()));
        }
        result
    }

    /// The items of a bracketed list whose opening delimiter (at `open`) was
    /// just read: `item (, item)* ,? close`, zero items allowed. The one loop
    /// every bracketed list of the grammar goes through.
    fn delimited<T>(
        &mut self,
        open: Span,
        close: TokenKind,
        mut item: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        let mut items = Vec::new();
        while !self.at(close) {
            items.push(item(self)?);
            if self.eat(TokenKind::Comma).is_none() {
                break;
            }
        }
        self.close(close, open)?;
        Ok(items)
    }

    /// `item (, item)*`: one item or more (`item` gets its position, so the
    /// first may be described differently). With `until`, a comma right
    /// before that token ends the list (a trailing comma in brackets).
    fn one_or_more<T>(
        &mut self,
        until: Option<TokenKind>,
        mut item: impl FnMut(&mut Self, usize) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        let mut items = vec![item(self, 0)?];
        while self.eat(TokenKind::Comma).is_some() {
            if until.is_some_and(|k| self.at(k)) {
                break;
            }
            items.push(item(self, items.len())?);
        }
        Ok(items)
    }

    // ───────────────────────── literals ─────────────────────────

    fn literal(&mut self) -> PResult<Lit> {
        let t = self.tok();
        let raw = self.text(t.span).to_string();
        let kind = match t.kind {
            TokenKind::String => LitKind::Str(self.unescape(t.span)?),
            TokenKind::Integer => LitKind::Int,
            TokenKind::Decimal => LitKind::Decimal,
            TokenKind::Duration => LitKind::Duration,
            TokenKind::Date => LitKind::Date,
            TokenKind::DateTime => LitKind::DateTime,
            TokenKind::True => LitKind::Bool(true),
            TokenKind::False => LitKind::Bool(false),
            _ => return self.fail_expected("a literal"),
        };
        self.bump();
        Ok(Lit { kind, raw, span: t.span })
    }

    fn literal_of(&mut self, kind: TokenKind, what: &str) -> PResult<Lit> {
        if self.at(kind) { self.literal() } else { self.fail_expected(what) }
    }

    fn string(&mut self) -> PResult<Lit> {
        self.literal_of(TokenKind::String, "a string")
    }

    /// Decodes a string token's escapes: `\" \\ \n \t \r \0 \u{…}`.
    fn unescape(&mut self, span: Span) -> PResult<String> {
        let raw = self.text(span);
        let inner = raw.get(1..raw.len().saturating_sub(1)).unwrap_or("");
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let decoded = match chars.next() {
                Some((_, '"')) => Some('"'),
                Some((_, '\\')) => Some('\\'),
                Some((_, 'n')) => Some('\n'),
                Some((_, 't')) => Some('\t'),
                Some((_, 'r')) => Some('\r'),
                Some((_, '0')) => Some('\0'),
                Some((_, 'u')) => self.unicode_escape(&mut chars),
                _ => None,
            };
            match decoded {
                Some(ch) => out.push(ch),
                None => {
                    let at = span.start as usize + 1 + i;
                    let end = chars.clone().next().map_or(span.end as usize - 1, |(j, _)| span.start as usize + 1 + j);
                    let unicode = inner.get(i + 1..).is_some_and(|rest| rest.starts_with('u'));
                    let (label, help) = if unicode {
                        (
                            "not a Unicode character",
                            "`\\u{…}` takes 1 to 6 hex digits naming a Unicode scalar value: at most 10FFFF, and not D800 to DFFF",
                        )
                    } else {
                        (
                            "unknown escape",
                            "valid escapes are \\\" \\\\ \\n \\t \\r \\0 and \\u{…}; a backslash is written \\\\",
                        )
                    };
                    self.error(
                        "E0003",
                        Span::new(at, end.max(at + 1)),
                        "invalid escape in string".to_string(),
                        label,
                        Some(help.to_string()),
                    );
                    return Err(Fail);
                }
            }
        }
        Ok(out)
    }

    fn unicode_escape(&self, chars: &mut std::str::CharIndices<'_>) -> Option<char> {
        if chars.next().map(|(_, c)| c) != Some('{') {
            return None;
        }
        let mut digits = String::new();
        let mut closed = false;
        for (_, c) in chars.by_ref() {
            if c == '}' {
                closed = true;
                break;
            }
            digits.push(c);
        }
        if !closed || digits.is_empty() || digits.len() > 6 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(&digits, 16).ok().and_then(char::from_u32)
    }

    // ───────────────────────── items ─────────────────────────

    fn items(&mut self) -> Vec<Item> {
        let mut items = Vec::new();
        while !self.at(TokenKind::Eof) {
            let start = self.pos;
            let start_span = self.tok().span;
            match self.item() {
                Ok(item) => items.push(item),
                Err(Fail) => {
                    self.recover_top(start);
                    items.push(Item::Error(self.span_from(start_span)));
                }
            }
        }
        items
    }

    fn item(&mut self) -> PResult<Item> {
        let docs = self.take_docs();
        let annotations = self.annotations()?;
        match self.peek() {
            TokenKind::Import => {
                self.no_annotations(&annotations, "imports")?;
                self.import().map(Item::Import)
            }
            TokenKind::Schema => self.schema(docs, annotations).map(Item::Schema),
            TokenKind::Agent => self.agent(docs, annotations).map(Item::Agent),
            TokenKind::Policy => self.policy(docs, annotations).map(Item::Policy),
            TokenKind::Detector => self.detector(docs, annotations).map(Item::Detector),
            TokenKind::Fixture => {
                self.no_annotations(&annotations, "fixtures")?;
                self.fixture(docs).map(Item::Fixture)
            }
            TokenKind::Test => {
                self.no_annotations(&annotations, "tests")?;
                self.test(docs).map(Item::Test)
            }
            TokenKind::Ident if self.at_word("namespace") => {
                self.namespace(docs, annotations).map(Item::Schema)
            }
            TokenKind::Ident if self.at_word("assert") => {
                self.no_annotations(&annotations, "asserts")?;
                self.assert_decl(docs).map(Item::Assert)
            }
            TokenKind::Permit | TokenKind::Forbid | TokenKind::Mask | TokenKind::Limit => {
                let t = self.tok();
                let word = self.text(t.span).to_string();
                self.error(
                    "E0010",
                    t.span,
                    format!("`{word}` rules must be inside a policy"),
                    "not inside a `policy` block",
                    Some(format!("wrap it: `policy name {{ {word} … }}`")),
                );
                Err(Fail)
            }
            _ => self.fail_expected(
                "an item (`schema`, `namespace`, `agent`, `policy`, `detector`, `import`, `fixture`, `test` or `assert`)",
            ),
        }
    }

    fn import(&mut self) -> PResult<ImportDecl> {
        let start = self.expect(TokenKind::Import, "`import`")?.span;
        let path = self.path("a module path such as `stdlib.pii`")?;
        let alias = if self.eat_word("as").is_some() { Some(self.ident("a name after `as`")?) } else { None };
        self.eat(TokenKind::Semi);
        Ok(ImportDecl { path, alias, span: self.span_from(start) })
    }

    /// Parses `{ member* }` with per-member recovery. Returns the members and
    /// whether the block was closed.
    fn block<T>(
        &mut self,
        is_member: fn(TokenKind) -> bool,
        what: &str,
        mut member: impl FnMut(&mut Self) -> PResult<T>,
        error_member: fn(Span) -> T,
    ) -> PResult<Vec<T>> {
        let open = self.expect(TokenKind::LBrace, "`{`")?.span;
        let mut out = Vec::new();
        loop {
            if self.eat(TokenKind::RBrace).is_some() {
                return Ok(out);
            }
            if self.at(TokenKind::Eof)
                || (is_top_start(self.peek()) && !is_member(self.peek()) && self.at_line_start(self.tok().span))
            {
                self.unclosed(open);
                return Ok(out);
            }
            let start = self.pos;
            let start_span = self.tok().span;
            let result = if is_member(self.peek()) { member(self) } else { self.fail_expected(what) };
            match result {
                Ok(m) => out.push(m),
                Err(Fail) => {
                    let stop = self.recover_in_block(start, is_member);
                    out.push(error_member(self.span_from(start_span)));
                    match stop {
                        Stop::Member => {}
                        Stop::Close => {
                            self.bump();
                            return Ok(out);
                        }
                        // The error already recorded explains the damage.
                        Stop::Outer => return Ok(out),
                    }
                }
            }
        }
    }

    fn unclosed(&mut self, open: Span) {
        let found = self.found();
        let at = self.tok().span;
        self.errors.push(SyntaxError {
            code: "E0005",
            message: format!("unclosed `{{`: expected `}}`, found {found}"),
            span: at,
            label: "expected `}` before this".to_string(),
            related: vec![(open, "this `{` is never closed".to_string())],
            help: None,
        });
    }

    // ───────────────────────── schemas ─────────────────────────

    fn schema(&mut self, docs: Docs, annotations: Vec<Annotation>) -> PResult<SchemaDecl> {
        let start = self.expect(TokenKind::Schema, "`schema`")?.span;
        let name = self.ident("a schema name")?;
        let items = self.block(
            is_schema_member_start,
            "a schema item (`entity`, `enum`, `type`, `action` or `context`)",
            Self::schema_item,
            SchemaItem::Error,
        )?;
        let span = annotations.first().map_or(start, |a| a.span).to(self.span_from(start));
        Ok(SchemaDecl { docs, annotations, namespace: false, name, items, span })
    }

    /// `namespace Acme::Docs { … }`: a schema block whose declarations are
    /// named `Acme::Docs::…`.
    fn namespace(&mut self, docs: Docs, annotations: Vec<Annotation>) -> PResult<SchemaDecl> {
        let start = self.bump().span;
        let name = self.qualified_name("a namespace name such as `Acme` or `Acme::Docs`")?;
        let items = self.block(
            is_schema_member_start,
            "a namespace item (`entity`, `enum`, `type`, `action` or `context`)",
            Self::schema_item,
            SchemaItem::Error,
        )?;
        let span = annotations.first().map_or(start, |a| a.span).to(self.span_from(start));
        Ok(SchemaDecl { docs, annotations, namespace: true, name, items, span })
    }

    /// `A` or `A::B::C`: one name, its `::`-separated parts joined in one
    /// identifier (how namespaced names are compared everywhere).
    fn qualified_name(&mut self, what: &str) -> PResult<Ident> {
        let mut name = self.ident(what)?;
        while self.at(TokenKind::ColonColon) && self.nth(1).kind == TokenKind::Ident {
            self.bump();
            let part = self.ident("a name after `::`")?;
            join_qualified(&mut name, &part);
        }
        Ok(name)
    }

    /// A type's or an action's name: a path (`Customer`, `roles.User`) whose
    /// last segment may be namespaced (`Taxpreparer::Document`). Stops
    /// before `::` and a string, so `Ns::User::"a"` leaves `::"a"`.
    fn qpath(&mut self, what: &str) -> PResult<Path> {
        let mut path = self.path(what)?;
        while self.at(TokenKind::ColonColon) && self.nth(1).kind == TokenKind::Ident {
            self.bump();
            let part = self.ident("a name after `::`")?;
            qualify_last(&mut path, &part);
        }
        path.span = self.span_from(path.span);
        Ok(path)
    }

    fn schema_item(&mut self) -> PResult<SchemaItem> {
        let docs = self.take_docs();
        let annotations = self.annotations()?;
        let start = annotations.first().map_or(self.tok().span, |a| a.span);
        match self.peek() {
            TokenKind::Entity => {
                self.bump();
                let name = self.ident("an entity type name")?;
                let parents = if self.eat(TokenKind::In).is_some() {
                    Some(self.name_list("a parent entity type")?)
                } else {
                    None
                };
                let attrs = if self.at(TokenKind::LBrace) { Some(self.record_type()?) } else { None };
                let tags = if self.eat_word("tags").is_some() { Some(self.type_expr()?) } else { None };
                self.eat(TokenKind::Semi);
                Ok(SchemaItem::Entity(EntityDecl {
                    docs,
                    annotations,
                    name,
                    parents,
                    attrs,
                    tags,
                    span: self.span_from(start),
                }))
            }
            TokenKind::Enum => {
                self.bump();
                let name = self.ident("an enum name")?;
                let ordered = self.eat_word("ordered").is_some();
                let open = self.expect(TokenKind::LBrace, "`{` or `ordered`")?.span;
                let variants = self.one_or_more(Some(TokenKind::RBrace), |p, _| p.ident("an enum value"))?;
                self.close(TokenKind::RBrace, open)?;
                Ok(SchemaItem::Enum(EnumDecl {
                    docs,
                    annotations,
                    name,
                    ordered,
                    variants,
                    span: self.span_from(start),
                }))
            }
            TokenKind::Type => {
                self.bump();
                let name = self.ident("a type name")?;
                self.expect(TokenKind::Eq, "`=`")?;
                let ty = self.type_expr()?;
                self.eat(TokenKind::Semi);
                Ok(SchemaItem::TypeAlias(TypeAliasDecl { docs, annotations, name, ty, span: self.span_from(start) }))
            }
            TokenKind::Action => self.action_decl(docs, annotations, start).map(SchemaItem::Action),
            TokenKind::Context => {
                self.no_annotations(&annotations, "`context`")?;
                self.bump();
                let fields = self.record_type()?;
                self.eat(TokenKind::Semi);
                Ok(SchemaItem::Context(ContextDecl { docs, fields, span: self.span_from(start) }))
            }
            _ => self.fail_expected("a schema item (`entity`, `enum`, `type`, `action` or `context`)"),
        }
    }

    fn action_decl(&mut self, docs: Docs, annotations: Vec<Annotation>, start: Span) -> PResult<ActionDecl> {
        self.expect(TokenKind::Action, "`action`")?;
        let names = self.one_or_more(None, |p, _| p.action_name("an action name"))?;
        let parents = if self.eat(TokenKind::In).is_some() { Some(self.action_list("an action group")?) } else { None };
        let principals = if self.eat_word("by").is_some() { Some(self.name_list("a principal type")?) } else { None };
        let resources = if self.eat_word("on").is_some() { Some(self.name_list("a resource type")?) } else { None };
        let context = if self.eat_word("with").is_some() { Some(self.record_type()?) } else { None };
        let returns = if self.eat_word("returns").is_some() { Some(self.type_expr()?) } else { None };
        self.eat(TokenKind::Semi);
        Ok(ActionDecl {
            docs,
            annotations,
            names,
            parents,
            principals,
            resources,
            context,
            returns,
            span: self.span_from(start),
        })
    }

    fn too_deep<T>(&mut self) -> PResult<T> {
        let span = self.tok().span;
        self.error(
            "E0006",
            span,
            format!("nesting too deep: more than {MAX_NESTING} levels"),
            "nested too deeply here",
            Some(
                "each bracket, prefix operator and chained operator nests one level: split the condition into smaller rules"
                    .to_string(),
            ),
        );
        Err(Fail)
    }

    /// Runs `f` one nesting level deeper. Refuses input nested more than
    /// [`MAX_NESTING`] levels, and grows the stack when little is left, so
    /// that deep input gets E0006 rather than a stack overflow.
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        if self.depth >= MAX_NESTING {
            return self.too_deep();
        }
        self.depth += 1;
        self.reach = self.reach.max(self.depth);
        let result = stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || f(self));
        self.depth -= 1;
        result
    }

    // Operator chains (`a || b || c`, `x.a.b`, `a + b`) nest the tree one
    // level per operator without the parser recursing. They count against
    // MAX_NESTING like brackets do, so that no tree is much deeper than the
    // limit: whatever walks the tree (dropping it, printing it, checking it)
    // recurses once per level. The first operand is parsed before the chain
    // is known to exist, so its height is measured afterwards: `reach` is the
    // deepest level reached while parsing it.

    /// Starts measuring a chain; returns the outer measurement to restore.
    fn chain_start(&mut self) -> u32 {
        std::mem::replace(&mut self.reach, self.depth)
    }

    /// Accounts for the operand just parsed: the first one is the chain's
    /// bottom, each later one a child of the chain's top node.
    fn chain_operand(&mut self, height: &mut u32, first: bool) -> PResult<()> {
        let below = self.reach.saturating_sub(self.depth);
        *height = (*height).max(if first { below } else { below + 1 });
        self.reach = self.depth;
        if self.depth.saturating_add(*height) > MAX_NESTING {
            return self.too_deep();
        }
        Ok(())
    }

    /// Accounts for one more operator on top of the chain.
    fn chain_link(&mut self, height: &mut u32) -> PResult<()> {
        *height += 1;
        if self.depth.saturating_add(*height) > MAX_NESTING {
            return self.too_deep();
        }
        Ok(())
    }

    fn chain_end(&mut self, outer: u32, height: u32) {
        self.reach = outer.max(self.depth.saturating_add(height));
    }

    fn type_expr(&mut self) -> PResult<TypeExpr> {
        self.nested(Self::type_expr_inner)
    }

    fn type_expr_inner(&mut self) -> PResult<TypeExpr> {
        let first = self.type_atom()?;
        if !self.at(TokenKind::Pipe) {
            return Ok(first);
        }
        let start = first.span();
        let mut members = vec![first];
        while self.eat(TokenKind::Pipe).is_some() {
            members.push(self.type_atom()?);
        }
        Ok(TypeExpr::Union { members, span: self.span_from(start) })
    }

    fn type_atom(&mut self) -> PResult<TypeExpr> {
        if self.at(TokenKind::LBrace) {
            return Ok(TypeExpr::Record(self.record_type()?));
        }
        let name = self.qpath("a type")?;
        let start = name.span;
        let mut arg = None;
        if let Some(open) = self.eat(TokenKind::Lt) {
            arg = Some(Box::new(self.type_expr()?));
            self.close(TokenKind::Gt, open.span)?;
        }
        Ok(TypeExpr::Named { name, arg, span: self.span_from(start) })
    }

    fn record_type(&mut self) -> PResult<RecordType> {
        let open = self.expect(TokenKind::LBrace, "`{`")?.span;
        let fields = self.delimited(open, TokenKind::RBrace, Self::field_decl)?;
        Ok(RecordType { fields, span: self.span_from(open) })
    }

    fn field_decl(&mut self) -> PResult<FieldDecl> {
        let docs = self.take_docs();
        let annotations = self.annotations()?;
        let name = self.any_word("an attribute name")?;
        let start = annotations.first().map_or(name.span, |a| a.span);
        let optional = self.eat(TokenKind::Question).is_some();
        self.expect(TokenKind::Colon, if optional { "`:`" } else { "`:` or `?`" })?;
        let ty = self.type_expr()?;
        Ok(FieldDecl { docs, annotations, name, optional, ty, span: self.span_from(start) })
    }

    // ───────────────────────── agents ─────────────────────────

    fn agent(&mut self, docs: Docs, annotations: Vec<Annotation>) -> PResult<AgentDecl> {
        let start = annotations.first().map_or(self.tok().span, |a| a.span);
        self.expect(TokenKind::Agent, "`agent`")?;
        let name = self.ident("an agent name")?;
        self.expect(TokenKind::Colon, "`:` and the agent's entity type")?;
        let ty = self.qpath("an entity type")?;
        let parents = if self.eat(TokenKind::In).is_some() {
            let open = self.expect(TokenKind::LBracket, "`[` (an agent's parents are written in brackets)")?.span;
            Some(self.delimited(open, TokenKind::RBracket, Self::entity_ref)?)
        } else {
            None
        };
        let open = self.expect(TokenKind::LBrace, "`{`")?.span;
        let mut fields = Vec::new();
        loop {
            if self.eat(TokenKind::RBrace).is_some() {
                break;
            }
            if self.at(TokenKind::Eof) {
                self.unclosed(open);
                return Err(Fail);
            }
            fields.push(self.agent_field()?);
        }
        Ok(AgentDecl { docs, annotations, name, ty, parents, fields, span: self.span_from(start) })
    }

    fn agent_field(&mut self) -> PResult<AgentField> {
        let start = self.tok().span;
        let word = if self.at(TokenKind::Ident) { self.text(start) } else { "" };
        let kind = match word {
            "owner" => {
                self.bump();
                AgentFieldKind::Owner(self.expr()?)
            }
            "created" => {
                self.bump();
                AgentFieldKind::Created(self.literal_of(TokenKind::Date, "a date such as `2026-01-15`")?)
            }
            "expires" => {
                self.bump();
                AgentFieldKind::Expires(self.literal_of(TokenKind::Date, "a date such as `2027-06-30`")?)
            }
            "rotate" => {
                self.bump();
                self.expect_word("credentials")?;
                self.expect_word("every")?;
                let every = self.literal_of(TokenKind::Duration, "a duration such as `90d`")?;
                let last = self.optional_last()?;
                AgentFieldKind::Rotate { every, last }
            }
            "review" => {
                self.bump();
                self.expect_word("every")?;
                let every = self.literal_of(TokenKind::Duration, "a duration such as `180d`")?;
                let last = self.optional_last()?;
                AgentFieldKind::Review { every, last }
            }
            "attrs" => {
                self.bump();
                let (entries, span) = self.record_entries()?;
                AgentFieldKind::Attrs(entries, span)
            }
            "description" => {
                self.bump();
                AgentFieldKind::Description(self.string()?)
            }
            _ => {
                return self.fail_expected(
                    "an agent field (`owner`, `created`, `expires`, `rotate credentials`, `review`, `attrs` or `description`)",
                );
            }
        };
        self.eat(TokenKind::Semi);
        Ok(AgentField { kind, span: self.span_from(start) })
    }

    fn optional_last(&mut self) -> PResult<Option<Lit>> {
        if self.eat_word("last").is_some() { Ok(Some(self.literal_of(TokenKind::Date, "a date")?)) } else { Ok(None) }
    }

    // ───────────────────────── detectors ─────────────────────────

    fn detector(&mut self, docs: Docs, annotations: Vec<Annotation>) -> PResult<DetectorDecl> {
        let start = annotations.first().map_or(self.tok().span, |a| a.span);
        self.expect(TokenKind::Detector, "`detector`")?;
        let name = self.ident("a detector name")?;
        self.expect(TokenKind::Eq, "`=`")?;
        let def = if self.eat_word("builtin").is_some() {
            DetectorDef::Builtin(self.string()?)
        } else if self.eat_word("pattern").is_some() {
            let regex = self.string()?;
            let validate = if self.eat_word("validate").is_some() {
                Some(self.ident("a validator such as `luhn`")?)
            } else {
                None
            };
            DetectorDef::Pattern { regex, validate }
        } else if self.eat_word("keywords").is_some() {
            let open = self.expect(TokenKind::LBracket, "`[`")?.span;
            let words = self.one_or_more(Some(TokenKind::RBracket), |p, _| p.string())?;
            self.close(TokenKind::RBracket, open)?;
            DetectorDef::Keywords(words)
        } else if let Some(open) = self.eat(TokenKind::LBracket) {
            let members = self.one_or_more(Some(TokenKind::RBracket), |p, _| p.path("a detector name"))?;
            self.close(TokenKind::RBracket, open.span)?;
            DetectorDef::Group(members)
        } else {
            return self.fail_expected("`builtin`, `pattern`, `keywords` or `[`");
        };
        self.eat(TokenKind::Semi);
        Ok(DetectorDecl { docs, annotations, name, def, span: self.span_from(start) })
    }

    // ───────────────────────── policies ─────────────────────────

    fn policy(&mut self, docs: Docs, annotations: Vec<Annotation>) -> PResult<PolicyDecl> {
        let start = annotations.first().map_or(self.tok().span, |a| a.span);
        self.expect(TokenKind::Policy, "`policy`")?;
        let name = self.ident("a policy name")?;
        let items = self.block(
            is_policy_member_start,
            "a rule (`permit`, `forbid`, `mask` or `limit`)",
            Self::policy_item,
            PolicyItem::Error,
        )?;
        Ok(PolicyDecl { docs, annotations, name, items, span: self.span_from(start) })
    }

    fn policy_item(&mut self) -> PResult<PolicyItem> {
        let docs = self.take_docs();
        let annotations = self.annotations()?;
        let start = annotations.first().map_or(self.tok().span, |a| a.span);
        match self.peek() {
            TokenKind::Permit | TokenKind::Forbid => self.rule(docs, annotations, start).map(PolicyItem::Rule),
            TokenKind::Mask => self.mask_rule(docs, annotations, start).map(PolicyItem::Mask),
            TokenKind::Limit => self.limit_rule(docs, annotations, start).map(PolicyItem::Limit),
            _ => self.fail_expected("a rule (`permit`, `forbid`, `mask` or `limit`)"),
        }
    }

    fn rule(&mut self, docs: Docs, annotations: Vec<Annotation>, start: Span) -> PResult<Rule> {
        let effect_tok = self.bump();
        let effect = if effect_tok.kind == TokenKind::Permit { Effect::Permit } else { Effect::Forbid };
        let scope = self.optional_scope()?;
        let conditions = self.conditions()?;
        let mut clauses = Vec::new();
        while matches!(self.peek(), TokenKind::Obligation | TokenKind::Advice) {
            let t = self.bump();
            let kind = if t.kind == TokenKind::Obligation { ClauseKind::Obligation } else { ClauseKind::Advice };
            let call = self.call_item("an obligation such as `require_approval(role: \"supervisor\")`")?;
            clauses.push(Clause { kind, call, span: self.span_from(t.span) });
        }
        if let (Some(first), true) = (clauses.first(), matches!(self.peek(), TokenKind::When | TokenKind::Unless)) {
            let t = self.tok();
            let word = self.text(t.span).to_string();
            self.errors.push(SyntaxError {
                code: "E0001",
                message: format!("`{word}` after an obligation or advice: conditions come first"),
                span: t.span,
                label: "this condition follows an obligation or advice".to_string(),
                related: vec![(first.span, "the first obligation or advice".to_string())],
                help: Some(format!("move `{word} …` above the rule's first `obligation` or `advice`")),
            });
            return Err(Fail);
        }
        self.eat(TokenKind::Semi);
        let what = if clauses.is_empty() {
            "`when`, `unless`, `obligation`, `advice` or the next rule"
        } else {
            "`obligation`, `advice` or the next rule"
        };
        self.rule_end(what)?;
        Ok(Rule {
            docs,
            annotations,
            effect,
            effect_span: effect_tok.span,
            scope,
            conditions,
            clauses,
            span: self.span_from(start),
        })
    }

    /// After a policy item, only another item or the policy's `}` may follow.
    /// Checking here gives the message at the right place ("expected `when`…")
    /// rather than at the start of a phantom next rule.
    fn rule_end(&mut self, what: &str) -> PResult<()> {
        let k = self.peek();
        if is_policy_member_start(k) || k == TokenKind::RBrace || k == TokenKind::Eof || is_top_start(k) {
            Ok(())
        } else {
            self.fail_expected(what)
        }
    }

    fn optional_scope(&mut self) -> PResult<Option<Scope>> {
        if matches!(self.peek(), TokenKind::Principal | TokenKind::Action | TokenKind::Resource) {
            Ok(Some(self.scope(false)?))
        } else {
            Ok(None)
        }
    }

    /// A rule's (or mask's, limit's) scope, or with `flow` a flow
    /// condition's. A flow's scope sits inside an expression, where what
    /// follows may continue an enclosing list or comparison; there, as in the
    /// grammar, a scope item or constraint that does not parse ends the
    /// scope instead: `f(previously within 1h action: a, action != b)` has
    /// two arguments, and `previously within 1h principal in 5` compares.
    fn scope(&mut self, flow: bool) -> PResult<Scope> {
        let start = self.tok().span;
        let mut items = vec![self.scope_item(flow)?];
        while self.at(TokenKind::Comma)
            && matches!(self.nth(1).kind, TokenKind::Principal | TokenKind::Action | TokenKind::Resource)
        {
            if flow && self.nth(1).kind == TokenKind::Action {
                // Backtracking is cheap: an action item holds only names.
                let (pos, errors) = (self.pos, self.errors.len());
                self.bump();
                match self.scope_item(flow) {
                    Ok(item) => items.push(item),
                    Err(Fail) => {
                        self.pos = pos;
                        self.errors.truncate(errors);
                        break;
                    }
                }
                continue;
            }
            self.bump();
            items.push(self.scope_item(flow)?);
        }
        Ok(Scope { items, span: self.span_from(start) })
    }

    fn scope_item(&mut self, flow: bool) -> PResult<ScopeItem> {
        let t = self.tok();
        match t.kind {
            TokenKind::Principal | TokenKind::Resource => {
                self.bump();
                let ty = if self.eat(TokenKind::Colon).is_some() { Some(self.qpath("an entity type")?) } else { None };
                if !flow {
                    self.not_assignment()?;
                }
                let target_follows =
                    matches!(self.nth(1).kind, TokenKind::Ident | TokenKind::LBracket | TokenKind::Question);
                let op = if flow && !target_follows {
                    None
                } else if self.eat(TokenKind::In).is_some() {
                    Some(ScopeOp::In)
                } else if self.eat(TokenKind::EqEq).is_some() {
                    Some(ScopeOp::Eq)
                } else {
                    None
                };
                let constraint = match op {
                    Some(op) => Some(ScopeConstraint { op, target: self.scope_target()? }),
                    None => None,
                };
                let scope = EntityScope { ty, constraint, span: self.span_from(t.span) };
                Ok(if t.kind == TokenKind::Principal {
                    ScopeItem::Principal(scope)
                } else {
                    ScopeItem::Resource(scope)
                })
            }
            TokenKind::Action => {
                self.bump();
                let (op, actions) = if self.eat(TokenKind::Colon).is_some() {
                    (ActionOp::Is, self.action_list("an action name")?)
                } else if self.eat(TokenKind::In).is_some() {
                    (ActionOp::In, self.action_list("an action or action group")?)
                } else if self.eat(TokenKind::EqEq).is_some() {
                    let path = self.action_ref("an action name")?;
                    (ActionOp::Eq, NameList { span: path.span, names: vec![path], bracketed: false })
                } else {
                    self.not_assignment()?;
                    return self.fail_expected("`:`, `in` or `==` after `action`");
                };
                Ok(ScopeItem::Action(ActionScope { op, actions, span: self.span_from(t.span) }))
            }
            _ => self.fail_expected("`principal`, `action` or `resource`"),
        }
    }

    /// `Type::"id"`, `[ … ]` or a name: what `principal in …` may name.
    fn scope_target(&mut self) -> PResult<Expr> {
        if self.at(TokenKind::LBracket) {
            return self.set_lit();
        }
        if self.at(TokenKind::Question) {
            return self.slot();
        }
        let path = self.path("an entity such as `Team::\"ops\"`")?;
        if self.at(TokenKind::ColonColon) {
            let (path, id) = self.entity_id_after(path)?;
            let span = self.span_from(path.span);
            return Ok(Expr { kind: ExprKind::EntityRef(EntityRefLit { ty: path, id, span }), span });
        }
        // As an expression, `a.b.c` nests one member access per dot.
        let levels = u32::try_from(path.segments.len()).unwrap_or(u32::MAX);
        if self.depth.saturating_add(levels) > MAX_NESTING {
            return self.too_deep();
        }
        self.reach = self.reach.max(self.depth + levels);
        Ok(path_to_expr(path))
    }

    /// `?principal` or `?resource`, written as one word.
    fn slot(&mut self) -> PResult<Expr> {
        let q = self.bump();
        let t = self.tok();
        let var = match t.kind {
            TokenKind::Principal => Var::Principal,
            TokenKind::Resource => Var::Resource,
            _ => return self.fail_expected("`principal` or `resource` after `?` (a template slot: `?principal`)"),
        };
        if t.span.start != q.span.end {
            let span = Span::new(q.span.start as usize, t.span.end as usize);
            self.error(
                "E0001",
                span,
                "a slot is written as one word".to_string(),
                "space after `?`",
                Some(format!("write `?{}`", var.name())),
            );
            return Err(Fail);
        }
        self.bump();
        Ok(Expr { kind: ExprKind::Slot(var), span: self.span_from(q.span) })
    }

    fn conditions(&mut self) -> PResult<Vec<Condition>> {
        let mut out = Vec::new();
        while matches!(self.peek(), TokenKind::When | TokenKind::Unless) {
            let t = self.bump();
            let kind = if t.kind == TokenKind::When { ConditionKind::When } else { ConditionKind::Unless };
            let expr = self.expr()?;
            out.push(Condition { kind, expr, span: self.span_from(t.span) });
        }
        Ok(out)
    }

    fn call_item(&mut self, what: &str) -> PResult<CallItem> {
        let name = self.path(what)?;
        let start = name.span;
        let args = if let Some(open) = self.eat(TokenKind::LParen) {
            Some(self.delimited(open.span, TokenKind::RParen, |p| {
                let key = p.any_word("an argument name")?;
                p.expect(TokenKind::Colon, "`:` after the argument name")?;
                let value = p.expr()?;
                Ok(NamedArg { span: p.span_from(key.span), name: key, value })
            })?)
        } else {
            None
        };
        Ok(CallItem { name, args, span: self.span_from(start) })
    }

    fn mask_rule(&mut self, docs: Docs, annotations: Vec<Annotation>, start: Span) -> PResult<MaskRule> {
        self.expect(TokenKind::Mask, "`mask`")?;
        let paths = self.one_or_more(None, |p, _| p.mask_path())?;
        self.expect_word("with")?;
        let with = self.one_or_more(None, |p, i| {
            p.call_item(if i == 0 { "a masking method or detector" } else { "a detector" })
        })?;
        let using = if self.eat_word("using").is_some() { Some(self.call_item("a masking method")?) } else { None };
        let scope = if self.eat_word("on").is_some() { Some(self.scope(false)?) } else { None };
        let conditions = self.conditions()?;
        self.eat(TokenKind::Semi);
        self.rule_end("`using`, `on`, `when`, `unless` or the next rule")?;
        Ok(MaskRule { docs, annotations, paths, with, using, scope, conditions, span: self.span_from(start) })
    }

    fn mask_path(&mut self) -> PResult<MaskPath> {
        let t = self.tok();
        let root = match t.kind {
            TokenKind::Resource | TokenKind::Context | TokenKind::Ident => {
                self.bump();
                Ident { name: self.text(t.span).to_string(), span: t.span }
            }
            _ => return self.fail_expected("a path to mask such as `resource.ssn`, `response.*.email` or `text`"),
        };
        let mut segments = Vec::new();
        while self.at(TokenKind::Dot) {
            self.bump();
            if let Some(star) = self.eat(TokenKind::Star) {
                segments.push(MaskSegment::Star(star.span));
            } else {
                segments.push(MaskSegment::Field(self.any_word("a field name or `*`")?));
            }
        }
        Ok(MaskPath { root, segments, span: self.span_from(t.span) })
    }

    fn limit_rule(&mut self, docs: Docs, annotations: Vec<Annotation>, start: Span) -> PResult<LimitRule> {
        self.expect(TokenKind::Limit, "`limit`")?;
        let scope = self.optional_scope()?;
        let measure = if self.at_word("sum") || self.at_word("distinct") {
            let word = self.bump();
            let kind = if self.text(word.span) == "sum" { MeasureKind::Sum } else { MeasureKind::Distinct };
            let open = self.expect(TokenKind::LParen, &format!("`(` after `{}`", kind.word()))?;
            let expr = self.expr()?;
            self.close(TokenKind::RParen, open.span)?;
            Some(Box::new(LimitMeasure { kind, kind_span: word.span, expr, span: self.span_from(word.span) }))
        } else {
            None
        };
        if !self.at_word("to") {
            let what = match (&scope, &measure) {
                (_, Some(_)) => "`to`",
                (Some(_), None) => "`sum(…)`, `distinct(…)` or `to`",
                (None, None) => "a scope, `sum(…)`, `distinct(…)` or `to`",
            };
            return self.fail_expected(what);
        }
        self.bump();
        let count = if self.at(TokenKind::Decimal) {
            self.literal()?
        } else {
            self.literal_of(TokenKind::Integer, "the number allowed (or a sum's budget)")?
        };
        self.expect_word("per")?;
        let window = self.literal_of(TokenKind::Duration, "a window such as `1h`")?;
        let burst = if self.eat_word("burst").is_some() {
            Some(self.literal_of(TokenKind::Integer, "a burst size")?)
        } else {
            None
        };
        let keys = if self.eat_word("per").is_some() { self.one_or_more(None, |p, _| p.expr())? } else { Vec::new() };
        let conditions = self.conditions()?;
        let fail = if let Some(t) = self.eat_word("fail") {
            let mode = if self.eat_word("open").is_some() {
                FailMode::Open
            } else if self.eat_word("closed").is_some() {
                FailMode::Closed
            } else {
                return self.fail_expected("`open` or `closed`");
            };
            Some((mode, self.span_from(t.span)))
        } else {
            None
        };
        self.eat(TokenKind::Semi);
        self.rule_end("`burst`, `per`, `when`, `unless`, `fail` or the next rule")?;
        Ok(LimitRule {
            docs,
            annotations,
            scope,
            measure,
            count,
            window,
            burst,
            keys,
            conditions,
            fail,
            span: self.span_from(start),
        })
    }

    // ───────────────────────── expressions ─────────────────────────

    fn expr(&mut self) -> PResult<Expr> {
        self.nested(Self::or_expr)
    }

    /// `operand (op operand)*`, grouping to the left.
    fn binary_chain(
        &mut self,
        operand: fn(&mut Self) -> PResult<Expr>,
        op: fn(TokenKind) -> Option<BinaryOp>,
    ) -> PResult<Expr> {
        let outer = self.chain_start();
        let mut height = 0;
        let mut lhs = operand(self)?;
        self.chain_operand(&mut height, true)?;
        while let Some(op) = op(self.peek()) {
            self.chain_link(&mut height)?;
            self.bump();
            let rhs = operand(self)?;
            self.chain_operand(&mut height, false)?;
            lhs = binary(op, lhs, rhs);
        }
        self.chain_end(outer, height);
        Ok(lhs)
    }

    fn or_expr(&mut self) -> PResult<Expr> {
        self.binary_chain(Self::and_expr, |k| (k == TokenKind::OrOr).then_some(BinaryOp::Or))
    }

    fn and_expr(&mut self) -> PResult<Expr> {
        self.binary_chain(Self::cmp_expr, |k| (k == TokenKind::AndAnd).then_some(BinaryOp::And))
    }

    fn cmp_op(&self) -> Option<BinaryOp> {
        Some(match self.peek() {
            TokenKind::EqEq => BinaryOp::Eq,
            TokenKind::NotEq => BinaryOp::NotEq,
            TokenKind::Lt => BinaryOp::Lt,
            TokenKind::Le => BinaryOp::Le,
            TokenKind::Gt => BinaryOp::Gt,
            TokenKind::Ge => BinaryOp::Ge,
            TokenKind::In => BinaryOp::In,
            _ => return None,
        })
    }

    fn is_cmp_start(&self) -> bool {
        self.cmp_op().is_some()
            || matches!(self.peek(), TokenKind::Has | TokenKind::Like | TokenKind::Matches)
            || self.at_word("is")
    }

    fn cmp_expr(&mut self) -> PResult<Expr> {
        self.comparison(true)
    }

    /// A comparison. `chained` reports a second comparison operator as
    /// E0007; a flow's `where` comparison does not, as what follows it
    /// belongs to the enclosing expression: `previously … where a == b == c`
    /// compares the flow condition with `c`.
    fn comparison(&mut self, chained: bool) -> PResult<Expr> {
        let outer = self.chain_start();
        let mut height = 0;
        let lhs = self.add_expr()?;
        self.chain_operand(&mut height, true)?;
        self.not_assignment()?;
        if self.is_cmp_start() {
            self.chain_link(&mut height)?;
        }
        let start = lhs.span;
        let expr = if let Some(op) = self.cmp_op() {
            self.bump();
            let rhs = self.add_expr()?;
            self.chain_operand(&mut height, false)?;
            binary(op, lhs, rhs)
        } else if self.eat(TokenKind::Has).is_some() {
            let mut path = vec![self.any_word("an attribute name after `has`")?];
            while self.at(TokenKind::Dot) {
                self.bump();
                path.push(self.any_word("an attribute name")?);
            }
            Expr { kind: ExprKind::Has { base: Box::new(lhs), path }, span: self.span_from(start) }
        } else if self.eat_word("is").is_some() {
            let ty = self.qpath("an entity type after `is`, such as `User`")?;
            let within = if self.eat(TokenKind::In).is_some() {
                let target = self.add_expr()?;
                self.chain_operand(&mut height, false)?;
                Some(Box::new(target))
            } else {
                None
            };
            Expr { kind: ExprKind::Is { base: Box::new(lhs), ty, within }, span: self.span_from(start) }
        } else if self.eat(TokenKind::Like).is_some() {
            let pattern = self.literal_of(TokenKind::String, "a glob pattern string such as `\"*@acme.com\"`")?;
            Expr { kind: ExprKind::Like { base: Box::new(lhs), pattern }, span: self.span_from(start) }
        } else if self.eat(TokenKind::Matches).is_some() {
            let target = if self.at(TokenKind::String) {
                MatchTarget::Regex(self.string()?)
            } else {
                MatchTarget::Detector(self.path("a regex string or a detector such as `pii.email`")?)
            };
            Expr { kind: ExprKind::Matches { base: Box::new(lhs), target }, span: self.span_from(start) }
        } else {
            self.chain_end(outer, height);
            return Ok(lhs);
        };
        self.chain_end(outer, height);
        if chained && self.is_cmp_start() {
            let t = self.tok();
            self.error(
                "E0007",
                t.span,
                "comparison operators cannot be chained".to_string(),
                "a second comparison",
                Some("use `&&` between comparisons, or parentheses to group one".to_string()),
            );
            return Err(Fail);
        }
        Ok(expr)
    }

    /// `=` never follows an expression or a scope variable in valid text,
    /// so one found there is a comparison mistyped (`owner = principal`):
    /// say so instead of "expected …, found `=`".
    fn not_assignment(&mut self) -> PResult<()> {
        let t = self.tok();
        if t.kind != TokenKind::Eq {
            return Ok(());
        }
        self.error(
            "E0001",
            t.span,
            "`=` is not a comparison; did you mean `==`?".to_string(),
            "write `==` to compare",
            Some(
                "did you mean `==`? Ward has no assignment; `=` appears only in `type` and `detector` declarations"
                    .to_string(),
            ),
        );
        Err(Fail)
    }

    fn add_expr(&mut self) -> PResult<Expr> {
        self.binary_chain(Self::unary_expr, |k| match k {
            TokenKind::Plus => Some(BinaryOp::Add),
            TokenKind::Minus => Some(BinaryOp::Sub),
            _ => None,
        })
    }

    fn unary_expr(&mut self) -> PResult<Expr> {
        let mut ops = Vec::new();
        while matches!(self.peek(), TokenKind::Bang | TokenKind::Minus) {
            // Each prefix operator nests its operand one level deeper.
            if self.depth as usize + ops.len() >= MAX_NESTING as usize {
                return self.too_deep();
            }
            let t = self.bump();
            ops.push((if t.kind == TokenKind::Bang { UnaryOp::Not } else { UnaryOp::Neg }, t.span));
        }
        let levels = u32::try_from(ops.len()).unwrap_or(MAX_NESTING);
        self.depth += levels;
        self.reach = self.reach.max(self.depth);
        let operand = self.postfix_expr();
        self.depth -= levels;
        let mut expr = operand?;
        for (op, span) in ops.into_iter().rev() {
            let span = span.to(expr.span);
            expr = Expr { kind: ExprKind::Unary { op, operand: Box::new(expr) }, span };
        }
        Ok(expr)
    }

    fn postfix_expr(&mut self) -> PResult<Expr> {
        let outer = self.chain_start();
        let mut height = 0;
        let mut expr = self.primary()?;
        self.chain_operand(&mut height, true)?;
        loop {
            let start = expr.span;
            // `x["key"]`, or `x[…]` written against the base: an index, maybe
            // a malformed one (`items[0]`). Set literals never follow an
            // expression.
            let index = self.at(TokenKind::LBracket)
                && (self.nth(1).kind == TokenKind::String && self.nth(2).kind == TokenKind::RBracket
                    || self.tok().span.start == self.prev_end());
            if self.at(TokenKind::Dot) || index {
                self.chain_link(&mut height)?;
            }
            if self.at(TokenKind::Dot) {
                self.bump();
                let name = self.any_word("an attribute or method name after `.`")?;
                if self.at(TokenKind::LParen) {
                    let args = self.call_args()?;
                    self.chain_operand(&mut height, false)?;
                    expr = Expr {
                        kind: ExprKind::MethodCall { receiver: Box::new(expr), method: name, args },
                        span: self.span_from(start),
                    };
                } else {
                    expr = Expr { kind: ExprKind::Member { base: Box::new(expr), name }, span: self.span_from(start) };
                }
            } else if index {
                let open = self.bump().span;
                let key = self.literal_of(
                    TokenKind::String,
                    "a string key such as `[\"x-tenant\"]` (lists and sets cannot be indexed)",
                )?;
                self.close(TokenKind::RBracket, open)?;
                expr = Expr { kind: ExprKind::Index { base: Box::new(expr), key }, span: self.span_from(start) };
            } else {
                self.chain_end(outer, height);
                return Ok(expr);
            }
        }
    }

    fn call_args(&mut self) -> PResult<Vec<Expr>> {
        let open = self.expect(TokenKind::LParen, "`(`")?.span;
        self.delimited(open, TokenKind::RParen, Self::expr)
    }

    fn primary(&mut self) -> PResult<Expr> {
        let t = self.tok();
        let kind = match t.kind {
            TokenKind::String
            | TokenKind::Integer
            | TokenKind::Decimal
            | TokenKind::Duration
            | TokenKind::Date
            | TokenKind::DateTime
            | TokenKind::True
            | TokenKind::False => ExprKind::Lit(self.literal()?),
            TokenKind::Principal | TokenKind::Action | TokenKind::Resource | TokenKind::Context => {
                self.bump();
                ExprKind::Var(match t.kind {
                    TokenKind::Principal => Var::Principal,
                    TokenKind::Action => Var::Action,
                    TokenKind::Resource => Var::Resource,
                    _ => Var::Context,
                })
            }
            TokenKind::Previously => {
                self.bump();
                let flow = self.flow_body(FlowKind::Previously)?;
                ExprKind::Flow(Box::new(flow))
            }
            TokenKind::Ident => return self.name_expr(),
            TokenKind::LParen => {
                self.bump();
                let inner = self.expr()?;
                self.close(TokenKind::RParen, t.span)?;
                ExprKind::Paren(Box::new(inner))
            }
            TokenKind::LBracket => return self.set_lit(),
            TokenKind::LBrace => {
                let (entries, _) = self.record_entries()?;
                ExprKind::Record(entries)
            }
            _ => return self.fail_expected("an expression"),
        };
        Ok(Expr { kind, span: self.span_from(t.span) })
    }

    /// An expression starting with an identifier: a flow aggregate, an entity
    /// or enum reference (`a.b::"id"`, `Level::high`), a call or a name.
    fn name_expr(&mut self) -> PResult<Expr> {
        let t = self.tok();
        let word = self.text(t.span);
        // `count(within 1h …)` is a flow aggregate, `count(within)` a call, as in
        // the grammar, which tries the aggregate first: after `within` a
        // duration can only continue the aggregate.
        if word == "count"
            && self.nth(1).kind == TokenKind::LParen
            && self.nth_is_word(2, "within")
            && self.nth(3).kind == TokenKind::Duration
        {
            self.bump();
            let open = self.bump().span;
            let flow = self.flow_body(FlowKind::Count)?;
            self.close(TokenKind::RParen, open)?;
            return Ok(Expr { kind: ExprKind::Flow(Box::new(flow)), span: self.span_from(t.span) });
        }
        if word == "sum" && self.nth(1).kind == TokenKind::LParen {
            return self.sum_or_call();
        }
        // Look past `a.b.c` for `::`.
        let mut n = 1;
        while self.nth(n).kind == TokenKind::Dot && self.nth(n + 1).kind.is_word() {
            n += 2;
        }
        if self.nth(n).kind == TokenKind::ColonColon {
            let mut ty = self.path("a type name")?;
            loop {
                self.bump();
                if self.at(TokenKind::String) {
                    let id = self.string()?;
                    let span = self.span_from(ty.span);
                    return Ok(Expr { kind: ExprKind::EntityRef(EntityRefLit { ty, id, span }), span });
                }
                let part = self.ident("an entity id string or an enum value after `::`")?;
                // `Ns::Type::…`: a namespaced type goes on; the last name is
                // an enum's value (`Color::red`, `Ns::Color::red`).
                if !self.at(TokenKind::ColonColon) {
                    return Ok(Expr { kind: ExprKind::EnumRef { ty, variant: part }, span: self.span_from(t.span) });
                }
                qualify_last(&mut ty, &part);
            }
        }
        let name = self.ident("a name")?;
        if self.at(TokenKind::LParen) {
            let args = self.call_args()?;
            return Ok(Expr { kind: ExprKind::Call { func: name, args }, span: self.span_from(t.span) });
        }
        Ok(Expr { span: name.span, kind: ExprKind::Name(name) })
    }

    /// `sum(value, within …)` is a flow aggregate; `sum(…)` otherwise a call.
    fn sum_or_call(&mut self) -> PResult<Expr> {
        let start = self.bump().span;
        let func = Ident { name: "sum".to_string(), span: start };
        let open = self.bump().span;
        let mut args = Vec::new();
        while !self.at(TokenKind::RParen) {
            let arg = self.expr()?;
            if args.is_empty()
                && self.at(TokenKind::Comma)
                && self.nth_is_word(1, "within")
                && self.nth(2).kind == TokenKind::Duration
            {
                self.bump();
                let flow = self.flow_body(FlowKind::Sum(arg))?;
                self.close(TokenKind::RParen, open)?;
                return Ok(Expr { kind: ExprKind::Flow(Box::new(flow)), span: self.span_from(start) });
            }
            args.push(arg);
            if self.eat(TokenKind::Comma).is_none() {
                break;
            }
        }
        self.close(TokenKind::RParen, open)?;
        Ok(Expr { kind: ExprKind::Call { func, args }, span: self.span_from(start) })
    }

    fn flow_body(&mut self, kind: FlowKind) -> PResult<FlowExpr> {
        self.expect_word("within")?;
        let window = self.literal_of(TokenKind::Duration, "a window such as `1h`")?;
        let group = if let Some(by) = self.eat_word("by") {
            let g = if self.eat(TokenKind::Principal).is_some() {
                FlowGroup::Principal
            } else if self.eat_word("session").is_some() {
                FlowGroup::Session
            } else {
                return self.fail_expected("`session` or `principal`");
            };
            Some((g, self.span_from(by.span)))
        } else {
            None
        };
        if !matches!(self.peek(), TokenKind::Principal | TokenKind::Action | TokenKind::Resource) {
            return self.fail_expected("the earlier action's scope, such as `action: read_customer`");
        }
        let scope = self.scope(true)?;
        let filter = if self.eat_word("where").is_some() { Some(self.nested(|p| p.comparison(false))?) } else { None };
        Ok(FlowExpr { kind, window, group, scope, filter })
    }

    fn set_lit(&mut self) -> PResult<Expr> {
        let open = self.expect(TokenKind::LBracket, "`[`")?.span;
        let items = self.delimited(open, TokenKind::RBracket, Self::expr)?;
        Ok(Expr { kind: ExprKind::Set(items), span: self.span_from(open) })
    }

    fn record_entries(&mut self) -> PResult<(Vec<RecordEntry>, Span)> {
        let open = self.expect(TokenKind::LBrace, "`{`")?.span;
        let entries = self.delimited(open, TokenKind::RBrace, |p| {
            let start = p.tok().span;
            let key = if p.at(TokenKind::String) {
                RecordKey::Str(p.string()?)
            } else {
                RecordKey::Word(p.any_word("a field name")?)
            };
            p.expect(TokenKind::Colon, "`:` after the field name")?;
            let value = p.expr()?;
            Ok(RecordEntry { key, value, span: p.span_from(start) })
        })?;
        Ok((entries, self.span_from(open)))
    }

    fn entity_ref(&mut self) -> PResult<EntityRefLit> {
        let ty = self.path("an entity such as `User::\"dana\"`")?;
        if !self.at(TokenKind::ColonColon) {
            return self.fail_expected("`::` and the entity id");
        }
        let (ty, id) = self.entity_id_after(ty)?;
        Ok(EntityRefLit { span: self.span_from(ty.span), ty, id })
    }

    /// After an entity's type `ty` and at `::`: the rest of a namespaced
    /// type (`Ns::User::"a"`) and the id string.
    fn entity_id_after(&mut self, mut ty: Path) -> PResult<(Path, Lit)> {
        while self.at(TokenKind::ColonColon)
            && self.nth(1).kind == TokenKind::Ident
            && self.nth(2).kind == TokenKind::ColonColon
        {
            self.bump();
            let part = self.ident("a name after `::`")?;
            qualify_last(&mut ty, &part);
        }
        self.expect(TokenKind::ColonColon, "`::` and the entity id")?;
        let id = self.literal_of(TokenKind::String, "the entity's id as a string, such as `User::\"dana\"`")?;
        Ok((ty, id))
    }

    // ───────────────────────── fixtures and tests ─────────────────────────

    fn fixture(&mut self, docs: Docs) -> PResult<FixtureDecl> {
        let start = self.expect(TokenKind::Fixture, "`fixture`")?.span;
        let name = self.ident("a fixture name")?;
        let entities = self.entity_block()?;
        Ok(FixtureDecl { docs, name, entities, span: self.span_from(start) })
    }

    fn entity_block(&mut self) -> PResult<Vec<EntityLit>> {
        let open = self.expect(TokenKind::LBrace, "`{`")?.span;
        let mut out = Vec::new();
        loop {
            if self.eat(TokenKind::RBrace).is_some() {
                return Ok(out);
            }
            if self.at(TokenKind::Entity) {
                out.push(self.entity_lit()?);
            } else if self.at(TokenKind::Eof) {
                self.unclosed(open);
                return Err(Fail);
            } else {
                return self.fail_expected("`entity` or `}`");
            }
        }
    }

    fn entity_lit(&mut self) -> PResult<EntityLit> {
        let start = self.expect(TokenKind::Entity, "`entity`")?.span;
        let uid = self.entity_ref()?;
        let parents = if self.eat(TokenKind::In).is_some() {
            let open = self.expect(TokenKind::LBracket, "`[`")?.span;
            Some(self.delimited(open, TokenKind::RBracket, Self::entity_ref)?)
        } else {
            None
        };
        let attrs = if self.at(TokenKind::LBrace) { Some(self.record_entries()?) } else { None };
        let tags = if self.eat_word("tags").is_some() {
            if !self.at(TokenKind::LBrace) {
                return self.fail_expected("`{` after `tags`");
            }
            Some(self.record_entries()?)
        } else {
            None
        };
        self.eat(TokenKind::Semi);
        Ok(EntityLit { uid, parents, attrs, tags, span: self.span_from(start) })
    }

    /// `assert ["name"] (never | always) OUTCOME [SCOPE] [(when | unless) EXPR]… [;]`
    fn assert_decl(&mut self, docs: Docs) -> PResult<AssertDecl> {
        let start = self.bump().span;
        let name = if self.at(TokenKind::String) {
            Some(self.literal_of(TokenKind::String, "the assert's name")?)
        } else {
            None
        };
        let (quantifier, quantifier_span) = if let Some(t) = self.eat_word("never") {
            (Quantifier::Never, t.span)
        } else if let Some(t) = self.eat_word("always") {
            (Quantifier::Always, t.span)
        } else {
            return self.fail_expected("`never` or `always`");
        };
        let t = self.tok();
        let outcome = match (t.kind, self.text(t.span)) {
            (TokenKind::Permit, _) => AssertOutcome::Permit,
            (TokenKind::Ident, "allow") => AssertOutcome::Allow,
            (TokenKind::Ident, "deny") => AssertOutcome::Deny,
            (TokenKind::Ident, "approval_required") => AssertOutcome::ApprovalRequired,
            _ => return self.fail_expected("`permit`, `allow`, `deny` or `approval_required`"),
        };
        self.bump();
        let scope = self.optional_scope()?;
        let conditions = self.conditions()?;
        self.eat(TokenKind::Semi);
        let k = self.peek();
        if !(is_top_start(k) || k == TokenKind::Eof || self.at_word("assert")) {
            return self.fail_expected("`when`, `unless` or the next item");
        }
        Ok(AssertDecl {
            docs,
            name,
            quantifier,
            quantifier_span,
            outcome,
            outcome_span: t.span,
            scope,
            conditions,
            span: self.span_from(start),
        })
    }

    /// An `assert` starting a line begins an item (for recovery).
    /// Whether `t` starts a line with an item introduced by a contextual
    /// keyword (`assert …`, `namespace N {`), where recovery may resume.
    fn assert_starts_line(&self, t: Token) -> bool {
        t.kind == TokenKind::Ident && matches!(self.text(t.span), "assert" | "namespace") && self.at_line_start(t.span)
    }

    fn test(&mut self, docs: Docs) -> PResult<TestDecl> {
        let start = self.expect(TokenKind::Test, "`test`")?.span;
        let name = self.literal_of(TokenKind::String, "the test's name as a string")?;
        let open = self.expect(TokenKind::LBrace, "`{`")?.span;
        let mut steps = Vec::new();
        loop {
            if self.eat(TokenKind::RBrace).is_some() {
                break;
            }
            if self.at(TokenKind::Eof) {
                self.unclosed(open);
                return Err(Fail);
            }
            steps.push(self.test_step()?);
        }
        Ok(TestDecl { docs, name, steps, span: self.span_from(start) })
    }

    fn test_step(&mut self) -> PResult<TestStep> {
        let t = self.tok();
        let word = if t.kind == TokenKind::Ident { self.text(t.span) } else { "" };
        let step = match word {
            "using" => {
                self.bump();
                let names = self.one_or_more(None, |p, _| p.ident("a fixture name"))?;
                TestStep::Using(names, self.span_from(t.span))
            }
            "at" => {
                self.bump();
                TestStep::At(self.literal_of(TokenKind::DateTime, "a time such as `2026-11-26T09:00:00Z`")?)
            }
            "advance" => {
                self.bump();
                TestStep::Advance(self.literal_of(TokenKind::Duration, "a duration such as `2h`")?)
            }
            "entities" => {
                self.bump();
                let entities = self.entity_block()?;
                // No `;` after the block: the grammar's `entities_stmt` has none.
                return Ok(TestStep::Entities(entities, self.span_from(t.span)));
            }
            "link" => {
                self.bump();
                let id = self.literal_of(TokenKind::String, "the link's id as a string, such as `\"alice-f1\"`")?;
                self.expect_word("to")?;
                let template =
                    self.literal_of(TokenKind::String, "the template's id as a string, such as `\"sharing.share\"`")?;
                let open = self.expect(TokenKind::LBrace, "`{`")?.span;
                let mut values = Vec::new();
                while !self.at(TokenKind::RBrace) {
                    if self.at(TokenKind::Eof) {
                        self.unclosed(open);
                        return Err(Fail);
                    }
                    if !self.at(TokenKind::Question) {
                        return self.fail_expected("a slot, `?principal` or `?resource`");
                    }
                    let slot = self.slot()?;
                    let ExprKind::Slot(var) = slot.kind else { return Err(Fail) };
                    self.expect(TokenKind::Colon, "`:`")?;
                    values.push((var, slot.span, self.entity_ref()?));
                    if self.eat(TokenKind::Comma).is_none() {
                        break;
                    }
                }
                self.expect(TokenKind::RBrace, "`,` or `}`")?;
                TestStep::Link(LinkStep { id, template, values, span: self.span_from(t.span) })
            }
            "request" => {
                self.bump();
                let (fields, fields_span) = self.record_entries()?;
                let result = if self.eat_word("returns").is_some() { Some(self.expr()?) } else { None };
                let mut expectations = Vec::new();
                while self.at_word("expect") {
                    expectations.push(self.expectation()?);
                }
                self.eat(TokenKind::Semi);
                return Ok(TestStep::Request(RequestStep {
                    fields,
                    fields_span,
                    result,
                    expectations,
                    span: self.span_from(t.span),
                }));
            }
            "expect" => {
                self.error(
                    "E0001",
                    t.span,
                    "`expect` must follow a `request`".to_string(),
                    "no request before this expectation",
                    Some("write the expectations right after the `request { … }` they check".to_string()),
                );
                return Err(Fail);
            }
            _ => return self.fail_expected("`request`, `using`, `at`, `advance`, `entities`, `link` or `}`"),
        };
        self.eat(TokenKind::Semi);
        Ok(step)
    }

    fn expectation(&mut self) -> PResult<Expectation> {
        let start = self.expect_word("expect")?.span;
        let t = self.tok();
        let outcome = match (t.kind, self.text(t.span)) {
            (TokenKind::Ident, "allow") => Outcome::Allow,
            (TokenKind::Ident, "deny") => Outcome::Deny,
            (TokenKind::Ident, "approval_required") => Outcome::ApprovalRequired,
            (TokenKind::Ident, "error") => Outcome::Error,
            _ => return self.fail_expected("`allow`, `deny`, `approval_required` or `error`"),
        };
        self.bump();
        let by = if self.eat_word("by").is_some() {
            self.one_or_more(None, |p, i| {
                p.literal_of(
                    TokenKind::String,
                    if i == 0 { "a rule id such as `\"policy.rule-id\"`" } else { "a rule id" },
                )
            })?
        } else {
            Vec::new()
        };
        let details = if self.eat_word("with").is_some() {
            self.one_or_more(None, |p, _| p.expect_detail())?
        } else {
            Vec::new()
        };
        self.eat(TokenKind::Semi);
        Ok(Expectation { outcome, outcome_span: t.span, by, details, span: self.span_from(start) })
    }

    fn expect_detail(&mut self) -> PResult<ExpectDetail> {
        if self.eat(TokenKind::Obligation).is_some() {
            return Ok(ExpectDetail::Obligation(self.path("an obligation name")?));
        }
        if self.eat(TokenKind::Mask).is_some() {
            return Ok(ExpectDetail::Mask(self.mask_path()?));
        }
        if self.eat_word("error").is_some() {
            return Ok(ExpectDetail::Error(self.string()?));
        }
        if self.eat_word("remaining").is_some() {
            return Ok(ExpectDetail::Remaining(self.literal_of(TokenKind::Integer, "a count")?));
        }
        self.fail_expected("`obligation`, `mask`, `error` or `remaining`")
    }
}

fn brace_delta(kind: TokenKind) -> i32 {
    match kind {
        TokenKind::LBrace => 1,
        TokenKind::RBrace => -1,
        _ => 0,
    }
}

fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    let span = lhs.span.to(rhs.span);
    Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span }
}

/// A dotted name as an expression: a name followed by member accesses.
fn path_to_expr(path: Path) -> Expr {
    let mut segments = path.segments.into_iter();
    let Some(first) = segments.next() else {
        return Expr { kind: ExprKind::Set(Vec::new()), span: path.span };
    };
    let start = first.span;
    let mut expr = Expr { span: first.span, kind: ExprKind::Name(first) };
    for seg in segments {
        let span = start.to(seg.span);
        expr = Expr { kind: ExprKind::Member { base: Box::new(expr), name: seg }, span };
    }
    expr
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max).collect();
    out.push('…');
    out
}

/// `Ns` + `::Part`: a namespaced name is one identifier whose text holds
/// the `::` (how such names are compared everywhere), spanning all parts.
fn join_qualified(name: &mut Ident, part: &Ident) {
    name.name.push_str("::");
    name.name.push_str(&part.name);
    name.span = name.span.to(part.span);
}

/// Joins `part` to the path's last segment (`Ns::User`), widening the path.
fn qualify_last(path: &mut Path, part: &Ident) {
    if let Some(last) = path.segments.last_mut() {
        join_qualified(last, part);
    }
    path.span = path.span.to(part.span);
}
