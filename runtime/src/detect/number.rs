//! The regexes of the four number kinds (card, SSN, IPv4, phone; see
//! [`kind_regex`](super::builtin::kind_regex)), matched by hand: anchored
//! at a start, each gives the match the regex gives there (leftmost-first:
//! the first way to match in the regex's order of preference), without a
//! regex run. Most trigger positions are digits, and these kinds are the
//! only ones that can start there unless an e-mail, an IPv6 address or a
//! literal prefix can too (see [`Gate`](super::scanner)); the scanner then
//! tries them in rank order and confirms each as it would a regex match.
//!
//! `tests.rs` checks each against its regex at every position of generated
//! digit soup and of the corpora.

use super::builtin::Kind;
use super::confirm::{before, byte, digits_from};
use super::trigger::is_word;

/// Whether a kind is matched by hand.
pub(super) fn by_hand(kind: Kind) -> bool {
    matches!(kind, Kind::Card | Kind::Ssn | Kind::Ipv4 | Kind::Phone)
}

/// The end of `kind`'s regex match anchored at `s`, if it matches there.
pub(super) fn match_at(kind: Kind, b: &[u8], s: usize) -> Option<usize> {
    match kind {
        Kind::Card => card(b, s),
        Kind::Ssn => ssn(b, s),
        Kind::Ipv4 => ipv4(b, s),
        Kind::Phone => phone(b, s),
        _ => None,
    }
}

/// `(?-u:\b)` before a digit at `s`: the byte before is not a word byte.
fn starts_word(b: &[u8], s: usize) -> bool {
    byte(b, s).is_ascii_digit() && !is_word(before(b, s, 1))
}

/// Where each repetition of `(?:[SEP]?[0-9])` ends, from `p` on, for at
/// most `max` repetitions. Only one way to repeat exists (a separator
/// byte is no digit), so the regex backtracks over how many, from most to
/// fewest.
fn repeats(b: &[u8], mut p: usize, max: usize, sep: impl Fn(u8) -> bool, ends: &mut [usize; 18]) -> usize {
    let mut n = 0;
    while n < max.min(ends.len()) {
        let c = byte(b, p);
        if c.is_ascii_digit() {
            p += 1;
        } else if sep(c) && byte(b, p + 1).is_ascii_digit() {
            p += 2;
        } else {
            break;
        }
        if let Some(e) = ends.get_mut(n) {
            *e = p;
        }
        n += 1;
    }
    n
}

/// `(?-u:\b)` after a word byte at `p - 1`: no word byte at `p`.
fn ends_word(b: &[u8], p: usize) -> bool {
    !is_word(byte(b, p))
}

/// `(?-u:\b)[0-9](?:[ -]?[0-9]){12,18}(?-u:\b)`
fn card(b: &[u8], s: usize) -> Option<usize> {
    if !starts_word(b, s) {
        return None;
    }
    let mut ends = [0; 18];
    let n = repeats(b, s + 1, 18, |c| c == b' ' || c == b'-', &mut ends);
    (12..=n).rev().filter_map(|k| ends.get(k - 1).copied()).find(|e| ends_word(b, *e))
}

/// `(?-u:\b)(?:[0-9]{3}(?:-[0-9]{2}-| [0-9]{2} )[0-9]{4}|[0-9]{9})(?-u:\b)`
fn ssn(b: &[u8], s: usize) -> Option<usize> {
    if !starts_word(b, s) {
        return None;
    }
    let digits = |from: usize, n: usize| (from..from + n).all(|i| byte(b, i).is_ascii_digit());
    let sep = byte(b, s + 3);
    let grouped = digits(s, 3) && matches!(sep, b'-' | b' ') && digits(s + 4, 2) && byte(b, s + 6) == sep;
    if grouped && digits(s + 7, 4) && ends_word(b, s + 11) {
        return Some(s + 11);
    }
    (digits(s, 9) && ends_word(b, s + 9)).then_some(s + 9)
}

/// `(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])` over exactly the `n`
/// digits at `p`. Each octet of an address is followed by a dot or by a
/// word boundary, neither of which a digit is, so an octet is always the
/// whole run of digits.
fn octet(b: &[u8], p: usize, n: usize) -> bool {
    let d = |i: usize| u32::from(byte(b, p + i).wrapping_sub(b'0'));
    match n {
        1 => true,
        2 => d(0) != 0,
        3 => (100..=255).contains(&(d(0) * 100 + d(1) * 10 + d(2))),
        _ => false,
    }
}

/// `(?-u:\b)(?:OCTET\.){3}OCTET(?-u:\b)`
fn ipv4(b: &[u8], s: usize) -> Option<usize> {
    if !starts_word(b, s) {
        return None;
    }
    let mut p = s;
    for k in 0..4 {
        let n = digits_from(b, p).min(4);
        if !octet(b, p, n) {
            return None;
        }
        p += n;
        if k < 3 {
            if byte(b, p) != b'.' {
                return None;
            }
            p += 1;
        }
    }
    ends_word(b, p).then_some(p)
}

/// `[ .-]?`: where the regex goes on, the optional byte taken first.
fn optional(b: &[u8], p: usize, class: impl Fn(u8) -> bool) -> impl Iterator<Item = usize> {
    let take = class(byte(b, p));
    [take.then_some(p + 1), Some(p)].into_iter().flatten()
}

/// `\([0-9]{1,5}\)`: a parenthesised group's end. The digits run to the
/// `)`, so there is one way to match.
fn paren_group(b: &[u8], p: usize) -> Option<usize> {
    if byte(b, p) != b'(' {
        return None;
    }
    let n = digits_from(b, p + 1);
    ((1..=5).contains(&n) && byte(b, p + 1 + n) == b')').then_some(p + n + 2)
}

fn is_dash_dot_space(c: u8) -> bool {
    matches!(c, b' ' | b'.' | b'-')
}

/// The phone regex:
///
/// ```text
/// (?:\+[0-9]{1,3}[ .-]?(?:\(0\)[ .-]?)?(?:\([0-9]{1,5}\)[ .-]?)?
///   |\([0-9]{1,5}\)[ .-]?
///   |(?-u:\b))
/// [0-9](?:[ .\-/]?[0-9]){5,16}
/// (?:[ ]?(?:[xX]|[eE]xt\.?|EXT\.?|[eE]xtension|#)[ ]?[0-9]{1,6}|[xX])?(?-u:\b)
/// ```
///
/// Tried in its order of preference: each alternative in turn, each
/// greedy quantifier from most to fewest, each optional piece present
/// first. Bounded: at most 3 × 2 × 3 × 2 ways before the body, each with
/// at most 12 lengths of body.
fn phone(b: &[u8], s: usize) -> Option<usize> {
    match byte(b, s) {
        b'+' => {
            let n = digits_from(b, s + 1).min(3);
            for cc in (1..=n).rev() {
                for p in optional(b, s + 1 + cc, is_dash_dot_space) {
                    for p in trunk_zero(b, p) {
                        for p in area(b, p) {
                            if let Some(e) = phone_body(b, p) {
                                return Some(e);
                            }
                        }
                    }
                }
            }
            None
        }
        b'(' => {
            let p = paren_group(b, s)?;
            optional(b, p, is_dash_dot_space).find_map(|p| phone_body(b, p))
        }
        _ if starts_word(b, s) => phone_body(b, s),
        _ => None,
    }
}

/// `(?:\(0\)[ .-]?)?` at `p`: where the regex goes on, in order.
fn trunk_zero(b: &[u8], p: usize) -> impl Iterator<Item = usize> {
    let zero = b.get(p..p + 3) == Some(b"(0)");
    optional_group(b, zero.then_some(p + 3), p)
}

/// `(?:\([0-9]{1,5}\)[ .-]?)?` at `p`: where the regex goes on, in order.
fn area(b: &[u8], p: usize) -> impl Iterator<Item = usize> {
    optional_group(b, paren_group(b, p), p)
}

/// An optional group followed by `[ .-]?` when present (it ends at
/// `group`), absent otherwise: where the regex goes on, in order.
fn optional_group(b: &[u8], group: Option<usize>, p: usize) -> impl Iterator<Item = usize> {
    let sep = group.filter(|q| is_dash_dot_space(byte(b, *q))).map(|q| q + 1);
    [sep, group, Some(p)].into_iter().flatten()
}

/// `[0-9](?:[ .\-/]?[0-9]){5,16}`, then the extension and the final word
/// boundary, at `p`.
fn phone_body(b: &[u8], p: usize) -> Option<usize> {
    if !byte(b, p).is_ascii_digit() {
        return None;
    }
    let mut ends = [0; 18];
    let n = repeats(b, p + 1, 16, |c| matches!(c, b' ' | b'.' | b'-' | b'/'), &mut ends);
    (5..=n).rev().filter_map(|k| ends.get(k - 1).copied()).find_map(|e| extension(b, e))
}

/// `(?:[ ]?(?:[xX]|[eE]xt\.?|EXT\.?|[eE]xtension|#)[ ]?[0-9]{1,6}|[xX])?(?-u:\b)`
/// after a digit at `p - 1`.
fn extension(b: &[u8], p: usize) -> Option<usize> {
    if !matches!(byte(b, p), b' ' | b'x' | b'X' | b'e' | b'E' | b'#') {
        // Neither the space nor a marker can start here: no extension.
        return ends_word(b, p).then_some(p);
    }
    for q in optional(b, p, |c| c == b' ') {
        for r in marker(b, q) {
            for t in optional(b, r, |c| c == b' ') {
                // `[0-9]{1,6}` then a boundary: only all the digits there can end a word.
                let n = digits_from(b, t);
                if (1..=6).contains(&n) && ends_word(b, t + n) {
                    return Some(t + n);
                }
            }
        }
    }
    if matches!(byte(b, p), b'x' | b'X') && ends_word(b, p + 1) {
        return Some(p + 1);
    }
    ends_word(b, p).then_some(p)
}

/// `(?:[xX]|[eE]xt\.?|EXT\.?|[eE]xtension|#)` at `q`: where the regex goes
/// on, in order.
fn marker(b: &[u8], q: usize) -> impl Iterator<Item = usize> {
    let at = |i: usize| byte(b, q + i);
    let e = matches!(at(0), b'e' | b'E');
    let ext = e && at(1) == b'x' && at(2) == b't';
    let upper = b.get(q..q + 3) == Some(b"EXT");
    let dot = at(3) == b'.';
    [
        matches!(at(0), b'x' | b'X').then_some(q + 1),
        (ext && dot).then_some(q + 4),
        ext.then_some(q + 3),
        (upper && dot).then_some(q + 4),
        upper.then_some(q + 3),
        (e && b.get(q + 1..q + 9) == Some(b"xtension")).then_some(q + 9),
        (at(0) == b'#').then_some(q + 1),
    ]
    .into_iter()
    .flatten()
}
