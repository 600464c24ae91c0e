//! The lexer: logos turns text into tokens.
//!
//! Comments are tokens too (the formatter keeps them and the parser attaches
//! `///` docs to declarations); the parser skips them. Only reserved keywords
//! get their own kinds; contextual keywords (`on`, `with`, `per`, …) are
//! identifiers that the parser recognises by their text.

use logos::Logos;

use crate::Span;

/// The kind of a token. Literal values are read from the source text by span.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[logos(skip r"[ \t\r\n]+")]
pub enum TokenKind {
    // ── reserved keywords ──
    #[token("schema")]
    Schema,
    #[token("entity")]
    Entity,
    #[token("enum")]
    Enum,
    #[token("type")]
    Type,
    #[token("action")]
    Action,
    #[token("context")]
    Context,
    #[token("agent")]
    Agent,
    #[token("policy")]
    Policy,
    #[token("permit")]
    Permit,
    #[token("forbid")]
    Forbid,
    #[token("mask")]
    Mask,
    #[token("limit")]
    Limit,
    #[token("detector")]
    Detector,
    #[token("import")]
    Import,
    #[token("test")]
    Test,
    #[token("fixture")]
    Fixture,
    #[token("when")]
    When,
    #[token("unless")]
    Unless,
    #[token("principal")]
    Principal,
    #[token("resource")]
    Resource,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("in")]
    In,
    #[token("has")]
    Has,
    #[token("like")]
    Like,
    #[token("matches")]
    Matches,
    #[token("previously")]
    Previously,
    #[token("obligation")]
    Obligation,
    #[token("advice")]
    Advice,

    // ── words and literals ──
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident,
    #[regex(r#""([^"\\\n]|\\[^\n])*""#)]
    String,
    /// A string with no closing quote on its line.
    #[regex(r#""([^"\\\n]|\\[^\n])*"#)]
    UnterminatedString,
    #[regex(r"[0-9]+")]
    Integer,
    #[regex(r"[0-9]+\.[0-9]+")]
    Decimal,
    #[regex(r"([0-9]+(ms|w|d|h|m|s))+")]
    Duration,
    #[regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")]
    Date,
    #[regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})")]
    DateTime,

    // ── comments ──
    #[regex(r"///[^\n]*", allow_greedy = true)]
    DocComment,
    #[regex(r"//[^\n]*", allow_greedy = true)]
    Comment,

    // ── punctuation ──
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token("::")]
    ColonColon,
    #[token(";")]
    Semi,
    #[token(".")]
    Dot,
    #[token("@")]
    At,
    #[token("=")]
    Eq,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("&&")]
    AndAnd,
    #[token("||")]
    OrOr,
    /// `|` between the members of an entity-type union (`User | Team`).
    #[token("|")]
    Pipe,
    #[token("!")]
    Bang,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("?")]
    Question,
    #[token("*")]
    Star,

    /// Text the lexer does not recognise (or a literal glued to a word).
    Error,
    /// The end of the input; [`lex`] never produces it, the parser adds it.
    Eof,
}

/// Ward's reserved words: never names (except after `.` and as record keys).
/// The one list: the LSP's rename, the tests and the editor grammar's test
/// (editors/vscode/test/examples.js reads it from this file) use it.
pub const RESERVED_WORDS: [&str; 29] = [
    "schema",
    "entity",
    "enum",
    "type",
    "action",
    "context",
    "agent",
    "policy",
    "permit",
    "forbid",
    "mask",
    "limit",
    "detector",
    "import",
    "test",
    "fixture",
    "when",
    "unless",
    "principal",
    "resource",
    "true",
    "false",
    "in",
    "has",
    "like",
    "matches",
    "previously",
    "obligation",
    "advice",
];

impl TokenKind {
    /// True for comment tokens, which the parser skips.
    pub fn is_trivia(self) -> bool {
        matches!(self, TokenKind::Comment | TokenKind::DocComment)
    }

    /// True for reserved keywords, which can never be identifiers.
    pub fn is_reserved(self) -> bool {
        use TokenKind::*;
        matches!(
            self,
            Schema
                | Entity
                | Enum
                | Type
                | Action
                | Context
                | Agent
                | Policy
                | Permit
                | Forbid
                | Mask
                | Limit
                | Detector
                | Import
                | Test
                | Fixture
                | When
                | Unless
                | Principal
                | Resource
                | True
                | False
                | In
                | Has
                | Like
                | Matches
                | Previously
                | Obligation
                | Advice
        )
    }

    /// True for tokens that are spelled as a word (identifiers and keywords).
    pub fn is_word(self) -> bool {
        self == TokenKind::Ident || self.is_reserved()
    }

    fn is_number_like(self) -> bool {
        use TokenKind::*;
        matches!(self, Integer | Decimal | Duration | Date | DateTime)
    }

    /// How the token is named in "expected …, found …" messages.
    pub fn describe(self) -> &'static str {
        use TokenKind::*;
        match self {
            Ident => "an identifier",
            String => "a string",
            UnterminatedString => "an unterminated string",
            Integer => "an integer",
            Decimal => "a decimal",
            Duration => "a duration",
            Date => "a date",
            DateTime => "a time",
            DocComment | Comment => "a comment",
            LBrace => "`{`",
            RBrace => "`}`",
            LParen => "`(`",
            RParen => "`)`",
            LBracket => "`[`",
            RBracket => "`]`",
            Comma => "`,`",
            Colon => "`:`",
            ColonColon => "`::`",
            Semi => "`;`",
            Dot => "`.`",
            At => "`@`",
            Eq => "`=`",
            EqEq => "`==`",
            NotEq => "`!=`",
            Lt => "`<`",
            Le => "`<=`",
            Gt => "`>`",
            Ge => "`>=`",
            AndAnd => "`&&`",
            OrOr => "`||`",
            Pipe => "`|`",
            Bang => "`!`",
            Plus => "`+`",
            Minus => "`-`",
            Question => "`?`",
            Star => "`*`",
            Error => "an unrecognised character",
            Eof => "the end of the file",
            _ => "a keyword",
        }
    }
}

/// A token: its kind and where it is. Its text is `&source[span]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

/// Splits `source` into tokens, comments included. Never fails: text the
/// lexer cannot read becomes [`TokenKind::Error`] tokens.
pub fn lex(source: &str) -> Vec<Token> {
    let mut tokens: Vec<Token> = Vec::new();
    let mut lexer = TokenKind::lexer(source);
    while let Some(result) = lexer.next() {
        let range = lexer.span();
        let span = Span::new(range.start, range.end);
        let kind = result.unwrap_or(TokenKind::Error);
        // A number glued to a word (`10x`, `90dd`, `2026-01-01x`) is one bad
        // token, as in the grammar, not a number followed by a name.
        if let Some(prev) = tokens.last_mut() {
            // So is an integer followed by `.` (`10.x`): the grammar's
            // integers may not be followed by a dot.
            let glued = prev.span.end == span.start
                && ((prev.kind.is_number_like() || prev.kind == TokenKind::Error)
                    && (kind.is_word() || kind.is_number_like() || kind == TokenKind::Error)
                    || prev.kind == TokenKind::Integer && kind == TokenKind::Dot);
            if glued {
                prev.kind = TokenKind::Error;
                prev.span.end = span.end;
                continue;
            }
        }
        // Merge runs of unrecognised characters into one error token.
        if kind == TokenKind::Error
            && let Some(prev) = tokens.last_mut()
            && prev.kind == TokenKind::Error
            && prev.span.end == span.start
        {
            prev.span.end = span.end;
            continue;
        }
        tokens.push(Token { kind, span });
    }
    tokens
}

#[cfg(test)]
mod tests {

    #[test]
    fn reserved_words_are_exactly_the_reserved_tokens() {
        for word in RESERVED_WORDS {
            let tokens = lex(word);
            assert!(
                matches!(tokens.as_slice(), [t] if t.kind.is_reserved()),
                "`{word}` does not lex as one reserved token"
            );
        }
        // And no other word is reserved: every reserved token kind is spelled by one listed word.
        let kinds: std::collections::HashSet<TokenKind> =
            RESERVED_WORDS.iter().filter_map(|w| lex(w).first().map(|t| t.kind)).collect();
        assert_eq!(kinds.len(), RESERVED_WORDS.len());
    }
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        lex(src).into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn keywords_are_whole_words() {
        use TokenKind::*;
        assert_eq!(kinds("schema schemas in inx"), vec![Schema, Ident, In, Ident]);
    }

    #[test]
    fn literals() {
        use TokenKind::*;
        assert_eq!(
            kinds(r#"12 1.5 90d 1h30m 250ms 2026-11-26 2026-11-26T09:00:00Z "a\"b""#),
            vec![Integer, Decimal, Duration, Duration, Duration, Date, DateTime, String]
        );
    }

    #[test]
    fn glued_number_and_word_is_an_error() {
        use TokenKind::*;
        assert_eq!(kinds("10x 90dd y"), vec![Error, Error, Ident]);
    }

    #[test]
    fn integer_glued_to_a_dot_is_an_error() {
        use TokenKind::*;
        // As in the grammar: an integer is never followed by `.`; a decimal,
        // a date or a spaced integer may be.
        assert_eq!(
            kinds("10.x 10. 10 .x 1.5.x 2026-01-01.x"),
            vec![Error, Error, Integer, Dot, Ident, Decimal, Dot, Ident, Date, Dot, Ident]
        );
    }

    #[test]
    fn only_spaces_tabs_and_line_breaks_separate_tokens() {
        use TokenKind::*;
        assert_eq!(kinds("a \t\r\nb"), vec![Ident, Ident]);
        assert_eq!(kinds("a \u{c} b"), vec![Ident, Error, Ident]);
    }

    #[test]
    fn comments_are_kept() {
        use TokenKind::*;
        assert_eq!(kinds("/// doc\n// note\nx"), vec![DocComment, Comment, Ident]);
    }

    #[test]
    fn unterminated_string() {
        assert_eq!(kinds("\"abc\nx"), vec![TokenKind::UnterminatedString, TokenKind::Ident]);
    }
}
