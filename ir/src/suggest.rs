//! "Did you mean …?" suggestions by edit distance.

/// The closest candidate to `name`, if one is close enough to be a likely
/// typo: at most a third of the name's length in edits (and at least one).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        if candidate == name {
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
}
