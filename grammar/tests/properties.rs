//! Property tests of the parser and the formatter.
//!
//! (a) Random well-formed programs — every construct, expressions of random
//!     shape and depth, random whitespace and comments between tokens — parse
//!     without errors, the normative grammar accepts them, formatting keeps
//!     their tree and their comments, and formatting is idempotent.
//! (b) The same roundtrip over the examples and the standard library.
//! (c) Arbitrary bytes, arbitrary strings and mutated programs never make the
//!     parser panic, and every diagnostic points into the input; on mutated
//!     programs the parser and the grammar agree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;
use ward_grammar::format::format_source;
use ward_grammar::{parse, reference};

// ───────────────────────── the generator ─────────────────────────
//
// Programs are generated as token lists and joined with random separators,
// so that whitespace and comments land between every pair of tokens.

type Toks = Vec<String>;

fn toks(words: &[&str]) -> Toks {
    words.iter().map(|w| (*w).to_string()).collect()
}

/// Identifiers: ordinary names, contextual keywords and predefined names —
/// all of them must work wherever a name does.
const IDENTS: &[&str] = &[
    "a",
    "b",
    "x",
    "y1",
    "_z",
    "user",
    "Customer",
    "Level",
    "read",
    "crm",
    "to",
    "per",
    "on",
    "with",
    "using",
    "within",
    "count",
    "sum",
    "session",
    "where",
    "by",
    "open",
    "closed",
    "fail",
    "burst",
    "as",
    "ordered",
    "returns",
    "every",
    "last",
    "owner",
    "created",
    "expires",
    "rotate",
    "credentials",
    "review",
    "attrs",
    "description",
    "builtin",
    "pattern",
    "validate",
    "keywords",
    "at",
    "advance",
    "entities",
    "request",
    "expect",
    "allow",
    "deny",
    "error",
    "remaining",
    "approval_required",
    "now",
    "current",
    "text",
    "response",
    "schemas",
    "inbox",
    "policy_",
];

/// Words allowed after `.`, as record keys and the like: reserved ones too.
const RESERVED: &[&str] = &ward_grammar::lexer::RESERVED_WORDS;

fn ident() -> impl Strategy<Value = String> {
    prop::sample::select(IDENTS).prop_map(str::to_string)
}

fn any_word() -> impl Strategy<Value = String> {
    prop_oneof![3 => ident(), 1 => prop::sample::select(RESERVED).prop_map(str::to_string)]
}

/// A record key or named argument: any word but the scope words, which a flow
/// condition's scope before it would take as its next item.
fn key_word() -> impl Strategy<Value = String> {
    let reserved: Vec<&str> =
        RESERVED.iter().copied().filter(|w| !matches!(*w, "principal" | "action" | "resource")).collect();
    prop_oneof![3 => ident(), 1 => prop::sample::select(reserved).prop_map(str::to_string)]
}

fn path() -> impl Strategy<Value = Toks> {
    (ident(), vec(any_word(), 0..3)).prop_map(|(first, rest)| {
        let mut out = vec![first];
        for w in rest {
            out.push(".".to_string());
            out.push(w);
        }
        out
    })
}

fn string_lit() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("a"),
        Just("hello"),
        Just(" "),
        Just("é"),
        Just("日本"),
        Just("🎉"),
        Just("//"),
        Just("{"),
        Just("'"),
        Just("\\\""),
        Just("\\\\"),
        Just("\\n"),
        Just("\\t"),
        Just("\\r"),
        Just("\\0"),
        Just("\\u{e9}"),
        Just("\\u{1F600}"),
        Just("\\u{0}"),
        Just("\\u{10FFFF}"),
        Just("\t"),
    ];
    vec(piece, 0..4).prop_map(|pieces| format!("\"{}\"", pieces.concat()))
}

fn integer() -> impl Strategy<Value = String> {
    prop_oneof![Just("0".to_string()), (0u64..100_000).prop_map(|n| n.to_string()), Just("007".to_string())]
}

fn duration() -> impl Strategy<Value = String> {
    let unit = prop::sample::select(&["ms", "s", "m", "h", "d", "w"][..]);
    vec((1u32..100, unit), 1..3).prop_map(|parts| parts.iter().map(|(n, u)| format!("{n}{u}")).collect())
}

fn date() -> impl Strategy<Value = String> {
    (2000u32..2100, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"))
}

fn datetime() -> impl Strategy<Value = String> {
    let offset = prop_oneof![Just("Z".to_string()), Just("+01:00".to_string()), Just("-05:30".to_string())];
    let seconds = prop_oneof![Just(String::new()), Just(":00".to_string()), Just(":59.250".to_string())];
    (date(), 0u32..24, 0u32..60, seconds, offset).prop_map(|(d, h, m, s, o)| format!("{d}T{h:02}:{m:02}{s}{o}"))
}

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        integer(),
        (0u32..1000, 0u32..10_000).prop_map(|(a, b)| format!("{a}.{b}")),
        duration(),
        date(),
        datetime(),
        string_lit(),
        Just("true".to_string()),
        Just("false".to_string()),
    ]
}

/// An expression's tokens and its precedence level: 0 `||`, 1 `&&`,
/// 2 comparison, 3 `+ -`, 4 prefix, 5 postfix and primary.
/// `open` when it ends with an unparenthesized flow condition, whose scope
/// would take a following `.name` as part of a name.
#[derive(Clone, Debug)]
struct E {
    toks: Toks,
    level: u8,
    open: bool,
}

impl E {
    fn new(toks: Toks, level: u8) -> E {
        E { toks, level, open: false }
    }

    fn open(mut self, open: bool) -> E {
        self.open = open;
        self
    }

    /// The tokens as the base of a postfix operator.
    fn base(&self) -> Toks {
        if self.open { self.at(6) } else { self.at(5) }
    }

    /// The tokens, parenthesized if the expression binds looser than `level`.
    fn at(&self, level: u8) -> Toks {
        if self.level >= level {
            self.toks.clone()
        } else {
            let mut out = vec!["(".to_string()];
            out.extend(self.toks.iter().cloned());
            out.push(")".to_string());
            out
        }
    }
}

fn comma_list(items: Vec<Toks>, trailing: bool) -> Toks {
    let mut out = Vec::new();
    let n = items.len();
    for (i, item) in items.into_iter().enumerate() {
        out.extend(item);
        if i + 1 < n || (trailing && n > 0) {
            out.push(",".to_string());
        }
    }
    out
}

fn entity_ref() -> impl Strategy<Value = Toks> {
    (path(), string_lit()).prop_map(|(mut p, id)| {
        p.push("::".to_string());
        p.push(id);
        p
    })
}

fn leaf_expr() -> impl Strategy<Value = E> {
    prop_oneof![
        3 => literal().prop_map(|l| E::new(vec![l], 5)),
        3 => ident().prop_map(|i| E::new(vec![i], 5)),
        2 => prop::sample::select(&["principal", "action", "resource", "context"][..]).prop_map(|v| E::new(toks(&[v]), 5)),
        1 => entity_ref().prop_map(|t| E::new(t, 5)),
        1 => (path(), ident()).prop_map(|(mut p, v)| {
            p.push("::".to_string());
            p.push(v);
            E::new(p, 5)
        }),
    ]
}

/// A scope: rule scopes and flow scopes share the syntax.
fn scope(target: BoxedStrategy<E>) -> impl Strategy<Value = Toks> {
    let name_list = prop_oneof![
        path(),
        (vec(path(), 0..3), any::<bool>()).prop_map(|(paths, trailing)| {
            let mut out = vec!["[".to_string()];
            out.extend(comma_list(paths, trailing));
            out.push("]".to_string());
            out
        }),
    ];
    let entity_target = prop_oneof![
        entity_ref(),
        path(),
        (vec(target, 0..3), any::<bool>()).prop_map(|(items, trailing)| {
            let mut out = vec!["[".to_string()];
            out.extend(comma_list(items.iter().map(|e| e.at(0)).collect(), trailing));
            out.push("]".to_string());
            out
        }),
    ];
    let entity_item = (
        prop::sample::select(&["principal", "resource"][..]),
        prop::option::of(path()),
        prop::option::of((prop::sample::select(&["in", "=="][..]), entity_target)),
    )
        .prop_map(|(var, ty, constraint)| {
            let mut out = toks(&[var]);
            if let Some(ty) = ty {
                out.push(":".to_string());
                out.extend(ty);
            }
            if let Some((op, target)) = constraint {
                out.push(op.to_string());
                out.extend(target);
            }
            out
        });
    let action_item = prop_oneof![
        (prop::sample::select(&[":", "in"][..]), name_list).prop_map(|(op, names)| {
            let mut out = toks(&["action", op]);
            out.extend(names);
            out
        }),
        path().prop_map(|p| {
            let mut out = toks(&["action", "=="]);
            out.extend(p);
            out
        }),
    ];
    vec(prop_oneof![entity_item, action_item], 1..4).prop_map(|items| comma_list(items, false))
}

fn flow(inner: BoxedStrategy<E>) -> impl Strategy<Value = E> {
    let body = (
        duration(),
        prop::option::of(prop::sample::select(&["session", "principal"][..])),
        scope(inner.clone()),
        prop::option::of(inner.clone()),
    )
        .prop_map(|(window, group, scope, filter)| {
            let mut out = toks(&["within"]);
            out.push(window);
            if let Some(g) = group {
                out.push("by".to_string());
                out.push(g.to_string());
            }
            out.extend(scope);
            if let Some(f) = filter {
                out.push("where".to_string());
                out.extend(f.at(2));
            }
            out
        });
    (0u8..3, body, inner).prop_map(|(kind, body, value)| {
        let mut out = Vec::new();
        match kind {
            0 => {
                out.push("previously".to_string());
                out.extend(body);
            }
            1 => {
                out.extend(toks(&["count", "("]));
                out.extend(body);
                out.push(")".to_string());
            }
            _ => {
                out.extend(toks(&["sum", "("]));
                out.extend(value.at(0));
                out.push(",".to_string());
                out.extend(body);
                out.push(")".to_string());
            }
        }
        E::new(out, 5).open(kind == 0)
    })
}

fn expr() -> BoxedStrategy<E> {
    leaf_expr()
        .prop_recursive(4, 48, 4, |inner| {
            let args = (vec(inner.clone(), 0..3), any::<bool>())
                .prop_map(|(items, trailing)| comma_list(items.iter().map(|e| e.at(0)).collect(), trailing));
            prop_oneof![
                // `||` and `&&` chains
                (vec(inner.clone(), 2..4), any::<bool>()).prop_map(|(ops, or)| {
                    let (sym, level) = if or { ("||", 0) } else { ("&&", 1) };
                    let open = ops.last().is_some_and(|e| e.open && e.level > level);
                    let parts: Vec<Toks> = ops.iter().map(|e| e.at(level + 1)).collect();
                    let mut out = Vec::new();
                    for (i, p) in parts.into_iter().enumerate() {
                        if i > 0 {
                            out.push(sym.to_string());
                        }
                        out.extend(p);
                    }
                    E::new(out, level).open(open)
                }),
                // comparisons
                (inner.clone(), prop::sample::select(&["==", "!=", "<", "<=", ">", ">=", "in"][..]), inner.clone())
                    .prop_map(|(l, op, r)| {
                        // A flow's scope would take `== x` or `in x` as its constraint.
                        let mut out = if l.open && matches!(op, "==" | "in") { l.at(6) } else { l.at(3) };
                        out.push(op.to_string());
                        out.extend(r.at(3));
                        E::new(out, 2).open(r.open && r.level >= 3)
                    }),
                (inner.clone(), vec(any_word(), 1..3)).prop_map(|(l, path)| {
                    let mut out = l.at(3);
                    out.push("has".to_string());
                    out.extend(
                        comma_list(path.into_iter().map(|w| vec![w]).collect(), false)
                            .into_iter()
                            .map(|t| if t == "," { ".".to_string() } else { t }),
                    );
                    E::new(out, 2)
                }),
                (inner.clone(), string_lit()).prop_map(|(l, s)| {
                    let mut out = l.at(3);
                    out.push("like".to_string());
                    out.push(s);
                    E::new(out, 2)
                }),
                (inner.clone(), prop_oneof![string_lit().prop_map(|s| vec![s]), path()]).prop_map(|(l, target)| {
                    let mut out = l.at(3);
                    out.push("matches".to_string());
                    out.extend(target);
                    E::new(out, 2)
                }),
                // `+ -` chains
                vec((inner.clone(), any::<bool>()), 2..4).prop_map(|ops| {
                    let open = ops.last().is_some_and(|(e, _)| e.open && e.level >= 4);
                    let mut out = Vec::new();
                    for (i, (e, plus)) in ops.iter().enumerate() {
                        if i > 0 {
                            out.push(if *plus { "+" } else { "-" }.to_string());
                        }
                        out.extend(e.at(4));
                    }
                    E::new(out, 3).open(open)
                }),
                // prefix operators
                (prop::sample::select(&["!", "-"][..]), inner.clone()).prop_map(|(op, e)| {
                    let mut out = vec![op.to_string()];
                    out.extend(e.at(4));
                    E::new(out, 4).open(e.open && e.level >= 4)
                }),
                // postfix operators
                (inner.clone(), any_word(), prop::option::of(args.clone())).prop_map(|(base, name, call)| {
                    let mut out = base.base();
                    out.push(".".to_string());
                    out.push(name);
                    if let Some(args) = call {
                        out.push("(".to_string());
                        out.extend(args);
                        out.push(")".to_string());
                    }
                    E::new(out, 5)
                }),
                (inner.clone(), string_lit()).prop_map(|(base, key)| {
                    let mut out = base.base();
                    out.extend(["[".to_string(), key, "]".to_string()]);
                    E::new(out, 5)
                }),
                // calls, sets, records, parentheses
                (ident(), args.clone()).prop_map(|(f, args)| {
                    let mut out = vec![f, "(".to_string()];
                    out.extend(args);
                    out.push(")".to_string());
                    E::new(out, 5)
                }),
                args.clone().prop_map(|items| {
                    let mut out = vec!["[".to_string()];
                    out.extend(items);
                    out.push("]".to_string());
                    E::new(out, 5)
                }),
                (vec((prop_oneof![key_word(), string_lit()], inner.clone()), 0..3), any::<bool>()).prop_map(
                    |(entries, trailing)| {
                        let items = entries
                            .into_iter()
                            .map(|(k, v)| {
                                let mut t = vec![k, ":".to_string()];
                                t.extend(v.at(0));
                                t
                            })
                            .collect();
                        let mut out = vec!["{".to_string()];
                        out.extend(comma_list(items, trailing));
                        out.push("}".to_string());
                        E::new(out, 5)
                    }
                ),
                inner.clone().prop_map(|e| {
                    let mut out = vec!["(".to_string()];
                    out.extend(e.toks);
                    out.push(")".to_string());
                    E::new(out, 5)
                }),
                flow(inner),
            ]
        })
        .boxed()
}

fn semi() -> impl Strategy<Value = Toks> {
    prop_oneof![3 => Just(Vec::new()), 1 => Just(toks(&[";"]))]
}

fn docs() -> impl Strategy<Value = Toks> {
    prop_oneof![
        3 => Just(Vec::new()),
        1 => vec(prop::sample::select(&["/// Docs.\n", "/// More docs, with `code`.\n", "///\n"][..]), 1..3)
            .prop_map(|d| d.into_iter().map(str::to_string).collect()),
    ]
}

fn annotations() -> impl Strategy<Value = Toks> {
    let arg = prop_oneof![string_lit(), integer(), any_word()];
    vec((any_word(), prop::option::of(arg)), 0..3).prop_map(|anns| {
        let mut out = Vec::new();
        for (name, arg) in anns {
            out.push("@".to_string());
            out.push(name);
            if let Some(arg) = arg {
                out.extend(["(".to_string(), arg, ")".to_string()]);
            }
        }
        out
    })
}

fn type_expr() -> BoxedStrategy<Toks> {
    path()
        .prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                (path(), inner.clone()).prop_map(|(mut p, arg)| {
                    p.push("<".to_string());
                    p.extend(arg);
                    p.push(">".to_string());
                    p
                }),
                record_type(inner),
            ]
        })
        .boxed()
}

fn record_type(ty: BoxedStrategy<Toks>) -> impl Strategy<Value = Toks> {
    let field = (docs(), annotations(), any_word(), any::<bool>(), ty).prop_map(|(d, a, name, optional, ty)| {
        let mut out = d;
        out.extend(a);
        out.push(name);
        if optional {
            out.push("?".to_string());
        }
        out.push(":".to_string());
        out.extend(ty);
        out
    });
    (vec(field, 0..3), any::<bool>()).prop_map(|(fields, trailing)| {
        let mut out = vec!["{".to_string()];
        out.extend(comma_list(fields, trailing));
        out.push("}".to_string());
        out
    })
}

fn name_list() -> impl Strategy<Value = Toks> {
    prop_oneof![
        path(),
        (vec(path(), 0..3), any::<bool>()).prop_map(|(paths, trailing)| {
            let mut out = vec!["[".to_string()];
            out.extend(comma_list(paths, trailing));
            out.push("]".to_string());
            out
        }),
    ]
}

fn schema_member() -> impl Strategy<Value = Toks> {
    let entity = (
        docs(),
        annotations(),
        ident(),
        prop::option::of(name_list()),
        prop::option::of(record_type(type_expr())),
        semi(),
    )
        .prop_map(|(d, a, name, parents, attrs, semi)| {
            let mut out = d;
            out.extend(a);
            out.extend(["entity".to_string(), name]);
            if let Some(p) = parents {
                out.push("in".to_string());
                out.extend(p);
            }
            out.extend(attrs.unwrap_or_default());
            out.extend(semi);
            out
        });
    let enumeration = (docs(), annotations(), ident(), any::<bool>(), vec(ident(), 1..4), any::<bool>()).prop_map(
        |(d, a, name, ordered, values, trailing)| {
            let mut out = d;
            out.extend(a);
            out.extend(["enum".to_string(), name]);
            if ordered {
                out.push("ordered".to_string());
            }
            out.push("{".to_string());
            out.extend(comma_list(values.into_iter().map(|v| vec![v]).collect(), trailing));
            out.push("}".to_string());
            out
        },
    );
    let alias = (docs(), annotations(), ident(), type_expr(), semi()).prop_map(|(d, a, name, ty, semi)| {
        let mut out = d;
        out.extend(a);
        out.extend(["type".to_string(), name, "=".to_string()]);
        out.extend(ty);
        out.extend(semi);
        out
    });
    let action = (
        docs(),
        annotations(),
        vec(ident(), 1..3),
        prop::option::of(name_list()),
        prop::option::of(name_list()),
        prop::option::of(name_list()),
        prop::option::of(record_type(type_expr())),
        prop::option::of(type_expr()),
        semi(),
    )
        .prop_map(|(d, a, names, groups, by, on, with, returns, semi)| {
            let mut out = d;
            out.extend(a);
            out.push("action".to_string());
            out.extend(comma_list(names.into_iter().map(|n| vec![n]).collect(), false));
            for (kw, clause) in [("in", groups), ("by", by), ("on", on), ("with", with), ("returns", returns)] {
                if let Some(c) = clause {
                    out.push(kw.to_string());
                    out.extend(c);
                }
            }
            out.extend(semi);
            out
        });
    let context = (docs(), record_type(type_expr()), semi()).prop_map(|(d, r, semi)| {
        let mut out = d;
        out.push("context".to_string());
        out.extend(r);
        out.extend(semi);
        out
    });
    prop_oneof![3 => entity, 2 => enumeration, 2 => alias, 3 => action, 1 => context]
}

fn call_item() -> impl Strategy<Value = Toks> {
    let arg = (key_word(), expr()).prop_map(|(k, v)| {
        let mut out = vec![k, ":".to_string()];
        out.extend(v.at(0));
        out
    });
    (path(), prop::option::of((vec(arg, 0..3), any::<bool>()))).prop_map(|(mut p, args)| {
        if let Some((args, trailing)) = args {
            p.push("(".to_string());
            p.extend(comma_list(args, trailing));
            p.push(")".to_string());
        }
        p
    })
}

fn conditions() -> impl Strategy<Value = Toks> {
    vec((prop::sample::select(&["when", "unless"][..]), expr()), 0..3).prop_map(|conds| {
        let mut out = Vec::new();
        for (kw, e) in conds {
            out.push(kw.to_string());
            out.extend(e.at(0));
        }
        out
    })
}

fn mask_path() -> impl Strategy<Value = Toks> {
    let root = prop_oneof![Just("resource".to_string()), Just("context".to_string()), ident()];
    let segment = prop_oneof![3 => any_word(), 1 => Just("*".to_string())];
    (root, vec(segment, 0..3)).prop_map(|(root, segs)| {
        let mut out = vec![root];
        for s in segs {
            out.push(".".to_string());
            out.push(s);
        }
        out
    })
}

fn policy_member() -> impl Strategy<Value = Toks> {
    let clauses = vec((prop::sample::select(&["obligation", "advice"][..]), call_item()), 0..3);
    let rule = (docs(), annotations(), any::<bool>(), prop::option::of(scope(expr())), conditions(), clauses, semi())
        .prop_map(|(d, a, permit, scope, conds, clauses, semi)| {
            let mut out = d;
            out.extend(a);
            out.push(if permit { "permit" } else { "forbid" }.to_string());
            out.extend(scope.unwrap_or_default());
            out.extend(conds);
            for (kw, call) in clauses {
                out.push(kw.to_string());
                out.extend(call);
            }
            out.extend(semi);
            out
        });
    let mask = (
        docs(),
        annotations(),
        vec(mask_path(), 1..3),
        vec(call_item(), 1..3),
        prop::option::of(call_item()),
        prop::option::of(scope(expr())),
        conditions(),
        semi(),
    )
        .prop_map(|(d, a, paths, with, using, on, conds, semi)| {
            let mut out = d;
            out.extend(a);
            out.push("mask".to_string());
            out.extend(comma_list(paths, false));
            out.push("with".to_string());
            out.extend(comma_list(with, false));
            if let Some(u) = using {
                out.push("using".to_string());
                out.extend(u);
            }
            if let Some(s) = on {
                out.push("on".to_string());
                out.extend(s);
            }
            out.extend(conds);
            out.extend(semi);
            out
        });
    let limit = (
        docs(),
        annotations(),
        prop::option::of(scope(expr())),
        integer(),
        duration(),
        prop::option::of(integer()),
        vec(expr(), 0..3),
        conditions(),
        prop::option::of(prop::sample::select(&["open", "closed"][..])),
        semi(),
    )
        .prop_map(|(d, a, scope, n, window, burst, keys, conds, fail, semi)| {
            let mut out = d;
            out.extend(a);
            out.push("limit".to_string());
            out.extend(scope.unwrap_or_default());
            out.extend(["to".to_string(), n, "per".to_string(), window]);
            if let Some(b) = burst {
                out.extend(["burst".to_string(), b]);
            }
            if !keys.is_empty() {
                out.push("per".to_string());
                out.extend(comma_list(keys.iter().map(|k| k.at(0)).collect(), false));
            }
            out.extend(conds);
            if let Some(f) = fail {
                out.extend(["fail".to_string(), f.to_string()]);
            }
            out.extend(semi);
            out
        });
    prop_oneof![4 => rule, 2 => mask, 2 => limit]
}

fn record_lit() -> impl Strategy<Value = Toks> {
    (vec((prop_oneof![key_word(), string_lit()], expr()), 0..4), any::<bool>()).prop_map(|(entries, trailing)| {
        let items = entries
            .into_iter()
            .map(|(k, v)| {
                let mut t = vec![k, ":".to_string()];
                t.extend(v.at(0));
                t
            })
            .collect();
        let mut out = vec!["{".to_string()];
        out.extend(comma_list(items, trailing));
        out.push("}".to_string());
        out
    })
}

fn entity_lit() -> impl Strategy<Value = Toks> {
    (entity_ref(), prop::option::of((vec(entity_ref(), 0..3), any::<bool>())), prop::option::of(record_lit()), semi())
        .prop_map(|(uid, parents, attrs, semi)| {
            let mut out = vec!["entity".to_string()];
            out.extend(uid);
            if let Some((parents, trailing)) = parents {
                out.extend(toks(&["in", "["]));
                out.extend(comma_list(parents, trailing));
                out.push("]".to_string());
            }
            out.extend(attrs.unwrap_or_default());
            out.extend(semi);
            out
        })
}

fn test_step() -> impl Strategy<Value = Toks> {
    let detail = prop_oneof![
        path().prop_map(|p| {
            let mut out = vec!["obligation".to_string()];
            out.extend(p);
            out
        }),
        mask_path().prop_map(|p| {
            let mut out = vec!["mask".to_string()];
            out.extend(p);
            out
        }),
        string_lit().prop_map(|s| vec!["error".to_string(), s]),
        integer().prop_map(|n| vec!["remaining".to_string(), n]),
    ];
    let expectation = (
        prop::sample::select(&["allow", "deny", "approval_required", "error"][..]),
        vec(string_lit(), 0..3),
        vec(detail, 0..3),
        semi(),
    )
        .prop_map(|(outcome, by, details, semi)| {
            let mut out = toks(&["expect", outcome]);
            if !by.is_empty() {
                out.push("by".to_string());
                out.extend(comma_list(by.into_iter().map(|s| vec![s]).collect(), false));
            }
            if !details.is_empty() {
                out.push("with".to_string());
                out.extend(comma_list(details, false));
            }
            out.extend(semi);
            out
        });
    prop_oneof![
        (vec(ident(), 1..3), semi()).prop_map(|(names, semi)| {
            let mut out = vec!["using".to_string()];
            out.extend(comma_list(names.into_iter().map(|n| vec![n]).collect(), false));
            out.extend(semi);
            out
        }),
        (datetime(), semi()).prop_map(|(t, semi)| {
            let mut out = vec!["at".to_string(), t];
            out.extend(semi);
            out
        }),
        (duration(), semi()).prop_map(|(d, semi)| {
            let mut out = vec!["advance".to_string(), d];
            out.extend(semi);
            out
        }),
        vec(entity_lit(), 0..3).prop_map(|ents| {
            let mut out = toks(&["entities", "{"]);
            out.extend(ents.into_iter().flatten());
            out.push("}".to_string());
            out
        }),
        (record_lit(), vec(expectation, 0..3), semi()).prop_map(|(r, expects, semi)| {
            let mut out = vec!["request".to_string()];
            out.extend(r);
            out.extend(expects.into_iter().flatten());
            out.extend(semi);
            out
        }),
    ]
}

fn agent_field() -> impl Strategy<Value = Toks> {
    let last = || prop::option::of(date());
    prop_oneof![
        expr().prop_map(|e| {
            let mut out = vec!["owner".to_string()];
            out.extend(e.at(0));
            out
        }),
        date().prop_map(|d| vec!["created".to_string(), d]),
        date().prop_map(|d| vec!["expires".to_string(), d]),
        (duration(), last()).prop_map(|(d, last)| {
            let mut out = toks(&["rotate", "credentials", "every"]);
            out.push(d);
            if let Some(l) = last {
                out.extend(["last".to_string(), l]);
            }
            out
        }),
        (duration(), last()).prop_map(|(d, last)| {
            let mut out = toks(&["review", "every"]);
            out.push(d);
            if let Some(l) = last {
                out.extend(["last".to_string(), l]);
            }
            out
        }),
        record_lit().prop_map(|r| {
            let mut out = vec!["attrs".to_string()];
            out.extend(r);
            out
        }),
        string_lit().prop_map(|s| vec!["description".to_string(), s]),
    ]
    .prop_flat_map(|f| (Just(f), semi()))
    .prop_map(|(mut f, semi)| {
        f.extend(semi);
        f
    })
}

fn item() -> impl Strategy<Value = Toks> {
    let import = (path(), prop::option::of(ident()), semi()).prop_map(|(p, alias, semi)| {
        let mut out = vec!["import".to_string()];
        out.extend(p);
        if let Some(a) = alias {
            out.extend(["as".to_string(), a]);
        }
        out.extend(semi);
        out
    });
    let schema = (docs(), annotations(), ident(), vec(schema_member(), 0..4)).prop_map(|(d, a, name, members)| {
        let mut out = d;
        out.extend(a);
        out.extend(["schema".to_string(), name, "{".to_string()]);
        out.extend(members.into_iter().flatten());
        out.push("}".to_string());
        out
    });
    let agent = (
        docs(),
        annotations(),
        ident(),
        path(),
        prop::option::of((vec(entity_ref(), 0..3), any::<bool>())),
        vec(agent_field(), 0..4),
    )
        .prop_map(|(d, a, name, ty, parents, fields)| {
            let mut out = d;
            out.extend(a);
            out.extend(["agent".to_string(), name, ":".to_string()]);
            out.extend(ty);
            if let Some((parents, trailing)) = parents {
                out.extend(toks(&["in", "["]));
                out.extend(comma_list(parents, trailing));
                out.push("]".to_string());
            }
            out.push("{".to_string());
            out.extend(fields.into_iter().flatten());
            out.push("}".to_string());
            out
        });
    let detector_def = prop_oneof![
        string_lit().prop_map(|s| vec!["builtin".to_string(), s]),
        (string_lit(), prop::option::of(ident())).prop_map(|(s, v)| {
            let mut out = vec!["pattern".to_string(), s];
            if let Some(v) = v {
                out.extend(["validate".to_string(), v]);
            }
            out
        }),
        (vec(string_lit(), 1..4), any::<bool>()).prop_map(|(words, trailing)| {
            let mut out = toks(&["keywords", "["]);
            out.extend(comma_list(words.into_iter().map(|w| vec![w]).collect(), trailing));
            out.push("]".to_string());
            out
        }),
        (vec(path(), 1..4), any::<bool>()).prop_map(|(paths, trailing)| {
            let mut out = vec!["[".to_string()];
            out.extend(comma_list(paths, trailing));
            out.push("]".to_string());
            out
        }),
    ];
    let detector = (docs(), annotations(), ident(), detector_def, semi()).prop_map(|(d, a, name, def, semi)| {
        let mut out = d;
        out.extend(a);
        out.extend(["detector".to_string(), name, "=".to_string()]);
        out.extend(def);
        out.extend(semi);
        out
    });
    let policy = (docs(), annotations(), ident(), vec(policy_member(), 0..4)).prop_map(|(d, a, name, members)| {
        let mut out = d;
        out.extend(a);
        out.extend(["policy".to_string(), name, "{".to_string()]);
        out.extend(members.into_iter().flatten());
        out.push("}".to_string());
        out
    });
    let fixture = (docs(), ident(), vec(entity_lit(), 0..3)).prop_map(|(d, name, ents)| {
        let mut out = d;
        out.extend(["fixture".to_string(), name, "{".to_string()]);
        out.extend(ents.into_iter().flatten());
        out.push("}".to_string());
        out
    });
    let test = (docs(), string_lit(), vec(test_step(), 0..4)).prop_map(|(d, name, steps)| {
        let mut out = d;
        out.extend(["test".to_string(), name, "{".to_string()]);
        out.extend(steps.into_iter().flatten());
        out.push("}".to_string());
        out
    });
    prop_oneof![1 => import, 2 => schema, 1 => agent, 1 => detector, 3 => policy, 1 => fixture, 1 => test]
}

/// What separates two tokens: whitespace, often with a comment.
fn separator() -> impl Strategy<Value = String> {
    let comment_text =
        prop::sample::select(&["", "note", "TODO: { unbalanced", "\"quoted", "é 🎉", "//", "a\tb", "/*"][..]);
    // `//` glued to a text starting with `/` would be a doc comment, which
    // belongs before a declaration only: docs() puts those.
    let glued_text = prop::sample::select(&["", "note", "TODO: { unbalanced", "\"quoted", "é 🎉", "a\tb"][..]);
    prop_oneof![
        8 => Just(" ".to_string()),
        3 => Just("\n".to_string()),
        1 => Just("\n\n  ".to_string()),
        1 => Just("\t".to_string()),
        1 => Just("\r\n".to_string()),
        1 => comment_text.prop_map(|t| format!(" // {t}\n")),
        1 => glued_text.prop_map(|t| format!("\n  //{t}\n\n")),
    ]
}

fn join(tokens: &[String], seps: &[String]) -> String {
    let mut out = String::new();
    for (i, t) in tokens.iter().enumerate() {
        out.push_str(t);
        // Doc comments carry their own newline.
        if !t.ends_with('\n') {
            out.push_str(seps.get(i).map_or(" ", String::as_str));
        }
    }
    out
}

/// A program as source text.
fn program() -> impl Strategy<Value = String> {
    vec(item(), 1..4)
        .prop_map(|items| items.into_iter().flatten().collect::<Toks>())
        .prop_flat_map(|tokens| {
            let n = tokens.len();
            (Just(tokens), vec(separator(), n))
        })
        .prop_map(|(tokens, seps)| join(&tokens, &seps))
}

// ───────────────────────── the properties ─────────────────────────

/// The number of cases: `default`, or `WARD_PROPTEST_CASES` for a longer hunt.
fn cases(default: u32) -> u32 {
    std::env::var("WARD_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn config(default_cases: u32) -> Config {
    Config { cases: cases(default_cases), max_shrink_iters: 4000, failure_persistence: None, ..Config::default() }
}

/// Checks the formatter roundtrip on a valid program.
fn check_roundtrip(src: &str) -> Result<(), TestCaseError> {
    let parsed = parse(src);
    prop_assert!(parsed.errors.is_empty(), "does not parse:\n{}\n{}", src, common::render_parse(src, &parsed));
    let formatted = match format_source(src) {
        Ok(f) => f,
        Err(_) => return Err(TestCaseError::fail("format_source refused a valid program")),
    };
    let reparsed = parse(&formatted);
    prop_assert!(
        reparsed.errors.is_empty(),
        "the formatted text does not parse:\n{}\n{}",
        formatted,
        common::render_parse(&formatted, &reparsed)
    );
    prop_assert_eq!(
        serde_json::to_string_pretty(&common::tree(&reparsed)).unwrap(),
        serde_json::to_string_pretty(&common::tree(&parsed)).unwrap(),
        "formatting changed the tree of\n{}\ninto\n{}",
        src,
        formatted
    );
    let again = format_source(&formatted).map_err(|_| TestCaseError::fail("formatted text refused"))?;
    prop_assert_eq!(&again, &formatted, "formatting is not idempotent on\n{}", src);
    for comment in &parsed.file.comments {
        prop_assert!(
            formatted.contains(&comment.text),
            "lost the comment {:?} formatting\n{}\ninto\n{}",
            comment.text,
            src,
            formatted
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(1000))]

    /// (a) Generated programs parse, conform to the grammar and roundtrip.
    #[test]
    fn generated_programs_parse_conform_and_roundtrip(src in program()) {
        let parsed = parse(&src);
        prop_assert!(parsed.errors.is_empty(), "does not parse:\n{}\n{}", src, common::render_parse(&src, &parsed));
        if let Err(e) = reference::check(&src) {
            return Err(TestCaseError::fail(format!("the grammar rejects\n{src}\n{e}")));
        }
        check_roundtrip(&src)?;
    }
}

/// (b) The examples and the standard library roundtrip.
#[test]
fn programs_roundtrip() {
    for sample in common::programs().iter().chain(common::golden("ok").iter()).chain(common::golden("fmt").iter()) {
        if let Err(e) = check_roundtrip(&sample.text) {
            panic!("{}: {e}", sample.name);
        }
    }
}

// ───────────────────────── (c) robustness ─────────────────────────

fn check_no_panic(src: &str) -> Result<ward_grammar::Parse, TestCaseError> {
    let parsed = parse(src);
    common::check_error_spans(src, &parsed).map_err(TestCaseError::fail)?;
    if parsed.errors.is_empty() {
        // Formatting a valid text never fails either.
        prop_assert!(format_source(src).is_ok());
    }
    Ok(parsed)
}

/// A mutation of a token list: delete, insert or duplicate a run of tokens.
#[derive(Clone, Debug)]
enum Mutation {
    Delete { at: usize, len: usize },
    Duplicate { at: usize, len: usize, to: usize },
    Insert { at: usize, token: &'static str },
}

const INSERTABLE: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "::",
    ";",
    ".",
    "@",
    "=",
    "==",
    "<",
    ">",
    "&&",
    "||",
    "!",
    "-",
    "+",
    "?",
    "*",
    "policy",
    "permit",
    "when",
    "principal",
    "action",
    "in",
    "has",
    "previously",
    "within",
    "1h",
    "10",
    "\"s\"",
    "x",
    "count",
    "sum",
    "where",
    "to",
    "per",
    "entity",
    "schema",
    "test",
    "expect",
    "with",
    "//c\n",
    "\"",
    "#",
    "é",
    "10.",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..4).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 1usize..6, any::<usize>()).prop_map(|(at, len, to)| Mutation::Duplicate { at, len, to }),
        (any::<usize>(), prop::sample::select(INSERTABLE)).prop_map(|(at, token)| Mutation::Insert { at, token }),
    ]
}

/// Applies mutations to the tokens (by source span) of a program.
fn mutate(src: &str, mutations: &[Mutation]) -> String {
    let mut pieces: Vec<String> =
        ward_grammar::lexer::lex(src).iter().map(|t| src.get(t.span.range()).unwrap_or("").to_string()).collect();
    for m in mutations {
        let n = pieces.len().max(1);
        match *m {
            Mutation::Delete { at, len } => {
                let at = at % n;
                let end = (at + len).min(pieces.len());
                if at < end {
                    pieces.drain(at..end);
                }
            }
            Mutation::Duplicate { at, len, to } => {
                let at = at % n;
                let end = (at + len).min(pieces.len());
                let copy: Vec<String> = pieces.get(at..end).unwrap_or(&[]).to_vec();
                let to = to % (pieces.len() + 1);
                for (i, p) in copy.into_iter().enumerate() {
                    pieces.insert(to + i, p);
                }
            }
            Mutation::Insert { at, token } => {
                let at = at % (pieces.len() + 1);
                pieces.insert(at, token.to_string());
            }
        }
    }
    // Comments keep their line ends; everything else is separated by a space.
    let mut out = String::new();
    for p in pieces {
        out.push_str(&p);
        out.push(if p.starts_with("//") { '\n' } else { ' ' });
    }
    out
}

proptest! {
    #![proptest_config(config(512))]

    /// Any bytes, read as UTF-8 with replacement characters, parse without panicking.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        let src = String::from_utf8_lossy(&bytes);
        check_no_panic(&src)?;
    }

    /// Any strings, and strings over Ward's own alphabet, parse without panicking.
    #[test]
    fn arbitrary_strings_never_panic(
        any_text in any::<String>(),
        wardish in "[a-z_ {}()\\[\\]:;,.@=<>!&|+\\-?*\"\\\\/0-9\n\té🎉]{0,200}",
    ) {
        check_no_panic(&any_text)?;
        check_no_panic(&wardish)?;
    }
}

proptest! {
    #![proptest_config(config(1000))]

    /// Mutated programs parse without panicking, every diagnostic points into
    /// the input, and the parser accepts exactly what the grammar accepts.
    #[test]
    fn mutated_programs_never_panic_and_conform(src in program(), mutations in vec(mutation(), 1..4)) {
        let mutated = mutate(&src, &mutations);
        let parsed = check_no_panic(&mutated)?;
        let grammar = reference::check(&mutated);
        prop_assert_eq!(
            grammar.is_ok(),
            parsed.errors.is_empty(),
            "the parser and the grammar disagree on\n{}\ngrammar: {:?}\nparser: {}",
            mutated,
            grammar.err(),
            common::render_parse(&mutated, &parsed)
        );
    }
}
