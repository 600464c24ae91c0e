//! A seeded generator of labelled documents for measuring detectors: support
//! chats, CRM dumps, clinical notes, logs, emails and invoices in six locales
//! (US, UK, DE, FR, IN, BR), with planted personal data and credentials (the
//! kind and byte range of each are recorded) and planted look-alikes that no
//! detector should touch: order numbers failing Luhn, timestamps, UUIDs,
//! hashes, version strings, invalid SSNs, dates, amounts, tracking numbers.
//!
//! Shared by `tests/detectors.rs` (precision and recall) and `benches/mask.rs`
//! (throughput) through `#[path]`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::fmt::Write as _;
use std::ops::Range;

/// The corpus's draws, on the shared generator (`ward_testkit::SplitMix64`);
/// `below` keeps its modulo so that a seed still gives the same corpus.
pub struct Rng(ward_testkit::SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(ward_testkit::SplitMix64::new(seed))
    }

    pub fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    pub fn pick_str(&mut self, xs: &[&'static str]) -> &'static str {
        xs[self.below(xs.len())]
    }

    pub fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }

    pub fn from(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n).map(|_| char::from(*self.pick(alphabet))).collect()
    }
}

/// What a detector of `stdlib.pii` should find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Email,
    Phone,
    Card,
    Ssn,
    Iban,
    Ipv4,
    Ipv6,
    AwsKey,
    Bearer,
    Jwt,
    PrivateKey,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::Email,
        Kind::Phone,
        Kind::Card,
        Kind::Ssn,
        Kind::Iban,
        Kind::Ipv4,
        Kind::Ipv6,
        Kind::AwsKey,
        Kind::Bearer,
        Kind::Jwt,
        Kind::PrivateKey,
    ];

    /// The `stdlib.pii` detector (and built-in) that finds this kind.
    pub fn detector(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Card => "credit_card",
            Kind::Ssn => "ssn",
            Kind::Iban => "iban",
            Kind::Ipv4 => "ipv4",
            Kind::Ipv6 => "ipv6",
            Kind::AwsKey => "aws_access_key",
            Kind::Bearer => "bearer_token",
            Kind::Jwt => "jwt",
            Kind::PrivateKey => "private_key",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    Us,
    Uk,
    De,
    Fr,
    In,
    Br,
}

impl Locale {
    pub const ALL: [Locale; 6] = [Locale::Us, Locale::Uk, Locale::De, Locale::Fr, Locale::In, Locale::Br];
}

/// The look-alikes, by category: values that resemble personal data and
/// must survive masking.
pub const LOOKALIKES: [&str; 11] = [
    "order_number",
    "timestamp",
    "uuid",
    "hash",
    "version",
    "invalid_ssn",
    "date",
    "amount",
    "tracking_number",
    "record_id",
    "network_misc",
];

/// One generated document.
#[derive(Debug, Clone)]
pub struct Doc {
    pub genre: &'static str,
    pub locale: Locale,
    pub text: String,
    /// Planted personal data and credentials: what must be found.
    pub pii: Vec<(Kind, Range<usize>)>,
    /// Planted look-alikes: what must be left alone.
    pub lookalikes: Vec<(&'static str, Range<usize>)>,
    /// Personal data in forms the detectors do not claim to find (bare
    /// nine-digit SSNs, phone numbers without any separator): measured and
    /// reported, not part of the targets.
    pub out_of_scope: Vec<(&'static str, Range<usize>)>,
}

struct Builder {
    text: String,
    pii: Vec<(Kind, Range<usize>)>,
    lookalikes: Vec<(&'static str, Range<usize>)>,
    out_of_scope: Vec<(&'static str, Range<usize>)>,
}

impl Builder {
    fn new() -> Builder {
        Builder { text: String::new(), pii: Vec::new(), lookalikes: Vec::new(), out_of_scope: Vec::new() }
    }

    fn s(&mut self, t: &str) {
        self.text.push_str(t);
    }

    fn pii(&mut self, kind: Kind, value: &str) {
        let start = self.text.len();
        self.text.push_str(value);
        self.pii.push((kind, start..self.text.len()));
    }

    fn look(&mut self, what: &'static str, value: &str) {
        let start = self.text.len();
        self.text.push_str(value);
        self.lookalikes.push((what, start..self.text.len()));
    }

    fn out_of_scope(&mut self, what: &'static str, value: &str) {
        let start = self.text.len();
        self.text.push_str(value);
        self.out_of_scope.push((what, start..self.text.len()));
    }

    /// A sentence with one slot `{}`: the text around it, then the value.
    fn sentence(&mut self, template: &str, fill: impl FnOnce(&mut Builder)) {
        let (before, after) = template.split_once("{}").unwrap_or((template, ""));
        self.s(before);
        fill(self);
        self.s(after);
    }
}

// ───────────────────────── names and places ─────────────────────────

fn first_names(l: Locale) -> &'static [&'static str] {
    match l {
        Locale::Us => &[
            "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "Maria", "Jordan", "Dana",
            "Sam",
        ],
        Locale::Uk => &["Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Emily", "Siobhan", "Rhys"],
        Locale::De => &["Lukas", "Anna", "Jürgen", "Sophie", "Maximilian", "Marie", "Felix", "Lena", "Björn", "Käthe"],
        Locale::Fr => &["Léa", "Hugo", "Chloé", "Louis", "Manon", "Gabriel", "Camille", "François", "Anaïs", "Jérôme"],
        Locale::In => &["Aarav", "Priya", "Vivaan", "Ananya", "Arjun", "Diya", "Rohan", "Kavya", "Sai", "Meera"],
        Locale::Br => &["João", "Maria", "Pedro", "Ana", "Lucas", "Júlia", "Gabriel", "Beatriz", "Conceição", "Thiago"],
    }
}

fn last_names(l: Locale) -> &'static [&'static str] {
    match l {
        Locale::Us => {
            &["Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Ortiz", "Anders", "O'Neil"]
        }
        Locale::Uk => &["Taylor", "Davies", "Evans", "Thomas", "Roberts", "Walker", "Wright", "Hughes", "Ap Rhys"],
        Locale::De => &["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Groß"],
        Locale::Fr => &["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Lefèvre"],
        Locale::In => &["Sharma", "Patel", "Singh", "Kumar", "Gupta", "Reddy", "Iyer", "Nair", "Banerjee"],
        Locale::Br => &["Silva", "Santos", "Oliveira", "Souza", "Lima", "Pereira", "Costa", "Rodrigues", "Gonçalves"],
    }
}

fn cities(l: Locale) -> &'static [&'static str] {
    match l {
        Locale::Us => &["San Francisco", "Austin", "Chicago", "Boston", "Denver"],
        Locale::Uk => &["London", "Manchester", "Leeds", "Cardiff", "Glasgow"],
        Locale::De => &["Berlin", "München", "Hamburg", "Köln", "Leipzig"],
        Locale::Fr => &["Paris", "Lyon", "Marseille", "Toulouse", "Lille"],
        Locale::In => &["Mumbai", "Bengaluru", "Chennai", "Pune", "Delhi"],
        Locale::Br => &["São Paulo", "Rio de Janeiro", "Belo Horizonte", "Curitiba", "Recife"],
    }
}

fn ascii_fold(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            Some(match c {
                'ä' => 'a',
                'ö' => 'o',
                'ü' => 'u',
                'ß' => 's',
                'é' | 'è' | 'ê' => 'e',
                'ï' | 'í' => 'i',
                'ô' | 'ó' => 'o',
                'ç' => 'c',
                'ã' | 'á' => 'a',
                'ú' => 'u',
                'Ä' => 'A',
                'Ö' => 'O',
                'Ü' => 'U',
                'É' => 'E',
                ' ' | '\'' => return None,
                c => c,
            })
        })
        .collect()
}

fn name(r: &mut Rng, l: Locale) -> (String, String) {
    (r.pick(first_names(l)).to_string(), r.pick(last_names(l)).to_string())
}

// ───────────────────────── personal data ─────────────────────────

pub fn email(r: &mut Rng, l: Locale) -> String {
    let (first, last) = name(r, l);
    let (f, la) = (ascii_fold(&first).to_lowercase(), ascii_fold(&last).to_lowercase());
    let local = match r.below(7) {
        0 => format!("{f}.{la}"),
        1 => format!("{}{la}", f.chars().next().unwrap_or('x')),
        2 => format!("{f}_{la}{}", r.range(1, 99)),
        3 => format!("{f}+{}", r.pick(&["billing", "crm", "support", "news"])),
        4 => format!("{}.{}", ascii_fold(&first), ascii_fold(&last)),
        5 => r.pick(&["ops", "billing", "accounts", "no-reply", "hr.team", "support"]).to_string(),
        _ => format!("{f}{}", r.range(70, 2005)),
    };
    let domain = match l {
        Locale::Us => {
            *r.pick(&["example.com", "mail.example.com", "corp.example.net", "example.org", "northwind.example"])
        }
        Locale::Uk => *r.pick(&["example.co.uk", "mail.example.org.uk", "contoso.example.uk"]),
        Locale::De => *r.pick(&["beispiel.de", "example.de", "mail.firma-gmbh.example", "web.example.de"]),
        Locale::Fr => *r.pick(&["exemple.fr", "societe.example.fr", "orange-mail.example"]),
        Locale::In => *r.pick(&["example.in", "example.co.in", "mailbox.example.in"]),
        Locale::Br => *r.pick(&["exemplo.com.br", "empresa.example.br", "uol.example.com.br"]),
    };
    let domain = if r.chance(0.1) { "inbox.example".to_string() } else { domain.to_string() };
    let domain = if r.chance(0.05) { domain.to_uppercase() } else { domain };
    format!("{local}@{domain}")
}

pub fn phone(r: &mut Rng, l: Locale) -> String {
    match l {
        Locale::Us => {
            let a = format!("{}{}", r.range(2, 9), r.digits(2));
            let e = format!("{}{}", r.range(2, 9), r.digits(2));
            let n = r.digits(4);
            match r.below(11) {
                0 => format!("+1 {a} {e} {n}"),
                1 => format!("+1-{a}-{e}-{n}"),
                2 => format!("({a}) {e}-{n}"),
                3 => format!("{a}-{e}-{n}"),
                4 => format!("{a}.{e}.{n}"),
                5 => format!("1-800-{e}-{n}"),
                6 => format!("+1{a}{e}{n}"),
                7 => format!("({a}){e}-{n}"),
                8 => format!("{a} {e} {n}"),
                9 => format!("+1.{a}.{e}.{n}"),
                _ => format!("+1 ({a}) {e}-{n}"),
            }
        }
        Locale::Uk => match r.below(8) {
            6 => format!("+44-20-{}-{}", r.digits(4), r.digits(4)),
            7 => format!("0207 {} {}", r.digits(3), r.digits(4)),
            0 => format!("+44 20 {} {}", r.digits(4), r.digits(4)),
            1 => format!("+44 (0)20 {} {}", r.digits(4), r.digits(4)),
            2 => format!("020 {} {}", r.digits(4), r.digits(4)),
            3 => format!("07{} {}", r.digits(3), r.digits(6)),
            4 => format!("+44 7{} {}", r.digits(3), r.digits(6)),
            _ => format!("01{} {}", r.digits(3), r.digits(6)),
        },
        Locale::De => match r.below(11) {
            8 => format!("0049 30 {}", r.digits(8)),
            9 => format!("+49 30 {} {} {}", r.digits(3), r.digits(3), r.digits(2)),
            10 => format!("+49 (30) {}", r.digits(7)),
            0 => format!("+49 30 {}", r.digits(8)),
            1 => format!("030 {}", r.digits(8)),
            2 => format!("015{} {}", r.range(1, 9), r.digits(8)),
            3 => format!("+49 15{} {}", r.range(1, 9), r.digits(8)),
            4 => format!("030/{}", r.digits(7)),
            5 => format!("+49 (0)30 {}", r.digits(7)),
            6 => format!("089 {} {}", r.digits(4), r.digits(4)),
            _ => format!("(030) {}", r.digits(7)),
        },
        Locale::Fr => {
            let pairs = |r: &mut Rng, sep: &str| (0..4).map(|_| r.digits(2)).collect::<Vec<_>>().join(sep);
            let d = r.range(1, 9);
            match r.below(5) {
                0 => format!("+33 {d} {}", pairs(r, " ")),
                1 => format!("0{d} {}", pairs(r, " ")),
                2 => format!("0{d}.{}", pairs(r, ".")),
                3 => format!("+33 (0){d} {}", pairs(r, " ")),
                _ => format!("+33 {d} {}", pairs(r, " ")),
            }
        }
        Locale::In => {
            let m = format!("{}{}", r.range(6, 9), r.digits(4));
            let n = r.digits(5);
            match r.below(9) {
                7 => format!("+91 {m}-{n}"),
                8 => format!("+91 (22) {} {}", r.digits(4), r.digits(4)),
                0 => format!("+91 {m} {n}"),
                1 => format!("0{m} {n}"),
                2 => format!("{m} {n}"),
                3 => format!("+91-{m}-{n}"),
                4 => format!("022 {} {}", r.digits(4), r.digits(4)),
                5 => format!("+91 22 {} {}", r.digits(4), r.digits(4)),
                _ => format!("+91{m}{n}"),
            }
        }
        Locale::Br => {
            let ddd = r.range(11, 99);
            match r.below(8) {
                6 => format!("(0{ddd}) 9{}-{}", r.digits(4), r.digits(4)),
                7 => format!("+55 {ddd} 9{}{}", r.digits(4), r.digits(4)),
                0 => format!("+55 {ddd} 9{}-{}", r.digits(4), r.digits(4)),
                1 => format!("({ddd}) 9{}-{}", r.digits(4), r.digits(4)),
                2 => format!("{ddd} 9{}-{}", r.digits(4), r.digits(4)),
                3 => format!("+55 ({ddd}) {}{}-{}", r.range(2, 5), r.digits(3), r.digits(4)),
                4 => format!("({ddd}) {}{}-{}", r.range(2, 5), r.digits(3), r.digits(4)),
                _ => format!("+55 {ddd} {}{}-{}", r.range(2, 5), r.digits(3), r.digits(4)),
            }
        }
    }
}

fn luhn_check_digit(payload: &str) -> u32 {
    let sum: u32 = payload
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap_or(0);
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

fn luhn_valid(digits: &str) -> bool {
    let (payload, check) = digits.split_at(digits.len() - 1);
    luhn_check_digit(payload) == check.parse::<u32>().unwrap_or(99)
}

fn group(digits: &str, sizes: &[usize], sep: &str) -> String {
    let mut out = Vec::new();
    let mut at = 0;
    for s in sizes {
        if at >= digits.len() {
            break;
        }
        let end = (at + s).min(digits.len());
        out.push(&digits[at..end]);
        at = end;
    }
    if at < digits.len() {
        out.push(&digits[at..]);
    }
    out.join(sep)
}

/// A card number of a brand in use, with a valid Luhn digit, as printed.
pub fn card(r: &mut Rng) -> String {
    let (prefix, len, sizes): (String, usize, &[usize]) = match r.below(9) {
        0 | 1 => ("4".to_string(), 16, &[4, 4, 4, 4]),
        2 => (format!("5{}", r.range(1, 5)), 16, &[4, 4, 4, 4]),
        3 => (format!("{}", r.range(2221, 2720)), 16, &[4, 4, 4, 4]),
        4 => (r.pick(&["34", "37"]).to_string(), 15, &[4, 6, 5]),
        5 => (r.pick(&["6011", "65", "644"]).to_string(), 16, &[4, 4, 4, 4]),
        6 => (format!("35{}", r.range(28, 89)), 16, &[4, 4, 4, 4]),
        7 => (r.pick(&["36", "38", "300"]).to_string(), 14, &[4, 6, 4]),
        _ => ("62".to_string(), *r.pick(&[16, 19]), &[4, 4, 4, 4, 3]),
    };
    let body = format!("{prefix}{}", r.digits(len - 1 - prefix.len()));
    let number = format!("{body}{}", luhn_check_digit(&body));
    match r.below(5) {
        0 | 1 => group(&number, sizes, " "),
        2 => group(&number, sizes, "-"),
        _ => number,
    }
}

/// A valid US SSN: area 001–899 except 666, group 01–99, serial 0001–9999.
pub fn ssn(r: &mut Rng) -> String {
    let mut area = r.range(1, 899);
    if area == 666 {
        area = 665;
    }
    let (g, s) = (r.range(1, 99), r.range(1, 9999));
    if r.chance(0.15) { format!("{area:03} {g:02} {s:04}") } else { format!("{area:03}-{g:02}-{s:04}") }
}

fn mod97(s: &str) -> u32 {
    s.chars().fold(0u32, |acc, c| {
        let v = c.to_digit(36).unwrap_or(0);
        if v >= 10 { (acc * 100 + v) % 97 } else { (acc * 10 + v) % 97 }
    })
}

/// An IBAN with a valid checksum, compact or in print groups of four.
pub fn iban(r: &mut Rng, l: Locale) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let country = match l {
        Locale::De => *r.pick(&["DE", "DE", "AT", "CH"]),
        Locale::Uk => *r.pick(&["GB", "GB", "IE"]),
        Locale::Fr => *r.pick(&["FR", "FR", "BE", "ES", "IT"]),
        Locale::Br => *r.pick(&["BR", "PT"]),
        Locale::Us | Locale::In => *r.pick(&["NL", "DE", "GB", "FR", "PL", "ES"]),
    };
    let bban = match country {
        "DE" => r.digits(18),
        "AT" => r.digits(16),
        "CH" => format!("{}{}", r.digits(5), r.from(ALNUM, 12)),
        "GB" | "IE" => format!("{}{}", r.from(UPPER, 4), r.digits(14)),
        "FR" => format!("{}{}{}", r.digits(10), r.from(ALNUM, 11), r.digits(2)),
        "BE" => r.digits(12),
        "ES" => r.digits(20),
        "IT" => format!("{}{}{}", r.from(UPPER, 1), r.digits(10), r.from(ALNUM, 12)),
        "NL" => format!("{}{}", r.from(UPPER, 4), r.digits(10)),
        "PL" => r.digits(24),
        "PT" => r.digits(21),
        _ => format!("{}{}{}", r.digits(23), r.from(UPPER, 1), r.from(ALNUM, 1)), // BR
    };
    let check = 98 - mod97(&format!("{bban}{country}00"));
    let compact = format!("{country}{check:02}{bban}");
    let compact = if r.chance(0.05) { compact.to_lowercase() } else { compact };
    if r.chance(0.6) {
        compact.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap_or("")).collect::<Vec<_>>().join(" ")
    } else {
        compact
    }
}

pub fn ipv4(r: &mut Rng) -> String {
    match r.below(4) {
        0 => format!("10.{}.{}.{}", r.range(0, 255), r.range(0, 255), r.range(1, 254)),
        1 => format!("192.168.{}.{}", r.range(0, 255), r.range(1, 254)),
        2 => format!("172.{}.{}.{}", r.range(16, 31), r.range(0, 255), r.range(1, 254)),
        _ => format!("{}.{}.{}.{}", r.range(1, 223), r.range(0, 255), r.range(0, 255), r.range(1, 254)),
    }
}

fn ipv6(r: &mut Rng) -> String {
    let mut g: [u16; 8] = std::array::from_fn(|_| r.next() as u16);
    match r.below(6) {
        0 => g.iter().map(|x| format!("{x:04x}")).collect::<Vec<_>>().join(":"),
        1 => g.iter().map(|x| format!("{x:x}")).collect::<Vec<_>>().join(":"),
        2 => {
            g[0] = 0x2001;
            g[1] = 0x0db8;
            let zeros = r.range(2, 4) as usize;
            let at = r.range(2, (8 - zeros) as u64) as usize;
            for x in g.iter_mut().skip(at).take(zeros) {
                *x = 0;
            }
            std::net::Ipv6Addr::from(g).to_string()
        }
        3 => {
            let addr = std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, g[4], g[5], g[6], g[7]).to_string();
            if r.chance(0.5) { format!("{addr}%eth{}", r.below(3)) } else { addr }
        }
        4 => format!("::ffff:{}", ipv4(r)),
        _ => {
            let addr =
                std::net::Ipv6Addr::new(0x2a00 + r.range(0, 255) as u16, g[1], g[2], 0, 0, 0, 0, g[7]).to_string();
            if r.chance(0.3) { addr.to_uppercase() } else { addr }
        }
    }
}

const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEX: &[u8] = b"0123456789abcdef";

pub fn aws_key_id(r: &mut Rng) -> String {
    format!("{}{}", r.pick(&["AKIA", "AKIA", "ASIA"]), r.from(B32, 16))
}

fn aws_secret(r: &mut Rng) -> String {
    r.from(B64, 40)
}

fn b64url(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(B64URL[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn jwt(r: &mut Rng) -> String {
    let header = match r.below(4) {
        0 => r#"{"alg":"HS256","typ":"JWT"}"#.to_string(),
        1 => format!(r#"{{"alg":"RS256","kid":"{}","typ":"JWT"}}"#, r.from(HEX, 12)),
        2 => r#"{"typ":"JWT","alg":"ES256"}"#.to_string(),
        _ => r#"{"alg":"RS512"}"#.to_string(),
    };
    let payload = format!(
        r#"{{"sub":"{}","name":"{}","iat":{},"exp":{},"scope":"crm.read"}}"#,
        r.digits(10),
        r.pick(first_names(Locale::Us)),
        r.range(1_700_000_000, 1_800_000_000),
        r.range(1_800_000_000, 1_900_000_000)
    );
    let n = *r.pick(&[43, 86, 342]);
    let sig = r.from(B64URL, n);
    format!("{}.{}.{sig}", b64url(header.as_bytes()), b64url(payload.as_bytes()))
}

fn bearer_token(r: &mut Rng) -> String {
    match r.below(4) {
        0 => jwt(r),
        1 => format!("ya29.a0{}", r.from(B64URL, 60)),
        2 => r.from(B64URL, 32),
        _ => format!("{}.{}", r.from(B64URL, 24), r.from(B64URL, 16)),
    }
}

fn private_key(r: &mut Rng) -> String {
    let kind =
        *r.pick(&["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY"]);
    let lines = match kind {
        "EC PRIVATE KEY" => 3,
        "OPENSSH PRIVATE KEY" => 6,
        _ => r.range(8, 25) as usize,
    };
    let mut out = format!("-----BEGIN {kind}-----\n");
    if kind == "RSA PRIVATE KEY" && r.chance(0.2) {
        let _ = write!(out, "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,{}\n\n", r.from(b"0123456789ABCDEF", 32));
    }
    for _ in 0..lines {
        out.push_str(&r.from(B64, 64));
        out.push('\n');
    }
    out.push_str(&r.from(B64, 20));
    out.push_str("==\n");
    let _ = write!(out, "-----END {kind}-----");
    out
}

// ───────────────────────── look-alikes ─────────────────────────

/// A number shaped like a card that fails the Luhn check.
fn order_number(r: &mut Rng) -> String {
    let len = *r.pick(&[13, 14, 15, 16, 16, 16, 17, 18, 19]);
    let mut digits = format!("{}{}", r.pick(&["4", "5", "3", "6", "1", "9", "2"]), r.digits(len - 1));
    while luhn_valid(&digits) {
        digits = format!("{}{}", &digits[..len - 1], (digits.as_bytes()[len - 1] - b'0' + 1) % 10);
    }
    if len == 16 && r.chance(0.5) {
        group(&digits, &[4, 4, 4, 4], if r.chance(0.5) { " " } else { "-" })
    } else {
        digits
    }
}

fn timestamp(r: &mut Rng) -> String {
    let (y, mo, d) = (r.range(2019, 2026), r.range(1, 12), r.range(1, 28));
    let (h, mi, s) = (r.range(0, 23), r.range(0, 59), r.range(0, 59));
    match r.below(7) {
        0 => format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
        1 => format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}+0{}:00", r.range(0, 999), r.range(0, 5)),
        2 => format!("{y}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"),
        3 => format!("{d:02}/{mo:02}/{y} {h:02}:{mi:02}"),
        4 => format!("{} {d:2} {h:02}:{mi:02}:{s:02}", r.pick(&["Jan", "Feb", "Mar", "Apr", "May", "Jun"])),
        5 => format!("{}", r.range(1_500_000_000, 1_800_000_000)),
        _ => format!("{}", r.range(1_500_000_000_000, 1_800_000_000_000)),
    }
}

fn uuid(r: &mut Rng) -> String {
    format!(
        "{}-{}-4{}-{}{}-{}",
        r.from(HEX, 8),
        r.from(HEX, 4),
        r.from(HEX, 3),
        r.pick(&["8", "9", "a", "b"]),
        r.from(HEX, 3),
        r.from(HEX, 12)
    )
}

fn hash(r: &mut Rng) -> String {
    match r.below(4) {
        0 => r.from(HEX, 40),
        1 => r.from(HEX, 7),
        2 => format!("sha256:{}", r.from(HEX, 64)),
        _ => r.from(HEX, 32).to_uppercase(),
    }
}

fn version(r: &mut Rng) -> String {
    match r.below(6) {
        0 => format!("v{}.{}.{}", r.range(0, 5), r.range(0, 30), r.range(0, 20)),
        1 => format!("{}.{}.{}-beta.{}", r.range(0, 5), r.range(0, 30), r.range(0, 20), r.range(1, 9)),
        2 => format!("{}.{}.{}", r.range(1, 12), r.range(0, 30), r.range(0, 99)),
        3 => format!("Chrome/{}.0.{}.{}", r.range(100, 130), r.range(4000, 6999), r.range(10, 250)),
        4 => format!("10.0.{}.{}", r.range(17000, 26000), r.range(1000, 5000)),
        _ => format!("v{}.{}.{}.{}", r.range(1, 9), r.range(0, 9), r.range(0, 9), r.range(0, 99)),
    }
}

fn invalid_ssn(r: &mut Rng) -> String {
    let (a, g, s) = (r.range(1, 899), r.range(1, 99), r.range(1, 9999));
    match r.below(5) {
        0 => format!("000-{g:02}-{s:04}"),
        1 => format!("666-{g:02}-{s:04}"),
        2 => format!("{}-{g:02}-{s:04}", r.range(900, 999)),
        3 => format!("{a:03}-00-{s:04}"),
        _ => format!("{a:03}-{g:02}-0000"),
    }
}

fn date(r: &mut Rng, l: Locale) -> String {
    let (y, m, d) = (r.range(1940, 2026), r.range(1, 12), r.range(1, 28));
    match (l, r.below(3)) {
        (_, 0) => format!("{y}-{m:02}-{d:02}"),
        (Locale::Us, _) => format!("{m:02}/{d:02}/{y}"),
        (Locale::De, _) => format!("{d:02}.{m:02}.{y}"),
        (Locale::Fr | Locale::Br | Locale::In, 1) => format!("{d:02}/{m:02}/{y}"),
        (Locale::Uk, 1) => format!("{d} {} {y}", r.pick(&["January", "March", "June", "October"])),
        _ => format!("{d:02}-{m:02}-{y}"),
    }
}

fn amount(r: &mut Rng, l: Locale) -> String {
    let units = r.range(1, 99_999_999);
    let cents = r.range(0, 99);
    let thousands = |n: u64, sep: &str| {
        let s = n.to_string();
        let mut groups = Vec::new();
        let mut end = s.len();
        while end > 3 {
            groups.push(&s[end - 3..end]);
            end -= 3;
        }
        groups.push(&s[..end]);
        groups.reverse();
        groups.join(sep)
    };
    match l {
        Locale::Us => format!("${}.{cents:02}", thousands(units, ",")),
        Locale::Uk => format!("£{}.{cents:02}", thousands(units, ",")),
        Locale::De => {
            if r.chance(0.5) {
                format!("{},{cents:02} €", thousands(units, "."))
            } else {
                format!("EUR {},{cents:02}", thousands(units, "."))
            }
        }
        Locale::Fr => format!("{},{cents:02} €", thousands(units, " ")),
        Locale::In => {
            // Lakh grouping: 1,23,45,678.00
            let s = units.to_string();
            let (head, tail) = s.split_at(s.len().saturating_sub(3));
            let mut groups: Vec<String> = Vec::new();
            let mut h = head.to_string();
            while h.len() > 2 {
                groups.insert(0, h[h.len() - 2..].to_string());
                h.truncate(h.len() - 2);
            }
            if !h.is_empty() {
                groups.insert(0, h);
            }
            groups.push(tail.to_string());
            format!("₹{}.{cents:02}", groups.into_iter().filter(|g| !g.is_empty()).collect::<Vec<_>>().join(","))
        }
        Locale::Br => format!("R$ {},{cents:02}", thousands(units, ".")),
    }
}

fn tracking_number(r: &mut Rng) -> String {
    match r.below(5) {
        0 => format!("1Z{}{}", r.from(b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789", 6), r.digits(10)),
        1 => r.digits(12),
        2 => group(&format!("9400{}", r.digits(18)), &[4, 4, 4, 4, 4, 2], " "),
        3 => format!("JD{}", r.digits(18)),
        _ => format!("{}{}{}", r.from(b"ABCDEFGHJKLMNPRSTUVWXYZ", 2), r.digits(9), "GB"),
    }
}

fn record_id(r: &mut Rng) -> String {
    match r.below(16) {
        11 => format!("Order {}-{}-{}", r.digits(3), r.digits(7), r.digits(7)),
        12 => format!("Serial No. {} {} {}", r.digits(4), r.digits(4), r.digits(4)),
        13 => format!("Lot {}-{}-{}", r.digits(4), r.digits(4), r.digits(2)),
        14 => format!("Meeting ID: {} {} {}", r.digits(3), r.digits(4), r.digits(4)),
        15 => format!("badge {}-{}-{}", r.digits(2), r.digits(4), r.digits(2)),
        6 => format!("ISBN 978-{}-{}-{}-{}", r.range(0, 9), r.digits(2), r.digits(6), r.range(0, 9)),
        7 => format!("IMEI 35{}", r.digits(13)),
        8 => format!("SIN {} {} {}", r.digits(3), r.digits(3), r.digits(3)),
        9 => format!("SKU {}-{}", r.digits(4), r.from(b"ABCDEFGHJKLMNPRSTUVWXYZ", 3)),
        10 => format!("**** **** **** {}", r.digits(4)),
        0 => format!("INV-{}-{}", r.range(2019, 2026), r.digits(6)),
        1 => format!("#{}", r.range(10_000, 999_999)),
        2 => format!("MRN {}", r.digits(8)),
        3 => format!("c-{}", r.range(1000, 9999)),
        4 => format!("TKT-{}", r.digits(6)),
        _ => format!("PO {}/{}", r.range(2019, 2026), r.digits(5)),
    }
}

fn network_misc(r: &mut Rng) -> String {
    match r.below(8) {
        5 => format!("{}:{:02}:{:02},{:03}", r.range(0, 23), r.range(0, 59), r.range(0, 59), r.range(0, 999)),
        6 => format!(
            "+05:30 offset, {}.{:04}, {}.{:04}",
            r.range(10, 60),
            r.range(0, 9999),
            r.range(1, 30),
            r.range(0, 9999)
        ),
        7 => format!("ZIP {}-{}", r.digits(5), r.digits(4)),
        0 => format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            r.next() as u8,
            r.next() as u8,
            r.next() as u8,
            r.next() as u8,
            r.next() as u8,
            r.next() as u8
        ),
        1 => format!("port {}", r.range(1024, 65535)),
        2 => format!("HTTP/1.1 {} {}", r.pick(&["200", "404", "503"]), r.range(100, 99999)),
        3 => format!("1.3.6.1.4.1.{}.{}", r.range(100, 60000), r.range(1, 20)),
        _ => format!("latency={}ms", r.range(1, 9999)),
    }
}

fn lookalike(r: &mut Rng, l: Locale, what: &'static str) -> String {
    match what {
        "order_number" => order_number(r),
        "timestamp" => timestamp(r),
        "uuid" => uuid(r),
        "hash" => hash(r),
        "version" => version(r),
        "invalid_ssn" => invalid_ssn(r),
        "date" => date(r, l),
        "amount" => amount(r, l),
        "tracking_number" => tracking_number(r),
        "record_id" => record_id(r),
        _ => network_misc(r),
    }
}

// ───────────────────────── prose ─────────────────────────

fn filler(r: &mut Rng, l: Locale) -> &'static str {
    let en: &[&str] = &[
        "Thanks for getting back to me so quickly. ",
        "I have looked into the account and everything seems to be in order now. ",
        "The refund usually takes three to five business days to appear. ",
        "Let me know if there is anything else I can help you with. ",
        "We apologise for the inconvenience this has caused. ",
        "The customer called twice about the delayed delivery. ",
        "Could you please confirm the details below before we proceed? ",
        "Our records show that the subscription was renewed last month. ",
        "Patient reports mild headache and fatigue since Monday. ",
        "No known drug allergies. Blood pressure within normal range. ",
        "The deployment finished without errors on all nodes. ",
        "Retrying the request after a short back-off. ",
        "Please find the invoice for your recent purchase attached. ",
        "Payment is due within 30 days of the invoice date. ",
        "Kind regards, and have a great weekend! ",
    ];
    let local: &[&str] = match l {
        Locale::De => &[
            "Vielen Dank für Ihre Nachricht. ",
            "Die Rückerstattung wird in den nächsten Tagen bearbeitet. ",
            "Bitte überweisen Sie den Betrag innerhalb von 14 Tagen. ",
            "Mit freundlichen Grüßen ",
        ],
        Locale::Fr => &[
            "Merci pour votre message. ",
            "Le remboursement sera traité dans les prochains jours. ",
            "Veuillez régler la facture sous 30 jours. ",
            "Cordialement, ",
        ],
        Locale::Br => &[
            "Obrigado pelo contato. ",
            "O reembolso será processado nos próximos dias. ",
            "Por favor, efetue o pagamento até o vencimento. ",
            "Atenciosamente, ",
        ],
        Locale::In => &["Thank you for your patience. ", "Kindly do the needful at the earliest. ", "Regards, "],
        Locale::Uk => &["Cheers for sorting that out. ", "I'll ring you back this afternoon. ", "Best wishes, "],
        Locale::Us => &["Have a good one! ", "Talk soon. "],
    };
    if r.chance(0.35) { r.pick_str(local) } else { r.pick_str(en) }
}

/// Text around a planted value of `kind` (`{}` marks the value).
fn context(r: &mut Rng, kind: Kind, l: Locale, genre: &str) -> &'static str {
    let t: &[&'static str] = match (kind, genre) {
        (Kind::Email, "log") => &["user={} ", "login ok for {} ", "smtp: delivered to <{}> "],
        (Kind::Email, _) => match l {
            Locale::De => &["Meine E-Mail-Adresse ist {}. ", "Bitte schreiben Sie an {}. ", "E-Mail: {}\n"],
            Locale::Fr => &["Mon adresse e-mail est {}. ", "Écrivez-moi à {}. ", "Courriel : {}\n"],
            Locale::Br => &["Meu e-mail é {}. ", "E-mail: {}\n"],
            _ => &[
                "You can reach me at {}. ",
                "Please send the invoice to {} instead. ",
                "Contact: {}\n",
                "cc {} on the reply. ",
                "(email: {}) ",
            ],
        },
        (Kind::Phone, _) => match l {
            Locale::De => &["Rufen Sie mich unter {} an. ", "Tel.: {}\n", "Telefon {} "],
            Locale::Fr => &["Appelez-moi au {}. ", "Tél. : {}\n"],
            Locale::Br => &["Meu telefone é {}. ", "Tel: {}\n", "WhatsApp {} "],
            _ => &["Call me on {} after 5pm. ", "Phone: {}\n", "my number is {}. ", "(mobile {}) ", "Tel {}, "],
        },
        (Kind::Card, _) => &[
            "The card ending in this number was charged: {}. ",
            "card={} ",
            "Card number: {}\n",
            "I paid with {} yesterday. ",
        ],
        (Kind::Ssn, _) => &["SSN: {}\n", "Social security number {} on file. ", "ssn={} ", "Patient SSN {}. "],
        (Kind::Iban, _) => match l {
            Locale::De => &["Bitte überweisen Sie auf IBAN {}. ", "IBAN: {}\n"],
            Locale::Fr => &["IBAN : {}\n", "Virement sur le compte {}. "],
            _ => &["IBAN {} ", "Please refund to {}. ", "Account (IBAN): {}\n"],
        },
        (Kind::Ipv4, _) => {
            &["client={} ", "connection from {} refused. ", "src {}:443 ", "allow {}/32;\n", "GET http://{}/health "]
        }
        (Kind::Ipv6, _) => &["client={} ", "connection from {} refused. ", "peer [{}]:8443 ", "addr {}\n"],
        (Kind::AwsKey, _) => &["aws_access_key_id = {}\n", "AWS_ACCESS_KEY_ID={} ", "key id {} was rotated. "],
        (Kind::Bearer, _) => &["Authorization: Bearer {}\n", "curl -H 'Authorization: Bearer {}' ", "bearer {} "],
        (Kind::Jwt, _) => &["token={} ", "\"id_token\": \"{}\", ", "session {} expired. "],
        (Kind::PrivateKey, _) => &["key:\n{}\n", "Here is the deploy key, please keep it safe:\n{}\n\n"],
    };
    r.pick_str(t)
}

fn lookalike_context(r: &mut Rng, what: &str) -> &'static str {
    match what {
        "order_number" => {
            r.pick_str(&["Order {} has shipped. ", "order_id={} ", "Ref. {}\n", "Bestellnummer {} ", "Pedido {}. "])
        }
        "timestamp" => r.pick_str(&["[{}] ", "at {} ", "ts={} ", "Date: {}\n"]),
        "uuid" => r.pick_str(&["request_id={} ", "trace {} ", "Ticket {}. "]),
        "hash" => r.pick_str(&["commit {} ", "etag \"{}\" ", "checksum {}\n"]),
        "version" => r.pick_str(&["version {} ", "agent {} ", "running {}. "]),
        "invalid_ssn" => r.pick_str(&["test SSN {} (invalid) ", "placeholder {} ", "sample id {}\n"]),
        "date" => r.pick_str(&["born {} ", "DOB: {}\n", "due {} ", "on {}. "]),
        "amount" => r.pick_str(&["Total: {}\n", "amount {} ", "refund of {} issued. "]),
        "tracking_number" => r.pick_str(&["tracking {} ", "Sendungsnummer {} ", "shipment {}\n"]),
        "record_id" => r.pick_str(&["{} ", "see {}. ", "ref {}\n"]),
        _ => r.pick_str(&["{} ", "({}) ", "{}\n"]),
    }
}

const GENRES: [&str; 6] = ["chat", "crm", "clinical", "log", "email", "invoice"];

/// The kinds that appear in a genre, most likely first.
fn kinds_for(genre: &str) -> &'static [Kind] {
    match genre {
        "chat" => &[Kind::Email, Kind::Phone, Kind::Card, Kind::Ssn, Kind::Iban, Kind::Jwt],
        "crm" => &[Kind::Email, Kind::Phone, Kind::Card, Kind::Ssn, Kind::Iban, Kind::Ipv4],
        "clinical" => &[Kind::Phone, Kind::Ssn, Kind::Email],
        "log" => &[Kind::Ipv4, Kind::Ipv6, Kind::Email, Kind::AwsKey, Kind::Bearer, Kind::Jwt, Kind::PrivateKey],
        "email" => &[Kind::Email, Kind::Phone, Kind::Iban, Kind::Card, Kind::PrivateKey, Kind::AwsKey],
        _ => &[Kind::Iban, Kind::Card, Kind::Email, Kind::Phone],
    }
}

fn plant(b: &mut Builder, r: &mut Rng, kind: Kind, l: Locale, genre: &str) {
    let ctx = context(r, kind, l, genre);
    if kind == Kind::AwsKey && r.chance(0.4) {
        let secret = aws_secret(r);
        let label = *r.pick(&["aws_secret_access_key = ", "AWS_SECRET_ACCESS_KEY=", "\"aws_secret_access_key\": \""]);
        b.s(label);
        b.pii(Kind::AwsKey, &secret);
        b.s(if label.starts_with('"') { "\",\n" } else { "\n" });
        return;
    }
    let value = match kind {
        Kind::Email => email(r, l),
        Kind::Phone => phone(r, l),
        Kind::Card => card(r),
        Kind::Ssn => ssn(r),
        Kind::Iban => iban(r, l),
        Kind::Ipv4 => ipv4(r),
        Kind::Ipv6 => ipv6(r),
        Kind::AwsKey => aws_key_id(r),
        Kind::Bearer => bearer_token(r),
        Kind::Jwt => jwt(r),
        Kind::PrivateKey => private_key(r),
    };
    b.sentence(ctx, |b| b.pii(kind, &value));
}

fn plant_lookalike(b: &mut Builder, r: &mut Rng, l: Locale, what: &'static str) {
    let ctx = lookalike_context(r, what);
    let value = lookalike(r, l, what);
    b.sentence(ctx, |b| b.look(what, &value));
}

/// How much of a document is planted data.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    /// Per segment: the chance of planting personal data.
    pub pii: f64,
    /// Per segment: the chance of planting a look-alike.
    pub lookalikes: f64,
}

impl Mix {
    pub const MEASURE: Mix = Mix { pii: 0.35, lookalikes: 0.35 };
    pub const CLEAN: Mix = Mix { pii: 0.0, lookalikes: 0.0 };
}

/// Personal data in a bare form: a nine-digit SSN after `SSN` (found: the
/// keyword says what it is) and a phone number as bare digits after
/// `mobile` (left alone by design: out of scope).
fn plant_out_of_scope(b: &mut Builder, r: &mut Rng, l: Locale) {
    match r.below(2) {
        0 => {
            b.s("SSN ");
            let v = ssn(r).replace(['-', ' '], "");
            b.pii(Kind::Ssn, &v);
        }
        _ => {
            b.s("mobile ");
            let v: String = phone(r, l).chars().filter(char::is_ascii_digit).collect();
            b.out_of_scope("phone_bare", &v);
        }
    }
    b.s(". ");
}

/// A CSV export of customer records; `;`-separated where amounts use `,`.
fn csv_dump(r: &mut Rng, l: Locale, mix: Mix) -> Doc {
    let mut b = Builder::new();
    let sep = if matches!(l, Locale::De | Locale::Fr | Locale::Br) { ";" } else { "," };
    b.s(&["id", "name", "email", "phone", "card", "ssn", "iban", "created", "balance", "city"].join(sep));
    b.s("\n");
    for _ in 0..r.range(4, 12) {
        let (first, last) = name(r, l);
        b.s(&format!("c-{}{sep}{first} {last}{sep}", r.range(1000, 9999)));
        let fields: [(Kind, &'static str); 5] = [
            (Kind::Email, "record_id"),
            (Kind::Phone, "record_id"),
            (Kind::Card, "order_number"),
            (Kind::Ssn, "invalid_ssn"),
            (Kind::Iban, "record_id"),
        ];
        for (kind, look) in fields {
            if r.chance(mix.pii * 2.0) {
                let v = match kind {
                    Kind::Email => email(r, l),
                    Kind::Phone => phone(r, l),
                    Kind::Card => card(r),
                    Kind::Ssn => ssn(r),
                    _ => iban(r, l),
                };
                b.pii(kind, &v);
            } else if r.chance(mix.lookalikes * 2.0) {
                let v = lookalike(r, l, look);
                b.look(look, &v);
            }
            b.s(sep);
        }
        if r.chance(mix.lookalikes * 2.0) {
            let v = date(r, l);
            b.look("date", &v);
        }
        b.s(sep);
        if r.chance(mix.lookalikes * 2.0) {
            let v = amount(r, l);
            b.s("\"");
            b.look("amount", &v);
            b.s("\"");
        }
        b.s(&format!("{sep}{}\n", r.pick(cities(l))));
    }
    Doc { genre: "crm", locale: l, text: b.text, pii: b.pii, lookalikes: b.lookalikes, out_of_scope: b.out_of_scope }
}

/// Structured logs, one JSON object per line.
fn json_log(r: &mut Rng, l: Locale, mix: Mix) -> Doc {
    let mut b = Builder::new();
    for _ in 0..r.range(4, 12) {
        b.s("{\"ts\":\"");
        let v = timestamp(r);
        b.look("timestamp", &v);
        b.s(&format!("\",\"level\":\"{}\",\"req\":\"", r.pick(&["INFO", "WARN", "DEBUG"])));
        let v = uuid(r);
        b.look("uuid", &v);
        b.s("\"");
        if r.chance(mix.pii * 2.0) {
            b.s(",\"ip\":\"");
            let v = if r.chance(0.6) { ipv4(r) } else { ipv6(r) };
            b.pii(if v.contains(':') { Kind::Ipv6 } else { Kind::Ipv4 }, &v);
            b.s("\"");
        }
        if r.chance(mix.pii * 2.0) {
            b.s(",\"user\":\"");
            let v = email(r, l);
            b.pii(Kind::Email, &v);
            b.s("\"");
        }
        if r.chance(mix.pii) {
            b.s(",\"authorization\":\"Bearer ");
            let v = bearer_token(r);
            b.pii(Kind::Bearer, &v);
            b.s("\"");
        }
        if r.chance(mix.lookalikes * 2.0) {
            b.s(",\"ua\":\"Mozilla/5.0 ");
            let v = version(r);
            b.look("version", &v);
            b.s("\"");
        }
        if r.chance(mix.lookalikes) {
            b.s(",\"commit\":\"");
            let v = hash(r);
            b.look("hash", &v);
            b.s("\"");
        }
        b.s(&format!(",\"latency_ms\":{}}}\n", r.range(1, 3000)));
    }
    Doc { genre: "log", locale: l, text: b.text, pii: b.pii, lookalikes: b.lookalikes, out_of_scope: b.out_of_scope }
}

/// One document of `genre` in locale `l`.
pub fn document(r: &mut Rng, genre: &'static str, l: Locale, mix: Mix) -> Doc {
    if genre == "crm" && r.chance(0.4) {
        return csv_dump(r, l, mix);
    }
    if genre == "log" && r.chance(0.4) {
        return json_log(r, l, mix);
    }
    let mut b = Builder::new();
    let (first, last) = name(r, l);
    match genre {
        "chat" => b.s(&format!("Chat transcript — {first} {last}, {}\n", r.pick(cities(l)))),
        "crm" => b.s(&format!("customer: {first} {last}\ncity: {}\nnotes: ", r.pick(cities(l)))),
        "clinical" => b.s(&format!("Clinical note. Patient: {last}, {first}. ")),
        "log" => b.s("app-server-3 "),
        "email" => b.s(&format!("From: {first} {last}\nSubject: Re: your request\n\n")),
        _ => b.s(&format!("INVOICE\nBill to: {first} {last}, {}\n", r.pick(cities(l)))),
    }
    let segments = r.range(8, 20);
    for _ in 0..segments {
        let roll = r.chance(mix.pii + mix.lookalikes);
        if roll && r.chance(mix.pii / (mix.pii + mix.lookalikes).max(f64::MIN_POSITIVE)) {
            let kinds = kinds_for(genre);
            let kind = if r.chance(0.3) { *r.pick(&Kind::ALL) } else { *r.pick(kinds) };
            plant(&mut b, r, kind, l, genre);
        } else if roll {
            let what = *r.pick(&LOOKALIKES);
            plant_lookalike(&mut b, r, l, what);
        } else if mix.pii > 0.0 && r.chance(0.03) {
            plant_out_of_scope(&mut b, r, l);
        } else {
            b.s(filler(r, l));
        }
        if genre == "log" || genre == "crm" {
            if r.chance(0.3) {
                b.s("\n");
            } else if r.chance(0.2) {
                b.s(r.pick_str(&["| ", "; ", "\t"]));
            }
        } else if r.chance(0.15) {
            b.s("\n");
        }
    }
    b.s("\n");
    Doc { genre, locale: l, text: b.text, pii: b.pii, lookalikes: b.lookalikes, out_of_scope: b.out_of_scope }
}

/// A corpus of `docs` documents, every genre and locale in turn.
pub fn corpus(seed: u64, docs: usize) -> Vec<Doc> {
    let mut r = Rng::new(seed);
    (0..docs)
        .map(|i| {
            let genre = GENRES[i % GENRES.len()];
            let l = Locale::ALL[(i / GENRES.len()) % Locale::ALL.len()];
            document(&mut r, genre, l, Mix::MEASURE)
        })
        .collect()
}

/// About `bytes` of text without personal data: prose, headers, ids,
/// dates, amounts, versions — what most text an agent reads looks like.
pub fn clean_text(seed: u64, bytes: usize) -> String {
    let mut r = Rng::new(seed);
    let mut out = String::with_capacity(bytes + 4096);
    let mut i = 0;
    while out.len() < bytes {
        let genre = GENRES[i % GENRES.len()];
        let l = Locale::ALL[(i / GENRES.len()) % Locale::ALL.len()];
        out.push_str(&document(&mut r, genre, l, Mix { pii: 0.0, lookalikes: 0.1 }).text);
        i += 1;
    }
    out
}

/// About `bytes` of prose without personal data: support chats, emails,
/// clinical notes and invoices (their headers and sentences), no look-alikes.
pub fn clean_prose(seed: u64, bytes: usize) -> String {
    let mut r = Rng::new(seed);
    let mut out = String::with_capacity(bytes + 4096);
    let mut i = 0;
    while out.len() < bytes {
        let genre = ["chat", "email", "clinical", "invoice"][i % 4];
        let l = Locale::ALL[(i / 4) % Locale::ALL.len()];
        out.push_str(&document(&mut r, genre, l, Mix::CLEAN).text);
        i += 1;
    }
    out
}

/// About `bytes` of the same text with personal data planted until it is
/// `density` of the bytes (0.01: one byte in a hundred). Returns the text
/// and the number of planted values.
pub fn text_with_density(seed: u64, bytes: usize, density: f64) -> (String, usize) {
    let mut r = Rng::new(seed ^ 0xD1CE);
    let clean = clean_text(seed, bytes);
    let mut out = String::with_capacity(bytes + bytes / 50);
    let (mut pii_bytes, mut planted) = (0usize, 0usize);
    for line in clean.split_inclusive('\n') {
        out.push_str(line);
        while (pii_bytes as f64) < density * out.len() as f64 {
            let l = *r.pick(&Locale::ALL);
            let kind = *r.pick(&[
                Kind::Email,
                Kind::Phone,
                Kind::Card,
                Kind::Ssn,
                Kind::Iban,
                Kind::Ipv4,
                Kind::Email,
                Kind::Phone,
            ]);
            let mut b = Builder::new();
            plant(&mut b, &mut r, kind, l, "chat");
            pii_bytes += b.pii.iter().map(|(_, range)| range.len()).sum::<usize>();
            planted += b.pii.len();
            out.push_str(&b.text);
        }
    }
    (out, planted)
}

/// Support tickets and logs as they reach a masking proxy: about `bytes`
/// of chat, CRM and log documents with look-alike numbers (timestamps,
/// order and tracking numbers, UUIDs, amounts) added until a quarter of
/// the bytes are digits, and personal data planted until it is a fifth of
/// the bytes. Returns the text and the number of planted values.
pub fn mixed_text(seed: u64, bytes: usize) -> (String, usize) {
    let mut r = Rng::new(seed ^ 0x5EED_0018);
    let mut out = String::with_capacity(bytes + bytes / 8);
    let (mut pii_bytes, mut planted, mut digits, mut i) = (0usize, 0usize, 0usize, 0usize);
    while out.len() < bytes {
        let genre = ["chat", "log", "crm", "log"][i % 4];
        let l = Locale::ALL[(i / 4) % Locale::ALL.len()];
        i += 1;
        let doc = document(&mut r, genre, l, Mix { pii: 0.0, lookalikes: 0.35 });
        for line in doc.text.split_inclusive('\n') {
            out.push_str(line);
            digits += line.bytes().filter(u8::is_ascii_digit).count();
            while (digits as f64) < 0.25 * out.len() as f64 {
                let mut b = Builder::new();
                let what = *r.pick(&LOOKALIKES);
                plant_lookalike(&mut b, &mut r, l, what);
                digits += b.text.bytes().filter(u8::is_ascii_digit).count();
                out.push_str(&b.text);
            }
            while (pii_bytes as f64) < 0.2 * out.len() as f64 {
                let kind = *r.pick(&[
                    Kind::Email,
                    Kind::Phone,
                    Kind::Card,
                    Kind::Ssn,
                    Kind::Iban,
                    Kind::Ipv4,
                    Kind::Email,
                    Kind::Phone,
                ]);
                let mut b = Builder::new();
                plant(&mut b, &mut r, kind, l, genre);
                pii_bytes += b.pii.iter().map(|(_, range)| range.len()).sum::<usize>();
                planted += b.pii.len();
                digits += b.text.bytes().filter(u8::is_ascii_digit).count();
                out.push_str(&b.text);
            }
        }
    }
    (out, planted)
}
