//! "Did you mean …?" suggestions by edit distance.

/// The longest name (in bytes) a suggestion is searched for or offered:
/// edit distance costs the product of the two lengths, so the search is
/// bounded (at most 64 × 64 per candidate) whatever the input's size.
/// Nobody misspells a 65-character name into a near-miss worth suggesting.
pub const MAX_SUGGEST_LEN: usize = 64;

/// The closest candidate to `name`, if one is close enough to be a likely
/// typo: at most a third of the name's length in edits (and at least one).
/// Names and candidates longer than [`MAX_SUGGEST_LEN`] are not compared.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if name.len() > MAX_SUGGEST_LEN {
        return None;
    }
    let limit = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        // A length difference beyond the limit (in bytes: up to 4 per char) is beyond it in edits too.
        if candidate == name || candidate.len() > MAX_SUGGEST_LEN || candidate.len().abs_diff(name.len()) > 4 * limit {
            continue;
        }
        let distance = strsim::damerau_levenshtein(name, candidate);
        let case_only = candidate.eq_ignore_ascii_case(name);
        let distance = if case_only { 0 } else { distance };
        if distance <= limit && best.is_none_or(|(d, c)| distance < d || (distance == d && candidate < c)) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// A help text "did you mean `x`?", when there is a close candidate.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["Customer", "Account", "User"];
        assert_eq!(closest("Custmer", names), Some("Customer"));
        assert_eq!(closest("customer", names), Some("Customer"));
        assert_eq!(closest("Invoice", names), None);
        assert_eq!(closest("Usr", names), Some("User"));
    }

    #[test]
    fn long_names_are_not_searched() {
        let long = "x".repeat(MAX_SUGGEST_LEN);
        let near = format!("{}y", "x".repeat(MAX_SUGGEST_LEN - 1));
        assert_eq!(closest(&near, [long.as_str()]), Some(long.as_str()));
        // One byte longer: neither as the name nor as a candidate (the work is bounded by construction).
        let longer = "x".repeat(MAX_SUGGEST_LEN + 1);
        assert_eq!(closest(&format!("{longer}y"), [longer.as_str()]), None);
        assert_eq!(closest(&near, [longer.as_str()]), None);
    }
}
