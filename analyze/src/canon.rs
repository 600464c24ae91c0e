//! IR expressions as text with names instead of indexes: two programs
//! compiled separately number their strings, literals and enums
//! differently, and this is how they are compared.

use ward_compiler::ir::{CmpOp, Const, Expr, ExprKind, Flow, FlowKind, Method, Pattern, Program, Var};

/// Expression `id` of the arena `exprs` in `program`, as text.
pub fn expr(program: &Program, exprs: &[Expr], id: u32) -> String {
    expr_at(program, exprs, id, 0)
}

fn expr_at(p: &Program, exprs: &[Expr], id: u32, depth: usize) -> String {
    if depth > 256 {
        return "…".into();
    }
    let sub = |i: u32| expr_at(p, exprs, i, depth + 1);
    let string = |i: u32| p.strings.get(i as usize).cloned().unwrap_or_default();
    let Some(e) = exprs.get(id as usize) else { return "?".into() };
    match &e.kind {
        ExprKind::Const(c) => match c {
            Const::Bool(b) => b.to_string(),
            Const::Int(i) => i.to_string(),
            Const::Str(s) => format!("{:?}", string(*s)),
            Const::Entity(k) => p.entity_literals.get(*k as usize).map_or("?".into(), |(t, id)| {
                format!("{}::{id:?}", p.entity_types.get(*t as usize).map_or("?", |x| x.name.as_str()))
            }),
            Const::Enum(en, v) => p.enums.get(*en as usize).map_or("?".into(), |x| {
                format!("{}::{}", x.name, x.variants.get(*v as usize).map_or("?", String::as_str))
            }),
            Const::Action(a) => p.actions.get(*a as usize).map_or("?".into(), |x| x.name.clone()),
            Const::Ip(s) => format!("ip({s:?})"),
            Const::Cidr(s) => format!("cidr({s:?})"),
        },
        ExprKind::Var(v) => match v {
            Var::Principal => "principal",
            Var::Resource => "resource",
            Var::Context => "context",
            Var::Action => "action",
            Var::Now => "now",
            Var::Actor => "actor",
            Var::Chain => "chain",
            Var::ChainFirst => "chain.first",
            Var::ChainLast => "chain.last",
            Var::CurrentPrincipal => "current.principal",
            Var::CurrentResource => "current.resource",
            Var::CurrentContext => "current.context",
            Var::CurrentAction => "current.action",
            Var::Response => "response",
        }
        .into(),
        ExprKind::Attr { base, name } => format!("{}.{}", sub(*base), string(*name)),
        ExprKind::Has { base, name } => format!("({} has {})", sub(*base), string(*name)),
        ExprKind::Not(x) => format!("!{}", sub(*x)),
        ExprKind::And(a, b) => format!("({} && {})", sub(*a), sub(*b)),
        ExprKind::Or(a, b) => format!("({} || {})", sub(*a), sub(*b)),
        ExprKind::Cmp { op, lhs, rhs } => {
            let o = match op {
                CmpOp::Eq => "==",
                CmpOp::Ne => "!=",
                CmpOp::Lt => "<",
                CmpOp::Le => "<=",
                CmpOp::Gt => ">",
                CmpOp::Ge => ">=",
            };
            format!("({} {o} {})", sub(*lhs), sub(*rhs))
        }
        ExprKind::In { lhs, rhs } => format!("({} in {})", sub(*lhs), sub(*rhs)),
        ExprKind::Add(a, b) => format!("({} + {})", sub(*a), sub(*b)),
        ExprKind::Sub(a, b) => format!("({} - {})", sub(*a), sub(*b)),
        ExprKind::Neg(a) => format!("-{}", sub(*a)),
        ExprKind::Method { method, recv, args } => {
            let args: Vec<String> = args.iter().map(|a| sub(*a)).collect();
            format!("{}.{}({})", sub(*recv), method_name(*method), args.join(", "))
        }
        ExprKind::Matches { lhs, pattern } => {
            let pat = match p.patterns.get(*pattern as usize) {
                Some(Pattern::Glob(g)) => format!("like {g:?}"),
                Some(Pattern::Regex(r)) => format!("matches {r:?}"),
                Some(Pattern::Detector(d)) => {
                    format!("matches {}", p.detectors.get(*d as usize).map_or("?", |x| x.name.as_str()))
                }
                None => "matches ?".into(),
            };
            format!("({} {pat})", sub(*lhs))
        }
        ExprKind::Set(items) => format!("[{}]", items.iter().map(|i| sub(*i)).collect::<Vec<_>>().join(", ")),
        ExprKind::Record(entries) => format!(
            "{{{}}}",
            entries.iter().map(|(k, v)| format!("{}: {}", string(*k), sub(*v))).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Flow(k) => p.flows.get(*k as usize).map_or("?".into(), |f| flow(p, f)),
        ExprKind::Is { base, ty } => {
            format!("({} is {})", sub(*base), p.entity_types.get(*ty as usize).map_or("?", |t| t.name.as_str()))
        }
        ExprKind::Quantifier { all, set, var, body } => {
            format!("{}.{}(${var}, {})", sub(*set), if *all { "all" } else { "any" }, sub(*body))
        }
        ExprKind::Local(var) => format!("${var}"),
    }
}

/// A flow aggregate as text: what it counts, over which window and history.
pub fn flow(p: &Program, f: &Flow) -> String {
    let kind = match f.kind {
        FlowKind::Previously => "previously",
        FlowKind::Count => "count",
        FlowKind::Sum => "sum",
    };
    let mut actions: Vec<&str> =
        f.actions.iter().filter_map(|a| p.actions.get(*a as usize)).map(|a| a.name.as_str()).collect();
    actions.sort_unstable();
    let part = |e: Option<u32>| e.map_or(String::new(), |i| expr(p, &f.exprs, i));
    let correlation =
        f.correlation.map_or(String::new(), |(a, b)| format!("{} == {}", expr(p, &f.exprs, a), expr(p, &f.exprs, b)));
    format!(
        "{kind}(within {}ms by {} of [{}] where {} value {} correlated {})",
        f.window_ms,
        if f.by_principal { "principal" } else { "session" },
        actions.join(", "),
        part(f.filter),
        part(f.value),
        correlation
    )
}

pub(crate) fn method_name(m: Method) -> &'static str {
    match m {
        Method::Contains | Method::StrContains => "contains",
        Method::ContainsAll => "contains_all",
        Method::ContainsAny => "contains_any",
        Method::Size => "size",
        Method::IsEmpty => "is_empty",
        Method::StartsWith => "starts_with",
        Method::EndsWith => "ends_with",
        Method::Lower => "lower",
        Method::Upper => "upper",
        Method::Trim => "trim",
        Method::EmailAddresses => "email_addresses",
        Method::EmailDomains => "email_domains",
        Method::UrlHost => "url_host",
        Method::UrlScheme => "url_scheme",
        Method::NormalizedPath => "normalized_path",
        Method::HasTag => "has_tag",
        Method::GetTag => "get_tag",
        Method::TimeDate => "date",
        Method::Hour => "hour",
        Method::Minute => "minute",
        Method::Weekday | Method::DateWeekday => "weekday",
        Method::Year => "year",
        Method::Month => "month",
        Method::Day => "day",
        Method::IsLoopback => "is_loopback",
        Method::IsPrivate => "is_private",
        Method::IsIpv4 => "is_ipv4",
        Method::IsIpv6 => "is_ipv6",
        Method::Intersects => "intersects",
        Method::IsSubset => "is_subset",
    }
}
