//! Confirming a built-in candidate by its context: checksums, structure,
//! and what surrounds it (a card in the middle of a longer number, a phone
//! number that is a date or an amount, a PEM block's end).

use base64::Engine as _;

use super::builtin::Kind;
use super::swar;
use super::trigger::is_hex_or_colon;
use super::validate::{iban_ignoring_case, iban_length, luhn_bytes, ssn};

pub(super) fn byte(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

/// The byte `n` positions before `i` (0 before the start).
pub(super) fn before(b: &[u8], i: usize, n: usize) -> u8 {
    i.checked_sub(n).map_or(0, |j| byte(b, j))
}

pub(super) fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The run of ASCII digits from `i`, eight bytes at a time.
pub(super) fn digits_from(b: &[u8], i: usize) -> usize {
    let rest = b.get(i..).unwrap_or(&[]);
    let mut words = rest.chunks_exact(8);
    let mut n = 0;
    for chunk in &mut words {
        let Some(w) = swar::word(chunk) else { break };
        let not_digits = !swar::digits(w) & swar::H;
        if not_digits != 0 {
            return n + swar::first(not_digits);
        }
        n += 8;
    }
    n + rest.get(n..).map_or(0, |r| r.iter().take_while(|c| c.is_ascii_digit()).count())
}

pub(super) fn digits_before(b: &[u8], i: usize) -> usize {
    b.get(..i).map_or(0, |r| r.iter().rev().take_while(|c| c.is_ascii_digit()).count())
}

/// Whether a run of digits is part of a token of another shape: an IP
/// address, a time, a path, a version, a hex string (`10.0.0.1`, `12:30`,
/// `v1.2`, `8d:30:0e`), given the byte that delimits the run and the one
/// beyond it.
pub(super) fn other_token(delimiter: u8, beyond: u8) -> bool {
    delimiter.is_ascii_alphabetic() || (matches!(delimiter, b'.' | b':' | b'/') && beyond.is_ascii_alphanumeric())
}

/// Whether the number at `s..e` continues on either side: another group
/// of the same number after a separator, thousands before it, a decimal
/// part after it. It is then a piece of a longer number (a tracking code,
/// an amount), not a number of its own. Digits that belong to a token of
/// another shape (`10.0.0.1 4111 1111 1111 1111`, `… 14:41:18`) or to the
/// next field of a CSV row (`…,4111111111111111,536-22-8145`) do not count.
pub(super) fn glued(b: &[u8], s: usize, e: usize, seps: &[u8]) -> bool {
    glued_before(b, s, seps) || glued_after(b, e, seps)
}

pub(super) fn glued_before(b: &[u8], s: usize, seps: &[u8]) -> bool {
    let (p1, p2) = (before(b, s, 1), before(b, s, 2));
    if p1.is_ascii_digit() {
        return true;
    }
    if !p2.is_ascii_digit() {
        return false;
    }
    let run = digits_before(b, s - 1);
    let thousands = run <= 3 && digits_from(b, s) == 3 && matches!(byte(b, s + 3), b'.' | b',');
    if p1 == b'.' || (p1 == b',' && thousands) {
        return true; // `1.4111…`, `15,630,995.76`
    }
    seps.contains(&p1) && !other_token(before(b, s - 1 - run, 1), before(b, s - 1 - run, 2))
}

pub(super) fn glued_after(b: &[u8], e: usize, seps: &[u8]) -> bool {
    let (n1, n2) = (byte(b, e), byte(b, e + 1));
    if n1.is_ascii_digit() {
        return true;
    }
    if !n2.is_ascii_digit() {
        return false;
    }
    let run = digits_from(b, e + 1);
    if n1 == b'.' || (n1 == b',' && run <= 2) {
        return true; // a decimal part
    }
    seps.contains(&n1) && !other_token(byte(b, e + 1 + run), byte(b, e + 2 + run))
}

/// Whether the value at `s..e` runs on into a longer number: a digit right
/// before or after it, or a decimal point before it (`0.30000000000000004`).
/// Any separator between two numbers — a space, a line break, a comma, a
/// dash — leaves each its own: `123-45-6789 4111111111111111` is an SSN
/// and a card, and `4111 1111 1111 1111 5500 0000 0000 0004` two cards.
/// (Cards and SSNs validate on their own; a leak costs more than a masked
/// tracking number.)
pub(super) fn runs_on(b: &[u8], s: usize, e: usize) -> bool {
    let (p1, p2) = (before(b, s, 1), before(b, s, 2));
    p1.is_ascii_digit() || byte(b, e).is_ascii_digit() || (p1 == b'.' && p2.is_ascii_digit())
}

/// Payment card: uniform grouping, an issuer prefix in use with one of its
/// lengths, and the Luhn check.
pub(super) fn card(b: &[u8], s: usize, e: usize) -> bool {
    let Some(cand) = b.get(s..e) else { return false };
    let sep = cand.iter().copied().find(|c| !c.is_ascii_digit());
    if let Some(sep) = sep {
        let mut groups = cand.split(|c| *c == sep).peekable();
        let mut first = true;
        while let Some(g) = groups.next() {
            if g.iter().any(|c| !c.is_ascii_digit()) {
                return false; // mixed separators
            }
            let fits = match groups.peek() {
                None => !g.is_empty(),
                Some(_) => (!first || g.len() == 4) && (4..=6).contains(&g.len()),
            };
            if !fits {
                return false;
            }
            first = false;
        }
    }
    let mut lead = [0u32; 4];
    let mut n = 0;
    for c in cand.iter().filter(|c| c.is_ascii_digit()) {
        if let Some(d) = lead.get_mut(n) {
            *d = u32::from(c - b'0');
        }
        n += 1;
    }
    let prefix = |k: usize| lead.iter().take(k.min(n)).fold(0u32, |acc, d| acc * 10 + d);
    let brand = match () {
        _ if prefix(1) == 4 => n == 16 || n == 19 || (n == 13 && sep.is_some()),
        _ if (51..=55).contains(&prefix(2)) || (2221..=2720).contains(&prefix(4)) => n == 16,
        _ if prefix(2) == 34 || prefix(2) == 37 => n == 15,
        _ if prefix(4) == 6011 || prefix(2) == 65 || (644..=649).contains(&prefix(3)) || prefix(2) == 62 => {
            (16..=19).contains(&n)
        }
        _ if (3528..=3589).contains(&prefix(4)) => (16..=19).contains(&n),
        _ if (300..=305).contains(&prefix(3)) || matches!(prefix(2), 36 | 38 | 39) => (14..=19).contains(&n),
        _ => false,
    };
    brand && luhn_bytes(cand) && !runs_on(b, s, e)
}

/// Whether the text before `s` names a currency (`$ `, `€`, `EUR `, `R$ `):
/// what follows is an amount.
pub(super) fn after_currency(text: &str, s: usize) -> bool {
    let head = text.get(..s).unwrap_or("");
    let head = head.strip_suffix(' ').unwrap_or(head);
    ["$", "€", "£", "¥", "₹", "EUR", "USD", "GBP", "INR", "BRL", "CHF", "Rs", "Rs."].iter().any(|c| head.ends_with(c))
}

/// Words that introduce an identifier rather than a telephone number.
pub(super) const ID_WORDS: [&str; 34] = [
    "order",
    "ref",
    "reference",
    "serial",
    "sn",
    "invoice",
    "inv",
    "lot",
    "sku",
    "ticket",
    "case",
    "tracking",
    "account",
    "acct",
    "po",
    "id",
    "no",
    "nr",
    "isbn",
    "imei",
    "model",
    "part",
    "build",
    "meeting",
    "passcode",
    "pin",
    "code",
    "version",
    "ver",
    "firmware",
    "fw",
    "release",
    "rev",
    "revision",
];

/// Words that introduce a telephone number (`Tel. no.`, `Telefon-Nr.`).
pub(super) const PHONE_WORDS: [&str; 16] = [
    "tel",
    "phone",
    "telephone",
    "mobile",
    "mob",
    "cell",
    "fax",
    "call",
    "contact",
    "handy",
    "telefon",
    "tél",
    "téléphone",
    "portable",
    "telefone",
    "celular",
];

/// Whether the words just before `s` (on the same line) say that what
/// follows is an identifier: `Serial`, `Order no.`, `ID:`, `#`.
pub(super) fn id_context(text: &str, s: usize) -> bool {
    let head = text.get(..s).unwrap_or("");
    // The last two words of the line, read backwards from `s`.
    let mut words: [Option<&str>; 2] = [None, None];
    let mut n = 0;
    let mut word: Option<(usize, usize)> = None;
    for (i, c) in head.char_indices().rev() {
        if c.is_alphanumeric() || c == '#' {
            word = Some((i, word.map_or(i + c.len_utf8(), |(_, end)| end)));
            continue;
        }
        if let Some((start, end)) = word.take()
            && let Some(slot) = words.get_mut(n)
        {
            *slot = head.get(start..end);
            n += 1;
        }
        if c == '\n' || n == 2 {
            break;
        }
    }
    if let Some((start, end)) = word
        && let Some(slot) = words.get_mut(n)
    {
        *slot = head.get(start..end);
    }
    let [Some(last), second] = words else { return false };
    // Lowercased once each; most words already are.
    fn lower(w: &str) -> std::borrow::Cow<'_, str> {
        if w.bytes().any(|c| !c.is_ascii() || c.is_ascii_uppercase()) { w.to_lowercase().into() } else { w.into() }
    }
    let last = lower(last);
    let second = second.map(lower);
    let phone_word = |w: &str| PHONE_WORDS.iter().any(|p| w.starts_with(p));
    if phone_word(&last) || second.as_deref().is_some_and(phone_word) {
        return false;
    }
    last.ends_with('#') || ID_WORDS.contains(&&*last)
}

/// Telephone numbers: 7 to 15 digits (8 to 15 after `+`), grouped, and not
/// something else that is written with digits and separators.
/// `strict`: what follows the number counts (more digits after a space,
/// a time); not strict (for a number written with `+`, when no cut of it
/// is a number strictly): a number with its country code says what it is,
/// whatever follows.
pub(super) fn phone(text: &str, s: usize, e: usize, strict: bool) -> bool {
    let b = text.as_bytes();
    let Some(cand) = b.get(s..e) else { return false };
    let plus = cand.first() == Some(&b'+');
    let digits = cand.iter().filter(|c| c.is_ascii_digit()).count();
    if !(if plus { 8..=15 } else { 7..=15 }).contains(&digits) {
        return false;
    }
    let paren = cand.contains(&b'(');
    // Digit groups (start, len, in parentheses), at most one per digit, and
    // the separators between them: how many, the first two, whether all
    // are the same.
    let mut all = [(0usize, 0usize, false); 15];
    let mut n = 0;
    let (mut seps, mut sep0, mut sep1, mut uniform) = (0usize, 0u8, 0u8, true);
    let mut in_paren = false;
    let mut start = None;
    for (i, &c) in cand.iter().enumerate() {
        if c.is_ascii_digit() {
            start.get_or_insert(i);
            continue;
        }
        if let Some(st) = start.take()
            && let Some(slot) = all.get_mut(n)
        {
            *slot = (st, i - st, in_paren);
            n += 1;
        }
        match c {
            b'(' => in_paren = true,
            b')' => in_paren = false,
            b'+' => {}
            _ => {
                match seps {
                    0 => sep0 = c,
                    1 => sep1 = c,
                    _ => {}
                }
                uniform &= seps == 0 || c == sep0;
                seps += 1;
            }
        }
    }
    if let Some(st) = start
        && let Some(slot) = all.get_mut(n)
    {
        *slot = (st, cand.len() - st, in_paren);
        n += 1;
    }
    // A trunk prefix written `(0)` is not a group of its own.
    let mut kept = [(0usize, 0usize, false); 15];
    let mut m = 0;
    for &(st, len, p) in all.get(..n).unwrap_or(&[]) {
        if !(p && len == 1 && cand.get(st) == Some(&b'0'))
            && let Some(slot) = kept.get_mut(m)
        {
            *slot = (st, len, p);
            m += 1;
        }
    }
    let mut groups = kept.get(..m).unwrap_or(&[]);
    if plus && groups.len() >= 2 {
        groups = groups.get(1..).unwrap_or(&[]); // the country code
    }
    if !plus && !paren && groups.len() < 2 {
        return false; // a bare run of digits
    }
    if groups.iter().skip(1).any(|g| g.1 == 1) {
        return false; // `1.3.6.1.4`, `1.1 200 1534`
    }
    let mut lens = [0usize; 15];
    for (l, g) in lens.iter_mut().zip(groups) {
        *l = g.1;
    }
    let lens = lens.get(..groups.len()).unwrap_or(&[]);
    let group = |i: usize| groups.get(i).and_then(|&(st, len, _)| cand.get(st..st + len)).unwrap_or(b"");
    let year = |g: &[u8]| g.len() == 4 && (g.starts_with(b"19") || g.starts_with(b"20"));
    if !plus && !paren {
        if lens.len() == 2 && (digits < 10 || lens.iter().any(|l| *l < 3) || (year(group(0)) && sep0 == b'-')) {
            return false; // `2019-2024`, `2024-0001234`, `1577584812 96`
        }
        let date_seps = seps >= 2 && sep0 == sep1 && matches!(sep0, b'-' | b'.' | b'/');
        let ymd = year(group(0)) && lens.get(1).is_some_and(|l| *l <= 2) && lens.get(2).is_some_and(|l| *l <= 2);
        let dmy = lens.first().is_some_and(|l| *l <= 2) && lens.get(1).is_some_and(|l| *l <= 2) && year(group(2));
        if date_seps && (ymd || dmy) {
            return false; // a date, perhaps followed by a time
        }
        if lens == [3, 2, 4].as_slice() {
            return false; // shaped like an SSN
        }
        if uniform
            && matches!(sep0, b' ' | b'.')
            && lens.first().is_some_and(|l| *l <= 3)
            && lens.iter().skip(1).all(|l| *l == 3)
        {
            return false; // thousands: `12 345 678`
        }
        let french = lens == [2, 2, 2, 2, 2].as_slice() && group(0).first() == Some(&b'0');
        if uniform && sep0 == b'.' && lens.len() >= 4 && lens.iter().all(|l| *l <= 3) && !french {
            return false; // shaped like an IPv4 address, a version or an OID: `12.37.12.23.10`
        }
        if year(group(0)) && matches!(sep0, b'-' | b'/') || (0..lens.len()).all(|i| year(group(i))) {
            return false; // `2023/11/0042`, `2020-123-456`, `2004 2005 2006`
        }
        if lens.last().is_some_and(|l| *l <= 2) && !lens.iter().all(|l| *l == 2) {
            return false; // `1234-5678-90`: only the French layout ends in pairs
        }
        if id_context(text, s) {
            return false; // `Serial 1234 5678 9012`, `Meeting ID: 845 2231 9087`
        }
    }
    let (p1, p2) = (before(b, s, 1), before(b, s, 2));
    let (n1, n2) = (byte(b, e), byte(b, e + 1));
    if !plus && cand.first().is_some_and(u8::is_ascii_digit) {
        if p1 == b'+' || p1 == b'#' || (p1 == b'-' && p2.is_ascii_alphanumeric()) {
            return false; // `#4155550142`, the tail of an id: `INV-2024-000123`
        }
        if glued(b, s, e, b" .-/") {
            return false;
        }
    } else if strict && glued_after(b, e, b" .-/") {
        return false;
    }
    if strict && ((n1 == b':' && n2.is_ascii_alphanumeric()) || (n1 == b'-' && n2.is_ascii_alphanumeric())) {
        return false; // a time or an id follows
    }
    !after_currency(text, s)
}

/// Words that say the number after them is a US Social Security number.
pub(super) const SSN_WORDS: [&str; 5] = ["ssn", "ss#", "social security", "soc. sec", "soc sec"];

/// Whether a word naming an SSN comes shortly before `s` on its line
/// (`SSN on file: 536228145`, `social security no. 536228145`), with no
/// other digit in between: nine bare digits are an SSN only when said so.
pub(super) fn ssn_context(text: &str, s: usize) -> bool {
    let head = text.get(..s).unwrap_or("");
    let line = head.rsplit('\n').next().unwrap_or(head);
    let mut from = line.len().saturating_sub(48);
    while !line.is_char_boundary(from) {
        from += 1;
    }
    let tail = line.get(from..).unwrap_or("").to_ascii_lowercase();
    SSN_WORDS.iter().any(|w| {
        tail.rmatch_indices(w).next().is_some_and(|(i, _)| {
            let word_start = i == 0 || !tail.as_bytes().get(i - 1).is_some_and(u8::is_ascii_alphanumeric);
            let between = tail.get(i + w.len()..).unwrap_or("");
            word_start && between.len() <= 24 && !between.bytes().any(|c| c.is_ascii_digit())
        })
    })
}

/// Where a phone number's extension (`x204`, `ext. 204`, `#12`, a bare
/// `x`) starts in the candidate `s..e`, or `e`: the number itself holds
/// only digits, separators, `+` and parentheses.
pub(super) fn extension_start(b: &[u8], s: usize, e: usize) -> usize {
    let Some(cand) = b.get(s..e) else { return e };
    match cand.iter().position(|c| matches!(c, b'x' | b'X' | b'e' | b'E' | b'#')) {
        Some(m) => s + cand.get(..m).map_or(m, |head| head.len() - usize::from(head.last() == Some(&b' '))),
        None => e,
    }
}

/// A number at `s..e` that `valid` accepts, or else a prefix of it cut at a
/// separator (with at least `min_digits` digits): the regexes are greedy and
/// take a number that follows after a space (`0159 51653067 89:d1:…`).
pub(super) fn shortest_cut(
    b: &[u8],
    s: usize,
    mut e: usize,
    min_digits: usize,
    valid: impl Fn(usize) -> bool,
) -> Option<(usize, usize)> {
    for _ in 0..8 {
        if valid(e) {
            return Some((s, e));
        }
        let cut = b.get(s..e)?.iter().rposition(|c| matches!(c, b' ' | b'.' | b'-' | b'/'))?;
        e = s + cut;
        if b.get(s..e)?.iter().filter(|c| c.is_ascii_digit()).count() < min_digits {
            return None;
        }
    }
    None
}

/// IBAN: a registered country, its length, groups of four, mod-97. A
/// candidate that ran on into the next group is cut back to the length.
pub(super) fn iban_at(text: &str, s: usize, e: usize) -> Option<(usize, usize)> {
    let cand = text.get(s..e)?;
    let country = cand.as_bytes().get(..2)?;
    let country = [country.first()?.to_ascii_uppercase(), country.get(1)?.to_ascii_uppercase()];
    let length = iban_length(std::str::from_utf8(&country).ok()?)?;
    let mut count = 0;
    let mut end = None;
    for (i, c) in cand.char_indices() {
        if c != ' ' {
            count += 1;
            if count == length {
                end = Some(i + 1);
                break;
            }
        }
    }
    let end = end?;
    let rest = cand.get(end..)?;
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    let kept = cand.get(..end)?;
    if kept.contains(' ') {
        let mut groups = kept.split(' ').peekable();
        while let Some(g) = groups.next() {
            let fits = match groups.peek() {
                Some(_) => g.len() == 4,
                None => !g.is_empty() && g.len() <= 4,
            };
            if !fits {
                return None;
            }
        }
    }
    iban_ignoring_case(kept).then_some((s, s + end))
}

pub(super) fn ipv4_ok(b: &[u8], s: usize, e: usize) -> bool {
    let dotted_before = before(b, s, 1) == b'.' && before(b, s, 2).is_ascii_alphanumeric();
    let dotted_after = byte(b, e) == b'.' && byte(b, e + 1).is_ascii_digit();
    !(dotted_before || dotted_after)
}

/// IPv6: what the standard library parses, with an optional zone; a stray
/// `:` before or after (a label, a log separator) is not part of it.
pub(super) fn ipv6_at(text: &str, mut s: usize, mut e: usize) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let zone = text.get(s..e)?.find('%');
    let mut addr_end = zone.map_or(e, |z| s + z);
    for _ in 0..3 {
        let addr = text.get(s..addr_end)?;
        if addr.parse::<std::net::Ipv6Addr>().is_ok() {
            break;
        }
        if addr.ends_with(':') && !addr.ends_with("::") {
            addr_end -= 1;
            e = addr_end; // the zone went with it
        } else if addr.starts_with(':') && !addr.starts_with("::") {
            s += 1;
        } else {
            return None;
        }
    }
    let addr = text.get(s..addr_end)?;
    addr.parse::<std::net::Ipv6Addr>().ok()?;
    let groups = addr.split(':').filter(|g| !g.is_empty()).count();
    if !(addr.bytes().any(|c| c.is_ascii_digit()) || groups >= 3) {
        return None; // `a::b`, `std::`
    }
    let (p1, p2) = (before(b, s, 1), before(b, s, 2));
    let (n1, n2) = (byte(b, e), byte(b, e + 1));
    if p1.is_ascii_alphanumeric() || p1 == b'_' || p1 == b'.' || n1.is_ascii_alphanumeric() || n1 == b'_' {
        return None;
    }
    if p1 == b':' && is_hex_or_colon(p2) {
        return None; // inside a longer run of hex digits and colons; only `label:` may precede
    }
    if n1 == b'.' && n2.is_ascii_digit() {
        return None;
    }
    Some((s, e))
}

/// `aws_secret_access_key = …`: only the 40-character secret is the match.
pub(super) fn aws_secret(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    let n = byte(b, e);
    if n.is_ascii_alphanumeric() || matches!(n, b'/' | b'+' | b'=') || e < s + 40 {
        return None;
    }
    Some((e - 40, e))
}

/// `Bearer …`: only the token is the match. Words (`Bearer authentication`)
/// are not tokens: a token has a digit or mixes cases.
pub(super) fn bearer(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    let mut t = s + 6;
    while matches!(byte(b, t), b' ' | b'\t') {
        t += 1;
    }
    let token = b.get(t..e)?;
    let digit = token.iter().any(u8::is_ascii_digit);
    let mixed = token.iter().any(u8::is_ascii_uppercase) && token.iter().any(u8::is_ascii_lowercase);
    (digit || mixed).then_some((t, e))
}

/// A JWT's first segment decodes to a JSON object with an `alg` member.
pub(super) fn jwt(cand: &str) -> bool {
    let Some(header) = cand.split('.').next() else { return false };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header.trim_end_matches('=')) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|v| v.get("alg").is_some())
}

/// How far a private-key block may run past its header.
pub(super) const KEY_WINDOW: usize = 64 * 1024;

/// Positions of a literal in the text, found once per scan and shared by
/// every candidate that needs them.
#[derive(Default)]
pub(super) struct Marks {
    pub(super) pem_ends: Option<Vec<usize>>,
    putty_macs: Option<Vec<usize>>,
}

pub(super) fn all_positions(b: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(p) = b.get(at..).and_then(|h| find_bytes(h, needle)) {
        out.push(at + p);
        at += p + needle.len();
    }
    out
}

/// The first position in `sorted` at or after `from`, if before `limit`.
pub(super) fn next_mark(sorted: &[usize], from: usize, limit: usize) -> Option<usize> {
    let i = sorted.partition_point(|p| *p < from);
    sorted.get(i).copied().filter(|p| *p < limit)
}

/// Extends a match over the lines that follow while `keep` accepts them.
pub(super) fn extend_lines(b: &[u8], mut end: usize, keep: impl Fn(&[u8]) -> bool) -> usize {
    let limit = (end + KEY_WINDOW).min(b.len());
    loop {
        if byte(b, end) == b'\r' {
            end += 1;
        }
        if byte(b, end) != b'\n' || end >= limit {
            return end;
        }
        let from = end + 1;
        let line_end = b.get(from..limit).and_then(|r| r.iter().position(|c| *c == b'\n')).map_or(limit, |p| from + p);
        let line = b.get(from..line_end).unwrap_or(b"");
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || !keep(line) {
            return end;
        }
        end = from + line.len();
    }
}

/// A PEM private key: from the header to the end of its `-----END …-----`
/// line; without one (a key cut short), the header and the base64 lines
/// after it.
pub(super) fn pem_block(b: &[u8], s: usize, e: usize, marks: &mut Marks) -> Option<(usize, usize)> {
    let ends = marks.pem_ends.get_or_insert_with(|| all_positions(b, b"-----END "));
    if let Some(end) = next_mark(ends, e, e + KEY_WINDOW) {
        let close = b.get(end + 9..).and_then(|r| find_bytes(r.get(..80).unwrap_or(r), b"-----"));
        if let Some(c) = close {
            return Some((s, end + 9 + c + 5));
        }
    }
    let body = |line: &[u8]| {
        line.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'\\'))
            || line.starts_with(b"Proc-Type:")
            || line.starts_with(b"DEK-Info:")
    };
    Some((s, extend_lines(b, e, body)))
}

/// A PuTTY key file: from its header to the end of its `Private-MAC:` line.
pub(super) fn putty_block(b: &[u8], s: usize, e: usize, marks: &mut Marks) -> Option<(usize, usize)> {
    let macs = marks.putty_macs.get_or_insert_with(|| all_positions(b, b"Private-MAC: "));
    let end = match next_mark(macs, e, e + KEY_WINDOW) {
        Some(m) => {
            b.get(m..).and_then(|r| r.iter().position(|c| *c == b'\n' || *c == b'\r')).map_or(b.len(), |p| m + p)
        }
        None => {
            let line_end = b.get(e..).and_then(|r| r.iter().position(|c| *c == b'\n')).map_or(b.len(), |p| e + p);
            extend_lines(b, line_end, |line| !line.contains(&b' ') || line.contains(&b':'))
        }
    };
    Some((s, end))
}

pub(super) fn confirm(kind: Kind, text: &str, s: usize, e: usize, marks: &mut Marks) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let ok = |yes: bool| yes.then_some((s, e));
    match kind {
        Kind::Email | Kind::AwsKeyId => Some((s, e)),
        Kind::Phone => {
            // The number without its extension must validate in full for
            // the extension to stay with it.
            let number_end = extension_start(b, s, e);
            let plus = byte(b, s) == b'+';
            let (s, cut) = shortest_cut(b, s, number_end, 7, |e| phone(text, s, e, true))
                .or_else(|| plus.then(|| shortest_cut(b, s, number_end, 7, |e| phone(text, s, e, false))).flatten())?;
            Some((s, if cut == number_end { e } else { cut }))
        }
        Kind::Card => shortest_cut(b, s, e, 13, |e| card(b, s, e)),
        Kind::Ssn => {
            let cand = text.get(s..e)?;
            let bare = !cand.contains(['-', ' ']);
            ok(ssn(cand) && !runs_on(b, s, e) && (!bare || ssn_context(text, s)))
        }
        Kind::Iban => iban_at(text, s, e),
        Kind::Ipv4 => ok(ipv4_ok(b, s, e)),
        Kind::Ipv6 => ipv6_at(text, s, e),
        Kind::AwsSecret => aws_secret(b, s, e),
        Kind::Bearer => bearer(b, s, e),
        Kind::Jwt => ok(jwt(text.get(s..e)?)),
        Kind::PrivateKey => pem_block(b, s, e, marks),
        Kind::Putty => putty_block(b, s, e, marks),
    }
}
