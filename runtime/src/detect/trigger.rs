//! The trigger pass: one scan over the bytes that finds where a built-in
//! detector's match can start (digits, `@`, `:`, literal prefixes), so the
//! regex runs anchored at those positions only.

use super::builtin::Kind;
use super::confirm::{before, byte, digits_from};

/// What the trigger pass looks for.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Triggers {
    digits: bool,
    iban: bool,
    phone: bool,
    colon: bool,
    at: bool,
    jwt: bool,
    bearer: bool,
    aws_key: bool,
    aws_secret: bool,
    pub(super) pem: bool,
    putty: bool,
    /// Nine bare digits can start an SSN (confirmed by a keyword before them).
    ssn: bool,
}

impl Triggers {
    pub(super) fn with(mut self, kind: Kind) -> Triggers {
        match kind {
            Kind::PrivateKey => self.pem = true,
            Kind::Putty => self.putty = true,
            Kind::Jwt => self.jwt = true,
            Kind::Bearer => self.bearer = true,
            Kind::AwsKeyId => self.aws_key = true,
            Kind::AwsSecret => self.aws_secret = true,
            Kind::Email => self.at = true,
            Kind::Iban => self.iban = true,
            Kind::Card | Kind::Ipv4 => self.digits = true,
            Kind::Ssn => {
                self.digits = true;
                self.ssn = true;
            }
            Kind::Ipv6 => self.colon = true,
            Kind::Phone => {
                self.digits = true;
                self.phone = true;
            }
        }
        self
    }

    /// The trigger-byte classes to stop at.
    fn mask(&self) -> u8 {
        let mut m = 0;
        for (on, bit) in [(self.digits || self.iban, T_DIGIT), (self.at, T_AT), (self.colon, T_COLON)] {
            if on {
                m |= bit;
            }
        }
        m
    }

    /// The literal prefixes to look for, and what each starts.
    fn literals(&self) -> Vec<(Vec<u8>, Literal)> {
        let mut out = Vec::new();
        if self.jwt {
            out.push((b"eyJ".to_vec(), Literal::Word));
        }
        if self.aws_key {
            out.extend([(b"AKIA".to_vec(), Literal::Word), (b"ASIA".to_vec(), Literal::Word)]);
        }
        if self.aws_secret {
            out.extend([(b"aws".to_vec(), Literal::Word), (b"AWS".to_vec(), Literal::Word)]);
        }
        if self.bearer {
            out.extend([
                (b"Bearer".to_vec(), Literal::Word),
                (b"bearer".to_vec(), Literal::Word),
                (b"BEARER".to_vec(), Literal::Word),
            ]);
        }
        if self.pem {
            out.extend([
                (b"-----BEGIN ".to_vec(), Literal::Start(0)),
                (b"-----END ".to_vec(), Literal::PemEnd),
                (b"---- BEGIN SSH2 ".to_vec(), Literal::Start(0)),
                (b"---- END SSH2 ".to_vec(), Literal::PemEnd),
            ]);
        }
        if self.putty {
            out.push((b"PuTTY-User-Key-File-".to_vec(), Literal::Start(0)));
        }
        out
    }
}

/// The literals every match of a kind starts with, for the kinds that have
/// them (`None`: a kind that starts otherwise).
pub(super) fn start_literals(kind: Kind) -> Option<&'static [&'static [u8]]> {
    Some(match kind {
        Kind::Jwt => &[b"eyJ"],
        Kind::AwsKeyId => &[b"AKIA", b"ASIA"],
        Kind::AwsSecret => &[b"aws", b"AWS"],
        Kind::Bearer => &[b"Bearer", b"bearer", b"BEARER"],
        Kind::PrivateKey => &[b"-----BEGIN ", b"---- BEGIN SSH2 "],
        Kind::Putty => &[b"PuTTY-User-Key-File-"],
        Kind::Email | Kind::Iban | Kind::Card | Kind::Ssn | Kind::Ipv6 | Kind::Ipv4 | Kind::Phone => return None,
    })
}

/// What an occurrence of a literal prefix means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Literal {
    /// A match may start here if a word starts here.
    Word,
    /// A match may start this many bytes before the literal (a user
    /// pattern's fixed-width head, often 0).
    Start(usize),
    /// The end of a PEM block (see [`pem_block`]).
    PemEnd,
}

pub(super) const T_DIGIT: u8 = 1;
pub(super) const T_AT: u8 = 2;
pub(super) const T_COLON: u8 = 4;

/// The trigger class of a byte.
pub(super) fn trigger(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => T_DIGIT,
        b'@' => T_AT,
        b':' => T_COLON,
        _ => 0,
    }
}

/// Whether the number starting at `r` (a run of `run` digits) can be the start of a card, SSN,
/// IPv4 address or phone number that validates: at least seven digits
/// (four with three dots) before any byte none of them contains; not a
/// bare run of fewer than 13 digits (only a card is written without
/// separators, and only after `+` is a phone number) unless it is nine
/// digits and `bare_ssn` (an SSN after a keyword); not a date.
pub(super) fn numeric_token(b: &[u8], r: usize, run: usize, bare_ssn: bool) -> bool {
    let after = byte(b, r + run);
    let prefixed = matches!(before(b, r, 1), b'+' | b'(');
    if !prefixed && !matches!(after, b' ' | b'.' | b'-' | b'/' | b'(' | b')') && run < 13 {
        return bare_ssn && run == 9;
    }
    if bare_ssn && run == 9 {
        return true;
    }
    if !prefixed && starts_with_date(b, r) {
        return false;
    }
    if run >= 7 {
        return true;
    }
    // The run is digits: count on from its end, within the same 40 bytes.
    let (mut digits, mut dots) = (run, 0);
    for &c in b.iter().skip(r + run).take(40 - run) {
        match c {
            b'0'..=b'9' => digits += 1,
            b'.' => dots += 1,
            b' ' | b'-' | b'/' | b'(' | b')' | b'+' => {}
            _ => break,
        }
        if digits >= 7 {
            return true;
        }
    }
    dots >= 3 && digits >= 4
}

/// Whether a card, an SSN, an IPv4 address or a phone number written
/// without `+` or `(` can be found starting at the run of `run` digits at `r`: a
/// necessary condition, read off each kind's regex and confirmation, so
/// that skipping `r` when it fails changes no result. Most numbers in
/// logs and records fail it (epoch milliseconds, `INV-2024-000123`,
/// `#48213377`, `v20240315`) and cost no anchored regex run.
///
/// - All four regexes start with an ASCII word boundary: after a letter
///   or `_` none can start.
/// - A card's first digit is its issuer's: 2 to 6. Its regex needs 13
///   digits, each after at most one space or dash.
/// - An SSN is three digits then `-` or a space, or nine digits.
/// - An IPv4 address starts with at most three digits and a dot.
/// - A phone number starting with a digit has at least two digit groups
///   (so the run is followed by a separator and a digit), and is rejected
///   after `+` (a `+` number starts at the `+`), `#`, a decimal point
///   (`1.4155550142`) or the dash of an id (`INV-4155550142`).
pub(super) fn number_can_start(b: &[u8], r: usize, run: usize) -> bool {
    let (p1, p2) = (before(b, r, 1), before(b, r, 2));
    if is_word(p1) {
        return false;
    }
    let (after, next) = (byte(b, r + run), byte(b, r + run + 1));
    if (run == 3 && matches!(after, b'-' | b' ')) || run == 9 {
        return true; // an SSN
    }
    if run <= 3 && after == b'.' {
        return true; // an IPv4 address
    }
    if matches!(byte(b, r), b'2'..=b'6') && card_digits(b, r) >= 13 {
        return true;
    }
    let grouped = matches!(after, b' ' | b'.' | b'-' | b'/') && next.is_ascii_digit();
    let id_before =
        matches!(p1, b'+' | b'#') || (p1 == b'-' && p2.is_ascii_alphanumeric()) || (p1 == b'.' && p2.is_ascii_digit());
    grouped && !id_before
}

/// How many digits (up to 13) the card regex `[0-9](?:[ -]?[0-9])*` reaches from `r`.
fn card_digits(b: &[u8], r: usize) -> usize {
    let (mut n, mut i) = (0, r);
    while n < 13 {
        match byte(b, i) {
            c if c.is_ascii_digit() => {
                n += 1;
                i += 1;
            }
            b' ' | b'-' if n > 0 && byte(b, i + 1).is_ascii_digit() => i += 1,
            _ => break,
        }
    }
    n
}

/// `2024-03-15…`, `15.03.2024…`: a card's first group has four digits and
/// its groups one separator; an SSN is `ddd-dd-dddd`; a phone number that
/// starts with a date is rejected. Nothing that starts so validates.
pub(super) fn starts_with_date(b: &[u8], r: usize) -> bool {
    let year = |i: usize| digits_from(b, i) == 4 && matches!((byte(b, i), byte(b, i + 1)), (b'1', b'9') | (b'2', b'0'));
    let short = |i: usize| (1..=2).contains(&digits_from(b, i));
    let sep = |i: usize| matches!(byte(b, i), b'-' | b'.' | b'/');
    let first = digits_from(b, r);
    if first == 4 && year(r) && sep(r + 4) && short(r + 5) {
        let m = r + 5 + digits_from(b, r + 5);
        return byte(b, m) == byte(b, r + 4) && short(m + 1);
    }
    if (1..=2).contains(&first) && sep(r + first) && short(r + first + 1) {
        let m = r + first + 1 + digits_from(b, r + first + 1);
        return byte(b, m) == byte(b, r + first) && year(m + 1);
    }
    false
}

/// The longest IPv6 address without its zone: six groups of four and a
/// dotted quad.
const IPV6_MAX: usize = 45;

/// Whether an IPv6 address can start at `s`. Each of the regex's three
/// forms starts with a colon or with one to four hex digits and a colon,
/// and has within its first `IPV6_MAX` bytes (hex digits, colons and the
/// dots of an IPv4 tail) either a `::` or six colons.
pub(super) fn ipv6_may_start(b: &[u8], s: usize) -> bool {
    let head = b.get(s..).map_or(0, |r| r.iter().take(5).take_while(|c| c.is_ascii_hexdigit()).count());
    if !(byte(b, s) == b':' || ((1..=4).contains(&head) && byte(b, s + head) == b':')) {
        return false;
    }
    let run = b.get(s..).unwrap_or(&[]);
    let run = run.get(..IPV6_MAX).unwrap_or(run);
    let (mut colons, mut prev) = (0, 0);
    for &c in run {
        if c == b':' {
            if prev == b':' {
                return true;
            }
            colons += 1;
            if colons >= 6 {
                return true;
            }
        } else if !(c.is_ascii_hexdigit() || c == b'.') {
            return false;
        }
        prev = c;
    }
    false
}

pub(super) fn is_local_part(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '%' | '+' | '-')
}

pub(super) fn is_hex_or_colon(c: u8) -> bool {
    c.is_ascii_hexdigit() || c == b':'
}

/// Candidate start positions for built-in detectors: sorted, without
/// duplicates. One pass over the bytes stops at digits, `@` and `:`; one
/// Aho-Corasick search (SIMD where the CPU has it) finds the literal
/// prefixes. `pem_ends` receives the positions of `-----END `.
pub(super) fn candidate_starts(
    t: &Triggers,
    literals: Option<&Literals>,
    text: &str,
    pem_ends: &mut Vec<usize>,
) -> Vec<usize> {
    let b = text.as_bytes();
    let mask = t.mask();
    let mut out: Vec<usize> = Vec::new();
    // Kept sorted as it grows: a start behind the last one (an e-mail's
    // local part, an IPv6 address's first group, an IBAN's letters) lies
    // in the bytes just read back from its trigger, so inserting it moves
    // only starts found in those bytes.
    let push = |out: &mut Vec<usize>, s: usize| match out.last() {
        Some(l) if *l > s => {
            let k = out.partition_point(|p| *p < s);
            if out.get(k) != Some(&s) {
                out.insert(k, s);
            }
        }
        Some(l) if *l == s => {}
        _ => out.push(s),
    };
    // The last `:` seen and the start of its run of hex digits and colons.
    let mut colon: Option<(usize, usize)> = None;
    each_trigger(b, mask, |i| {
        let c = byte(b, i);
        if c.is_ascii_digit() {
            let run = digits_from(b, i);
            let prev = before(b, i, 1);
            if t.iban && i >= 2 && before(b, i, 2).is_ascii_alphabetic() && prev.is_ascii_alphabetic() {
                push(&mut out, i - 2);
            }
            // After a letter or `_` no number kind starts (their regexes
            // start with a word boundary, or at the `+` or `(` before):
            // most digits of hex strings and ids stop here.
            if t.digits && !is_word(prev) && numeric_token(b, i, run, t.ssn) {
                if t.phone && (prev == b'+' || prev == b'(') {
                    push(&mut out, i - 1);
                }
                if number_can_start(b, i, run) {
                    push(&mut out, i);
                }
            }
            return i + run;
        }
        if c == b'@' {
            let head = text.get(..i).unwrap_or("");
            let run: usize = head.chars().rev().take_while(|c| is_local_part(*c)).map(char::len_utf8).sum();
            if run > 0 {
                push(&mut out, i - run);
            }
        } else if c == b':' {
            let start = match colon {
                Some((last, start)) if b.get(last + 1..i).is_some_and(|r| r.iter().all(|c| is_hex_or_colon(*c))) => {
                    start
                }
                _ => {
                    let floor = colon.map_or(0, |(last, _)| last + 1);
                    let back =
                        b.get(floor..i).map_or(0, |r| r.iter().rev().take_while(|c| c.is_ascii_hexdigit()).count());
                    i - back
                }
            };
            colon = Some((i, start));
            // An address has a hex digit or another colon next to each colon.
            if is_hex_or_colon(before(b, i, 1)) || is_hex_or_colon(byte(b, i + 1)) {
                // Most colons of logs and records start no address
                // (`"code":200`, `10:42:07`, `Re: `); only IPv6 starts here.
                if ipv6_may_start(b, start) {
                    push(&mut out, start);
                }
                if byte(b, start) == b':' && ipv6_may_start(b, start + 1) {
                    push(&mut out, start + 1); // `host:2001:db8::1`
                }
            }
        }
        i + 1
    });
    if let Some(lits) = literals {
        let mut found = Vec::new();
        lits.each(b, |at, kind| match kind {
            Literal::Word if !is_word(before(b, at, 1)) => found.push(at),
            Literal::Word => {}
            Literal::Start(head) => {
                if let Some(s) = at.checked_sub(head)
                    && text.is_char_boundary(s)
                {
                    found.push(s);
                }
            }
            Literal::PemEnd => pem_ends.push(at),
        });
        if !pem_ends.is_empty() {
            pem_ends.sort_unstable();
            pem_ends.dedup();
        }
        if !found.is_empty() {
            found.sort_unstable();
            return merge(out, &found);
        }
    }
    out
}

/// Two sorted lists of starts as one, sorted and without duplicates: the
/// few literal starts go into the many trigger starts in one pass.
fn merge(a: Vec<usize>, b: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.iter().copied().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x <= y => a.next(),
            (Some(_), Some(_)) | (None, Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, None) => break,
        };
        if let Some(n) = next
            && out.last() != Some(&n)
        {
            out.push(n);
        }
    }
    out
}

/// Calls `visit` at each byte in the trigger classes of `mask`, in order;
/// `visit` returns where to go on from (past a digit run it read whole).
///
/// Eight bytes at a time, each word read once: a word without any byte in
/// `'0'..='@'` (the trigger bytes and `;<=>?`, rare in text) is skipped
/// with a few arithmetic operations, and in one with, the trigger bytes
/// are found from exact per-byte flags, all of them before the next word.
pub(super) fn each_trigger(b: &[u8], mask: u8, mut visit: impl FnMut(usize) -> usize) {
    use super::swar::{any_between, digits, equal, first, word};
    if mask == 0 {
        return;
    }
    let on = |class: u8| if mask & class != 0 { u64::MAX } else { 0 };
    let (digit_on, at_on, colon_on) = (on(T_DIGIT), on(T_AT), on(T_COLON));
    // `next`: where `visit` asked to go on from; `base`: the word read.
    let (mut next, mut base) = (0usize, 0usize);
    while let Some(w) = b.get(base..).and_then(word) {
        if any_between(w, b'0' - 1, b'@' + 1) {
            let mut flags = (digits(w) & digit_on) | (equal(w, b'@') & at_on) | (equal(w, b':') & colon_on);
            loop {
                // Only the flags at or past `next` are still to visit.
                flags &= match next.checked_sub(base) {
                    Some(skip) if skip >= 8 => 0,
                    Some(skip) => u64::MAX << (8 * skip),
                    None => u64::MAX,
                };
                if flags == 0 {
                    break;
                }
                next = visit(base + first(flags));
            }
        }
        base = (base + 8).max(next);
    }
    // The last bytes, fewer than eight; `base` is past every visited run.
    let hit = |c: &u8| trigger(*c) & mask != 0;
    let mut i = base;
    while let Some(p) = b.get(i..).and_then(|rest| rest.iter().position(hit)) {
        i = visit(i + p);
    }
}

pub(super) fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The literal prefixes of the detectors in a set (built-in kinds' and
/// user patterns'), some matched exactly, some ignoring ASCII case (the
/// prefixes of `(?i)` patterns), found in one pass: every occurrence of
/// every literal is reported, overlapping ones included, so that no start
/// hides inside another literal.
#[derive(Debug)]
pub(super) struct Literals {
    /// Finds the next position where a literal starts (ignoring ASCII case
    /// if any literal does); `by_first_byte` says which start there.
    /// Leftmost-first semantics: with exact literals only it gets a SIMD
    /// prefilter (Teddy), which standard semantics never get — with more
    /// than three distinct first bytes (`e`, `A`, `a`, `B`, `b`, `-`, `P`
    /// for the built-in kinds) a standard automaton steps through every
    /// byte.
    locate: aho_corasick::AhoCorasick,
    /// Each literal, what it means, whether it ignores case.
    literals: Vec<(Vec<u8>, Literal, bool)>,
    /// Indexes into `literals`, by first byte (both cases of it for a
    /// literal that ignores case).
    by_first_byte: Vec<Vec<usize>>,
}

impl Literals {
    /// `user`: each user pattern's prefixes, whether they ignore case, and
    /// the width of the head before them.
    pub(super) fn new(t: &Triggers, user: &[(Vec<Vec<u8>>, bool, usize)]) -> Result<Option<Literals>, String> {
        let mut literals: Vec<(Vec<u8>, Literal, bool)> =
            t.literals().into_iter().map(|(l, k)| (l, k, false)).collect();
        for (prefixes, fold, head) in user {
            for p in prefixes {
                let entry = (p.clone(), Literal::Start(*head), *fold);
                if !literals.contains(&entry) {
                    literals.push(entry);
                }
            }
        }
        if literals.is_empty() {
            return Ok(None);
        }
        let fold = literals.iter().any(|l| l.2);
        // Without a prefilter (literals ignoring case, or too many for
        // Teddy) the automaton steps through every byte: a DFA then, which
        // costs about half an NFA's instructions per byte (the default
        // for this many literals).
        let dfa = fold || literals.len() > 64;
        let locate = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostFirst)
            .kind(dfa.then_some(aho_corasick::AhoCorasickKind::DFA))
            .ascii_case_insensitive(fold)
            .build(literals.iter().map(|(l, _, _)| l))
            .map_err(|e| format!("detector prefixes do not compile: {e}"))?;
        let mut by_first_byte = vec![Vec::new(); 256];
        for (k, (l, _, folded)) in literals.iter().enumerate() {
            let Some(&c) = l.first() else { continue };
            let other_case = (*folded && c.is_ascii_alphabetic()).then_some(c ^ 0x20);
            for c in std::iter::once(c).chain(other_case) {
                if let Some(list) = by_first_byte.get_mut(usize::from(c)) {
                    list.push(k);
                }
            }
        }
        Ok(Some(Literals { locate, literals, by_first_byte }))
    }

    /// Every occurrence of every literal: its start and what it means.
    fn each(&self, b: &[u8], mut f: impl FnMut(usize, Literal)) {
        let mut from = 0;
        while let Some(m) = self.locate.find(aho_corasick::Input::new(b).range(from..)) {
            let at = m.start();
            let rest = b.get(at..).unwrap_or(&[]);
            for k in self.by_first_byte.get(usize::from(byte(b, at))).into_iter().flatten() {
                if let Some((l, kind, folded)) = self.literals.get(*k)
                    && rest.get(..l.len()).is_some_and(|r| if *folded { r.eq_ignore_ascii_case(l) } else { r == l })
                {
                    f(at, *kind);
                }
            }
            from = at + 1;
        }
    }
}
