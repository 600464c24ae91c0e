//! Carrying Cedar's `//` comments over to the rules they describe.
//!
//! Cedar's exported form (the EST) has no comments, so the source text is
//! scanned for them: not parsed — only strings, comments and the `;` that
//! ends each policy are recognised — and each comment goes with the policy
//! it precedes or sits in (comments after the last policy are kept too).

/// The comments of the policy source: one list per policy, in source order
/// (Cedar names them `policy0`, `policy1`, …), and the trailing ones.
pub fn by_policy(source: &str) -> (Vec<Vec<String>>, Vec<String>) {
    let scan = scan(source);
    (scan.policies, scan.trailing)
}

/// How deeply brackets nest in the source (outside strings and comments).
pub fn max_depth(source: &str) -> i64 {
    scan(source).max_depth
}

struct Scan {
    policies: Vec<Vec<String>>,
    trailing: Vec<String>,
    max_depth: i64,
}

fn scan(source: &str) -> Scan {
    let mut max_depth = 0i64;
    let mut policies = Vec::new();
    let mut current = Vec::new();
    let mut chars = source.char_indices().peekable();
    let mut in_string = false;
    let mut depth = 0i64;
    while let Some((at, c)) = chars.next() {
        if in_string {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '/' if chars.peek().is_some_and(|(_, n)| *n == '/') => {
                let rest = source.get(at + 2..).unwrap_or("");
                let line = rest.lines().next().unwrap_or("");
                current.push(line.strip_prefix(' ').unwrap_or(line).trim_end().to_string());
                // Skip to the end of the line.
                while chars.peek().is_some_and(|(_, n)| *n != '\n') {
                    chars.next();
                }
            }
            '(' | '[' | '{' => {
                depth += 1;
                max_depth = max_depth.max(depth);
            }
            ')' | ']' | '}' => depth -= 1,
            ';' if depth <= 0 => policies.push(std::mem::take(&mut current)),
            _ => {}
        }
    }
    Scan { policies, trailing: current, max_depth }
}

#[cfg(test)]
mod tests {
    use super::by_policy;

    #[test]
    fn comments_go_with_the_policy_they_precede_or_sit_in() {
        let source = "// first\npermit(principal, action, resource) when { \"a;//b\" == \"c\" };\n\
                      // second\n// two lines\nforbid(principal, action, resource)\n// inside\nwhen { true };\n// trailing\n";
        let (policies, trailing) = by_policy(source);
        assert_eq!(
            policies,
            vec![vec!["first".to_string()], vec!["second".into(), "two lines".into(), "inside".into()]]
        );
        assert_eq!(trailing, vec!["trailing".to_string()]);
    }

    #[test]
    fn a_semicolon_inside_a_record_or_string_does_not_end_a_policy() {
        let (policies, _) = by_policy("permit(principal, action, resource) when { {a: \"x;\"} == {a: \"x;\"} };");
        assert_eq!(policies.len(), 1);
    }
}
