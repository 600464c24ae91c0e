//! The built-in recognisers (`stdlib.pii`, `stdlib.inputs`): what each
//! detector name compiles to, and each kind's regex.

/// match at the same position: the most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    PrivateKey,
    Putty,
    Jwt,
    Bearer,
    AwsKeyId,
    AwsSecret,
    Email,
    Iban,
    Card,
    Ssn,
    Ipv6,
    Ipv4,
    Phone,
}

pub(super) const OCTET: &str = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";

pub(super) fn kind_regex(kind: Kind) -> String {
    match kind {
        Kind::PrivateKey => r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----".to_string(),
        Kind::Putty => r"PuTTY-User-Key-File-[0-9]{1,2}: ".to_string(),
        Kind::Jwt => r"(?-u:\b)eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*".to_string(),
        Kind::Bearer => r"(?-u:\b)(?:Bearer|bearer|BEARER)[ \t]+[A-Za-z0-9._~+/-]{16,}=*".to_string(),
        Kind::AwsKeyId => r"(?-u:\b)(?:AKIA|ASIA)[A-Z2-7]{16}(?-u:\b)".to_string(),
        Kind::AwsSecret => {
            r#"(?-u:\b)(?:aws|AWS)_?(?:secret|SECRET)_?(?:access|ACCESS)?_?(?:key|KEY)["']?[ \t]*[:=][ \t]*["']?[A-Za-z0-9/+]{40}"#
                .to_string()
        }
        Kind::Email => {
            r"[\p{Alphabetic}\p{N}_.%+\-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?-u:\b)".to_string()
        }
        Kind::Iban => r"(?-u:\b)[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?(?-u:\b)".to_string(),
        Kind::Card => r"(?-u:\b)[0-9](?:[ -]?[0-9]){12,18}(?-u:\b)".to_string(),
        Kind::Ssn => r"(?-u:\b)[0-9]{3}(?:-[0-9]{2}-| [0-9]{2} )[0-9]{4}(?-u:\b)".to_string(),
        // Eight groups, six and an IPv4 tail, or a `::` somewhere: never
        // fewer colons than an address has (`10:22:33` is a time).
        Kind::Ipv6 => {
            let h = "[0-9A-Fa-f]{1,4}";
            let v4 = format!(r"{OCTET}(?:\.{OCTET}){{3}}");
            format!(
                r"(?:(?:{h}:){{7}}{h}|(?:{h}:){{6}}{v4}|(?:(?:{h}:){{1,7}}|:):(?:(?:{h}:){{0,6}}(?:{v4}|{h}))?)(?:%[0-9A-Za-z._-]{{1,32}})?"
            )
        }
        Kind::Ipv4 => format!(r"(?-u:\b)(?:{OCTET}\.){{3}}{OCTET}(?-u:\b)"),
        Kind::Phone => concat!(
            r"(?:\+[0-9]{1,3}[ .-]?(?:\(0\)[ .-]?)?(?:\([0-9]{1,5}\)[ .-]?)?",
            r"|\([0-9]{1,5}\)[ .-]?",
            r"|(?-u:\b))",
            r"[0-9](?:[ .\-/]?[0-9]){5,16}(?-u:\b)"
        )
        .to_string(),
    }
}

/// A piece of a built-in detector.
pub(super) enum BuiltinPart {
    Kind(Kind),
    /// A plain regex, confirmed by nothing (the input detectors).
    Plain(&'static str),
}

pub(super) fn builtin_parts(name: &str) -> Option<Vec<BuiltinPart>> {
    use BuiltinPart::{Kind as K, Plain};
    Some(match name {
        "email" => vec![K(Kind::Email)],
        "phone" => vec![K(Kind::Phone)],
        "credit_card" => vec![K(Kind::Card)],
        "ssn" => vec![K(Kind::Ssn)],
        "iban" => vec![K(Kind::Iban)],
        "ipv4" => vec![K(Kind::Ipv4)],
        "ipv6" => vec![K(Kind::Ipv6)],
        "aws_access_key" => vec![K(Kind::AwsKeyId), K(Kind::AwsSecret)],
        "bearer_token" => vec![K(Kind::Bearer)],
        "jwt" => vec![K(Kind::Jwt)],
        "private_key" => vec![K(Kind::PrivateKey), K(Kind::Putty)],
        "sql_injection" => vec![Plain(
            r"(?i)(?:\bunion\b[\s\S]{0,40}\bselect\b|'\s*(?:or|and)\s+'?[0-9a-z]+'?\s*=\s*'?[0-9a-z]+|;\s*(?:drop|delete|insert|update|alter|truncate)\b|\bor\s+1\s*=\s*1\b|--\s*$|/\*[\s\S]*?\*/|\bxp_cmdshell\b|\bsleep\s*\()",
        )],
        "shell_metachar" => vec![Plain(r"[;&|`]|\$\(|\$\{|>\s*/|<\(")],
        "path_traversal" => vec![Plain(r"(?:^|[/\\])\.\.(?:[/\\]|$)|%2e%2e|^/etc/|^[A-Za-z]:\\")],
        "prompt_injection" => vec![Plain(
            r"(?i)\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier)\s+(?:instructions|prompts|rules)|\bsystem\s+prompt\b|\byou\s+are\s+now\s+(?:in\s+)?(?:developer|dan|jailbreak)|\bact\s+as\s+(?:an?\s+)?(?:unrestricted|jailbroken)",
        )],
        _ => return None,
    })
}

/// The regexes of a built-in detector (each confirmed by its own rules).
pub fn builtin_regexes(name: &str) -> Option<Vec<String>> {
    builtin_parts(name).map(|parts| {
        parts
            .into_iter()
            .map(|p| match p {
                BuiltinPart::Kind(k) => kind_regex(k),
                BuiltinPart::Plain(r) => r.to_string(),
            })
            .collect()
    })
}
