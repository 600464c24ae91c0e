//! Structured strings: the parts of a string a rule's safety depends on.
//!
//! A glob such as `context.to like "*@acme.example"` tests the end of the
//! text, not every recipient in it; `path.starts_with("/workspace/")` is
//! walked around with `/workspace/../etc`. These functions parse such
//! strings so that rules test what the receiving system will act on.
//!
//! Each one is strict and fails closed: input outside the accepted syntax
//! is an error (a `permit` that reads it does not apply, a `forbid`
//! does), never a best guess. Errors say what is wrong and where, without
//! quoting the value (it may be personal data).

/// The addresses of an RFC 5322-style address list, lower-cased, in order.
///
/// Accepted: items separated by `,` or `;`, each either `local@domain` or
/// `Display Name <local@domain>` (the name may be a quoted string without
/// escapes). Refused, because mail systems disagree on them: comments
/// `( )`, groups `name: …;`, quoted or escaped local parts, domain
/// literals `[…]`, source routes, empty items, and an empty list (so that
/// `all(…)` over the result is never vacuously true).
pub fn email_addresses(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for_each_address(text, |local, domain| out.push(format!("{local}@{domain}").to_lowercase()))?;
    Ok(out)
}

/// The domains of an address list (see [`email_addresses`]), lower-cased.
pub fn email_domains(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for_each_address(text, |_, domain| out.push(domain.to_lowercase()))?;
    Ok(out)
}

/// Calls `f` with the local part and the domain (without a trailing `.`),
/// as written, of each address of the list, in order; the whole list is
/// checked first, so `f` sees nothing of a list that is refused. Slices of
/// `text`: the caller lower-cases only what it keeps.
pub fn for_each_address<'t>(text: &'t str, mut f: impl FnMut(&'t str, &'t str)) -> Result<(), String> {
    let mut parts = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    loop {
        let (item, next) = split_item(rest).map_err(|(at, e)| format!("byte {}: {e}", offset + at))?;
        parts.push(parse_item(item).map_err(|(at, e)| format!("byte {}: {e}", offset + at))?);
        match next {
            Some(n) => {
                offset += n;
                rest = &rest[n..];
            }
            None => break,
        }
    }
    for (local, domain) in parts {
        f(local, domain);
    }
    Ok(())
}

/// The first item of `text` (up to a `,` or `;` outside quotes) and where
/// the next one starts.
fn split_item(text: &str) -> Result<(&str, Option<usize>), (usize, String)> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' | ';' if !quoted => return Ok((&text[..i], Some(i + 1))),
            _ => {}
        }
    }
    if quoted {
        return Err((text.len(), "a quoted display name is not closed".into()));
    }
    Ok((text, None))
}

fn parse_item(item: &str) -> Result<(&str, &str), (usize, String)> {
    let start = item.len() - item.trim_start().len();
    let trimmed = item.trim();
    if trimmed.is_empty() {
        return Err((start, "an empty address (a list has no empty items, and is not empty)".into()));
    }
    let Some(open) = trimmed.find('<') else {
        return addr_spec(trimmed).map_err(|(at, e)| (start + at, e));
    };
    display_name(&trimmed[..open]).map_err(|(at, e)| (start + at, e))?;
    let inner = &trimmed[open + 1..];
    let Some(close) = inner.find('>') else {
        return Err((start + trimmed.len(), "`<` without a closing `>`".into()));
    };
    if !inner[close + 1..].trim().is_empty() {
        return Err((start + open + close + 2, "text after `>`".into()));
    }
    addr_spec(&inner[..close]).map_err(|(at, e)| (start + open + 1 + at, e))
}

fn display_name(name: &str) -> Result<(), (usize, String)> {
    let name = name.trim();
    if let Some(body) = name.strip_prefix('"') {
        return match body.find('"') {
            Some(end) if end + 1 == body.len() => match body.find('\\') {
                Some(at) => Err((at + 1, "an escape in a quoted display name".into())),
                None => Ok(()),
            },
            _ => Err((0, "a quoted display name must be the whole name".into())),
        };
    }
    for (i, c) in name.char_indices() {
        if matches!(c, '"' | '(' | ')' | ':' | '@' | '<' | '>' | '[' | ']' | '\\') {
            return Err((i, format!("`{c}` in a display name (quote the name)")));
        }
    }
    Ok(())
}

/// `local@domain`: the two parts, the domain without a trailing `.`.
fn addr_spec(spec: &str) -> Result<(&str, &str), (usize, String)> {
    let Some((local, domain)) = spec.split_once('@') else {
        return Err((0, "an address without `@`".into()));
    };
    if domain.contains('@') {
        return Err((local.len() + 1 + domain.find('@').unwrap_or(0), "a second `@`".into()));
    }
    const LOCAL_PUNCT: &str = "!#$%&'*+-/=?^_`{|}~";
    if local.is_empty() || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err((0, "the part before `@` is empty or has a misplaced `.`".into()));
    }
    if let Some((i, c)) =
        local.char_indices().find(|(_, c)| !(c.is_alphanumeric() || *c == '.' || LOCAL_PUNCT.contains(*c)))
    {
        return Err((i, format!("`{c}` before `@` (quoted or escaped local parts are refused)")));
    }
    let at = local.len() + 1;
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if domain.is_empty() {
        return Err((at, "no domain after `@`".into()));
    }
    let mut pos = at;
    for label in domain.split('.') {
        let bad = label.is_empty()
            || label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label.chars().all(|c| c.is_alphanumeric() || c == '-');
        if bad {
            return Err((pos, "the domain is not a host name (labels of letters, digits and `-`)".into()));
        }
        pos += label.len() + 1;
    }
    Ok((local, domain))
}

/// The scheme and normalised host of an absolute URL, as WHATWG URL
/// parsers (browsers, most HTTP clients) read it: `HTTPS://Evil.EXAMPLE\@x`
/// is read the way the client that fetches it will.
pub fn url_parts(text: &str) -> Result<(String, String), String> {
    let url = url::Url::parse(text).map_err(|e| format!("not an absolute URL: {e}"))?;
    let host = url.host_str().ok_or_else(|| format!("a `{}:` URL has no host", url.scheme()))?;
    let host = host.strip_suffix('.').unwrap_or(host);
    Ok((url.scheme().to_string(), host.to_lowercase()))
}

/// `.` and `..` resolved and repeated `/` collapsed, without touching a
/// file system; no trailing `/` (except the root itself). Relative paths
/// stay relative (`.` when nothing is left).
pub fn normalized_path(text: &str) -> Result<String, String> {
    if let Some(at) = text.find(['\\', '\0']) {
        let what = if text[at..].starts_with('\\') { "a backslash" } else { "a NUL character" };
        return Err(format!("byte {at}: {what} (read differently by different systems)"));
    }
    let absolute = text.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("`..` climbs above the start of the path".into());
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    Ok(match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_lists() {
        assert_eq!(email_addresses("a@x.example").unwrap(), ["a@x.example"]);
        assert_eq!(
            email_addresses("J. Ortiz <J.Ortiz@Contoso.Example>, am-contoso@acme.example").unwrap(),
            ["j.ortiz@contoso.example", "am-contoso@acme.example"]
        );
        assert_eq!(
            email_addresses("\"Ortiz, J\" <j@c.example>; b@d.example.").unwrap(),
            ["j@c.example", "b@d.example"]
        );
        assert_eq!(email_domains("a@x.example, b@Y.example").unwrap(), ["x.example", "y.example"]);
    }

    #[test]
    fn address_lists_outside_the_syntax_are_errors() {
        for bad in [
            "",
            "  ",
            "a@x.example,",
            "a@x.example,,b@y.example",
            "noat",
            "a@b@c.example",
            "\"a@x\"@evil.example",
            "a\\@x@evil.example",
            "(comment) a@x.example",
            "team: a@x.example;",
            "a@[127.0.0.1]",
            "<a@x.example",
            "Name <a@x.example> b@y.example",
            "\"unclosed <a@x.example>",
            "a@-x.example",
            "a@x..example",
            ".a@x.example",
            "a@",
        ] {
            assert!(email_addresses(bad).is_err(), "{bad:?} was accepted: {:?}", email_addresses(bad));
        }
    }

    #[test]
    fn urls() {
        assert_eq!(url_parts("HTTPS://Docs.Acme.Example./a?b").unwrap(), ("https".into(), "docs.acme.example".into()));
        // WHATWG reading: the userinfo is not the host.
        assert_eq!(url_parts("https://acme.example@evil.example/").unwrap().1, "evil.example");
        assert_eq!(url_parts("http://0x7f.1/").unwrap().1, "127.0.0.1");
        assert!(url_parts("/relative/path").is_err());
        assert!(url_parts("mailto:a@x.example").is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(normalized_path("/workspace/../etc/passwd").unwrap(), "/etc/passwd");
        assert_eq!(normalized_path("/workspace//a/./b/").unwrap(), "/workspace/a/b");
        assert_eq!(normalized_path("/").unwrap(), "/");
        assert_eq!(normalized_path("a/b/..").unwrap(), "a");
        assert_eq!(normalized_path("a/..").unwrap(), ".");
        assert!(normalized_path("/..").is_err());
        assert!(normalized_path("../x").is_err());
        assert!(normalized_path("/workspace\\..\\secrets").is_err());
        assert!(normalized_path("/a\0b").is_err());
    }
}
