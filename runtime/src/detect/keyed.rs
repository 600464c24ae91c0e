//! Values under a JSON key named like their kind: `"ssn": "536228145"`,
//! `"mobile": "07700900123"`. Nine bare digits or a bare run of digits say
//! nothing by themselves (too many ids look like that), but under such a
//! key they are what the key says, and a selected `ssn` or `phone` detector
//! masks them whole.

use super::builtin::Kind;
use super::validate::ssn;

/// The kind a JSON key names, if any: its words (split at `_`, `-`, `.`,
/// spaces and lower-to-upper case changes) name an SSN or a phone number.
pub(super) fn kind_of_key(key: &str) -> Option<Kind> {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if (!c.is_alphanumeric() || (c.is_uppercase() && prev_lower)) && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_lowercase();
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let has = |w: &str| words.iter().any(|x| x == w);
    let joined = words.concat();
    if has("ssn") || joined.contains("socialsecurity") {
        return Some(Kind::Ssn);
    }
    let phone = ["phone", "tel", "telephone", "mobile", "cell", "cellphone", "fax", "msisdn", "telefon", "handy"];
    if phone.iter().any(|w| has(w)) || joined.contains("phonenumber") {
        return Some(Kind::Phone);
    }
    None
}

/// Where, in `value` under a key naming `kind`, the value of that kind is:
/// the whole value without surrounding spaces, if it has the shape.
pub(super) fn keyed_span(kind: Kind, value: &str) -> Option<(usize, usize)> {
    let start = value.len() - value.trim_start().len();
    let core = value.trim();
    let end = start + core.len();
    let ok = match kind {
        Kind::Ssn => ssn(core),
        Kind::Phone => {
            let digits = core.bytes().filter(u8::is_ascii_digit).count();
            let shape = core.bytes().all(|c| c.is_ascii_digit() || b" +-().x/#".contains(&c));
            shape && (7..=15).contains(&digits) && core.bytes().next().is_some_and(|c| c != b'x' && c != b'#')
        }
        _ => false,
    };
    ok.then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_named_like_a_kind() {
        for key in ["ssn", "SSN", "customer_ssn", "ssnLast", "social_security_number", "SocialSecurityNo"] {
            assert_eq!(kind_of_key(key), Some(Kind::Ssn), "{key}");
        }
        for key in ["phone", "mobile", "phoneNumber", "home-tel", "Fax", "cell_phone"] {
            assert_eq!(kind_of_key(key), Some(Kind::Phone), "{key}");
        }
        for key in ["lesson", "order", "telemetry", "cells", "ssnx", "id"] {
            assert_eq!(kind_of_key(key), None, "{key}");
        }
        assert_eq!(keyed_span(Kind::Ssn, " 536228145 "), Some((1, 10)));
        assert_eq!(keyed_span(Kind::Ssn, "000228145"), None);
        assert_eq!(keyed_span(Kind::Phone, "07700900123"), Some((0, 11)));
        assert_eq!(keyed_span(Kind::Phone, "n/a"), None);
        assert_eq!(keyed_span(Kind::Phone, "12"), None);
    }
}
