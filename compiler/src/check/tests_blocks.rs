//! Checking fixtures and test blocks against the schema: entities have
//! declared types and attributes, requests have the shape their action
//! declares, expectations name rules that exist.

use std::sync::Arc;

use ward_grammar::ast::*;
use ward_grammar::format::expr as expr_text;

use super::Cx;
use super::expr::{Env, Facts};
use crate::literals;
use crate::schema::ActionInfo;
use crate::types::Type;

const REQUEST_FIELDS: [&str; 6] = ["principal", "action", "resource", "context", "on_behalf_of", "session"];

fn expr_uid(e: &EntityLit) -> String {
    format!("{}::{}", e.uid.ty.text(), e.uid.id.raw)
}

impl Cx<'_> {
    pub fn fixture(&mut self, fixture: &FixtureDecl) {
        let symbols = Arc::clone(self.symbols);
        self.duplicate_fixture(&fixture.name, symbols.fixtures.get(fixture.name.name.as_str()));
        self.entity_list(&fixture.entities);
    }

    fn duplicate_fixture(&mut self, name: &Ident, all: Option<&Vec<crate::units::Loc>>) {
        let here = self.loc(name.span);
        if let Some(first) = all.and_then(|l| l.first())
            && *first != here
        {
            self.error("E0108", name.span, format!("fixture `{}` is declared more than once", name.name))
                .label("declared again here")
                .secondary(*first, "first declared here");
        }
    }

    /// Checks the entities of a fixture or an `entities` block; each is listed once.
    fn entity_list(&mut self, entities: &[EntityLit]) {
        let mut seen: std::collections::BTreeMap<(String, &str), ward_grammar::Span> =
            std::collections::BTreeMap::new();
        for e in entities {
            self.entity_lit(e);
            let key = (e.uid.ty.text(), e.uid.id.raw.as_str());
            match seen.get(&key) {
                Some(first) => {
                    self.error("E0108", e.uid.span, format!("entity `{}` is listed twice", expr_uid(e)))
                        .label("listed again")
                        .note_at(*first, "first listed here")
                        .help("give all its attributes and parents in one entry");
                }
                None => {
                    seen.insert(key, e.uid.span);
                }
            }
        }
    }

    /// A test's `link`: a template that exists, each of its slots filled
    /// once with an entity of a declared type. (Whether the type fits the
    /// slot is checked with the links when the test runs, as for a links file.)
    fn test_link(&mut self, link: &LinkStep) {
        let symbols = Arc::clone(self.symbols);
        let id = link.id.string_value().unwrap_or("");
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)) {
            self.error("E0233", link.id.span, format!("link id `{id}` must be letters, digits, `-`, `_`, `.` and `:`"))
                .label("invalid link id");
        }
        let template = link.template.string_value().unwrap_or("");
        let Some(slots) = symbols.templates.get(template) else {
            let help = crate::suggest::did_you_mean(template, symbols.templates.keys().map(String::as_str))
                .unwrap_or_else(|| "a link names a `@template` rule by its id, `POLICY.ID`".to_string());
            self.error("E0110", link.template.span, format!("no template has the id `{template}`"))
                .label("unknown template")
                .help(help);
            return;
        };
        self.test_links.push(format!("{template}[{id}]"));
        let mut given: Vec<&str> = Vec::new();
        for (var, span, entity) in &link.values {
            let name = if *var == Var::Principal { "?principal" } else { "?resource" };
            if given.contains(&name) {
                self.error("E0233", *span, format!("the slot `{name}` is filled twice")).label("filled again");
            } else if !slots.contains(&name) {
                self.error("E0233", *span, format!("`{template}` has no slot `{name}`"))
                    .label("not a slot of the template")
                    .help(format!("its slots: {}", slots.join(", ")));
            }
            given.push(name);
            self.entity_type(&entity.ty);
        }
        let missing: Vec<String> = slots.iter().filter(|s| !given.contains(s)).map(|s| format!("`{s}`")).collect();
        if !missing.is_empty() {
            self.error("E0233", link.span, format!("the link does not fill {} of `{template}`", missing.join(", ")))
                .label("slot not filled")
                .help("give every slot of the template an entity");
        }
    }

    fn entity_lit(&mut self, e: &EntityLit) {
        let Some(ty) = self.entity_type(&e.uid.ty) else { return };
        let env = Arc::clone(self.env);
        if let Some(parents) = &e.parents {
            for p in parents {
                if let Some(pt) = self.entity_type(&p.ty)
                    && !env.may_be_in(&ty, &pt)
                {
                    self.error("E0205", p.span, format!("a `{ty}` can never be in a `{pt}`"))
                        .label("membership the schema does not allow")
                        .help(format!("to allow it, declare `entity {ty} in [{pt}]`"));
                }
            }
        }
        let attrs = env.entities.get(&ty).map(|info| info.attrs.clone()).unwrap_or_default();
        let entries = e.attrs.as_ref().map_or(&[][..], |(entries, _)| entries.as_slice());
        self.record_against(
            entries,
            &attrs,
            &format!("`{ty}`"),
            "attribute",
            e.attrs.as_ref().map(|_| e.uid.span),
            &Env::none(),
        );
        if let Some((entries, span)) = &e.tags {
            self.entity_tags(&ty, entries, *span);
        }
    }

    /// A fixture entity's `tags { … }`: its type declares tags (E0237),
    /// each value has their type (E0201), each key appears once (E0108).
    fn entity_tags(&mut self, ty: &str, entries: &[RecordEntry], span: ward_grammar::Span) {
        let env = Arc::clone(self.env);
        let Some(tag_ty) = env.entities.get(ty).and_then(|info| info.tags.clone()) else {
            self.error("E0237", span, format!("`{ty}` declares no tags"))
                .label("tags of an entity whose type declares none")
                .help(format!("declare the type of its tags in the schema: `entity {ty} … tags String`"));
            return;
        };
        let mut seen: std::collections::BTreeMap<&str, ward_grammar::Span> = std::collections::BTreeMap::new();
        for entry in entries {
            let key_span = match &entry.key {
                RecordKey::Word(w) => w.span,
                RecordKey::Str(s) => s.span,
            };
            let name = entry.key.name();
            if let Some(first) = seen.get(name) {
                self.error("E0108", key_span, format!("tag `{name}` is given twice"))
                    .label("given again")
                    .note_at(*first, "first given here");
                continue;
            }
            seen.insert(name, key_span);
            let got = self.expr(&entry.value, &Env::none(), &Facts::new(), Some(&tag_ty));
            if !got.fits(&tag_ty) {
                self.error(
                    "E0201",
                    entry.value.span,
                    format!("the tags of `{ty}` are {}, but `{}` is {}", tag_ty.a(), expr_text(&entry.value), got.a()),
                )
                .label(format!("expected {}", tag_ty.a()));
            }
        }
    }

    pub fn test(&mut self, test: &TestDecl) {
        let symbols = Arc::clone(self.symbols);
        self.test_links.clear();
        for step in &test.steps {
            match step {
                TestStep::Using(names, _) => {
                    for n in names {
                        if !symbols.fixtures.contains_key(n.name.as_str()) {
                            let help = crate::suggest::did_you_mean(&n.name, symbols.fixtures.keys().map(|k| &**k))
                                .unwrap_or_else(|| {
                                    let known: Vec<String> =
                                        symbols.fixtures.keys().map(|k| format!("`{k}`")).collect();
                                    if known.is_empty() {
                                        format!("declare it with `fixture {} {{ … }}`", n.name)
                                    } else {
                                        format!("the fixtures are {}", known.join(", "))
                                    }
                                });
                            self.error("E0109", n.span, format!("unknown fixture `{}`", n.name))
                                .label("no fixture of this name")
                                .help(help);
                        }
                    }
                }
                TestStep::At(lit) => {
                    if let Err(message) = literals::time_ms(&lit.raw) {
                        self.error("E0206", lit.span, message).label("invalid time");
                    }
                }
                TestStep::Advance(lit) => {
                    if let Err(message) = literals::duration_ms(&lit.raw) {
                        self.error("E0206", lit.span, message).label("invalid duration");
                    }
                }
                TestStep::Entities(entities, _) => self.entity_list(entities),
                TestStep::Link(link) => self.test_link(link),
                TestStep::Request(request) => self.request(request),
            }
        }
    }

    /// A test's request: known fields, an action (not a group), a principal
    /// and resource of the types the action allows, its context, the
    /// delegation chain and session, and expectations that name real rules.
    fn request(&mut self, request: &RequestStep) {
        for f in &request.fields {
            if !REQUEST_FIELDS.contains(&f.key.name()) {
                let help = crate::suggest::did_you_mean(f.key.name(), REQUEST_FIELDS)
                    .unwrap_or_else(|| format!("a request has {}", REQUEST_FIELDS.join(", ")));
                self.error("E0218", f.span, format!("a request has no field `{}`", f.key.name()))
                    .label("unknown field")
                    .help(help);
            }
        }
        let env = Arc::clone(self.env);
        // The action first: it says what the principal, resource and context must be.
        let action = self.request_action(request);
        let info = action.as_ref().and_then(|a| env.actions.get(a)).cloned();
        self.request_parties(request, action.as_deref(), info.as_ref());
        self.request_context(request, action.as_deref(), info.as_ref());
        self.request_chain_and_session(request);
        if let Some(result) = &request.result {
            self.request_result(result, action.as_deref(), info.as_ref());
        }
        for x in &request.expectations {
            self.expectation(x);
        }
    }

    /// `returns VALUE`: test data, reported as the action's result after an
    /// allow. Its action must declare a `returns` type; the value is not
    /// held to it (a test may give a malformed result on purpose: it is
    /// typed at run time, as a tool's result is).
    fn request_result(&mut self, result: &Expr, action: Option<&str>, info: Option<&ActionInfo>) {
        if !is_test_data(result) {
            self.error("E0218", result.span, "a result is data: literals, entity references, sets and records")
                .label("not data");
            return;
        }
        let (Some(action), Some(info)) = (action, info) else { return };
        if info.returns.is_none() {
            self.error(
                "E0218",
                result.span,
                format!("action `{action}` declares no `returns` type, so no flow condition reads its result"),
            )
            .label("a result no policy reads")
            .help(format!("declare `action {action} … returns {{ … }}`, or remove `returns …` from the test"));
        }
    }

    /// The action a request names; `None` (reported) when it names none, or a
    /// group, which stands for a set of actions: a request is for one of them.
    fn request_action(&mut self, request: &RequestStep) -> Option<Arc<str>> {
        let env = Arc::clone(self.env);
        let field = request_field(request, "action");
        let action = match field.map(|f| &f.value) {
            Some(Expr { kind: ExprKind::Name(n), .. }) => {
                self.action(&Path { segments: vec![n.clone()], span: n.span })
            }
            // A namespaced action (`action: Taxpreparer::view`).
            Some(Expr { kind: ExprKind::EnumRef { ty, variant }, span }) => {
                let name = Ident { name: format!("{}::{}", ty.text(), variant.name), span: *span };
                self.action(&Path { span: *span, segments: vec![name] })
            }
            // An action named by a string (`action: "view document"`).
            Some(Expr { kind: ExprKind::Lit(l), .. }) if l.string_value().is_some() => {
                let name = Ident { name: l.string_value().unwrap_or_default().to_string(), span: l.span };
                self.action(&Path { span: l.span, segments: vec![name] })
            }
            Some(Expr { kind: ExprKind::Member { .. }, span }) | Some(Expr { span, .. }) => {
                self.error("E0218", *span, "`action` is the name of an action, such as `action: read_customer`")
                    .label("not an action name");
                None
            }
            None => {
                self.error("E0218", request.fields_span, "a request needs an `action`").label("no `action`");
                None
            }
        };
        match (action, field) {
            (Some(a), Some(f)) if env.groups.contains(&a) => {
                let members: Vec<String> = env
                    .actions
                    .keys()
                    .filter(|k| !env.groups.contains(*k) && env.action_in(k, &a))
                    .map(|k| format!("`{k}`"))
                    .collect();
                let help = match members.as_slice() {
                    [] => "a request names the action it asks for".to_string(),
                    [one] => format!("its only action is {one}"),
                    [init @ .., last] if members.len() <= 4 => {
                        format!("its actions are {} and {last}", init.join(", "))
                    }
                    [a, b, rest @ ..] => format!("its actions include {a}, {b} and {} more", rest.len()),
                };
                self.error("E0218", f.value.span, format!("`{a}` is a group of actions; a request is for one action"))
                    .label("an action group")
                    .help(help);
                None
            }
            (a, _) => a,
        }
    }

    /// The request's `principal` and `resource`: present, entities, and of
    /// the types the action is declared for.
    fn request_parties(&mut self, request: &RequestStep, action: Option<&str>, info: Option<&ActionInfo>) {
        let empty = Env::none();
        for (var, allowed) in [
            ("principal", info.and_then(|i| i.principals.as_ref())),
            ("resource", info.and_then(|i| i.resources.as_ref())),
        ] {
            let Some(f) = request_field(request, var) else {
                self.error("E0218", request.fields_span, format!("a request needs a `{var}`"))
                    .label(format!("no `{var}`"));
                continue;
            };
            let ty = self.expr(&f.value, &empty, &Facts::new(), None);
            match (&ty, allowed, action) {
                (Type::Entity(names), Some(allowed), Some(action)) => {
                    if let Some(t) = names.first()
                        && !allowed.contains(t)
                    {
                        let list: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
                        let word = if var == "principal" { "taken by" } else { "applied to" };
                        self.error(
                            "E0218",
                            f.value.span,
                            format!("`{action}` can be {word} {}, not a `{t}`", list.join(" or ")),
                        )
                        .label(format!("a `{t}`"));
                    }
                }
                (Type::Entity(_), _, _) => {}
                (t, _, _) if t.is_error() => {}
                (t, _, _) => {
                    self.error(
                        "E0218",
                        f.value.span,
                        format!(
                            "`{var}` is an entity such as `User::\"dana\"`, but `{}` is {}",
                            expr_text(&f.value),
                            t.a()
                        ),
                    )
                    .label("not an entity");
                }
            }
        }
    }

    /// The request's `context`: a record of the action's context type, with
    /// every required field (when the action is known).
    fn request_context(&mut self, request: &RequestStep, action: Option<&str>, info: Option<&ActionInfo>) {
        let context_ty = info.map_or_else(|| self.env.context.clone(), |i| i.context.clone());
        match request_field(request, "context").map(|f| &f.value) {
            Some(Expr { kind: ExprKind::Record(entries), span }) => {
                let what = action.map_or_else(|| "the context".to_string(), |a| format!("the context of `{a}`"));
                if info.is_some() {
                    self.record_against(entries, &context_ty, &what, "field", Some(*span), &Env::none());
                }
            }
            Some(other) => {
                self.error("E0218", other.span, "`context` is a record such as `{ mfa: true }`").label("not a record");
            }
            None => {
                let required: Vec<String> =
                    context_ty.fields.iter().filter(|(_, f)| !f.optional).map(|(k, _)| format!("`{k}`")).collect();
                if info.is_some() && !required.is_empty() {
                    self.error(
                        "E0218",
                        request.fields_span,
                        format!("this request has no `context`, which needs {}", required.join(", ")),
                    )
                    .label("no `context`");
                }
            }
        }
    }

    /// The optional `on_behalf_of` (a list of entities) and `session` (a string).
    fn request_chain_and_session(&mut self, request: &RequestStep) {
        let empty = Env::none();
        if let Some(f) = request_field(request, "on_behalf_of") {
            let ty = self.expr(&f.value, &empty, &Facts::new(), None);
            if !matches!(&ty, Type::Set(inner) if matches!(**inner, Type::Entity(_) | Type::Unknown)) && !ty.is_error()
            {
                self.error(
                    "E0218",
                    f.value.span,
                    format!(
                        "`on_behalf_of` is a list of entities, the origin first (`[User::\"dana\"]`), but `{}` is {}",
                        expr_text(&f.value),
                        ty.a()
                    ),
                )
                .label("not a list of entities");
            }
        }
        if let Some(f) = request_field(request, "session") {
            let ty = self.expr(&f.value, &empty, &Facts::new(), None);
            if ty != Type::String && !ty.is_error() {
                self.error(
                    "E0218",
                    f.value.span,
                    format!("`session` is a `String`, but `{}` is {}", expr_text(&f.value), ty.a()),
                )
                .label("not a string");
            }
        }
    }

    /// An expectation: its rule ids exist, its `remaining` count is a number.
    fn expectation(&mut self, x: &Expectation) {
        let symbols = Arc::clone(self.symbols);
        for id in &x.by {
            let id_text = id.string_value().unwrap_or("");
            if !symbols.rules.contains_key(id_text) && !self.test_links.iter().any(|l| l == id_text) {
                let help = crate::suggest::did_you_mean(id_text, symbols.rules.keys().map(String::as_str))
                    .unwrap_or_else(|| {
                        "rule ids are `policy.id` (from `@id`) or `policy.N` (the rule's position)".to_string()
                    });
                self.error("E0110", id.span, format!("no rule has the id `{id_text}`"))
                    .label("unknown rule id")
                    .help(help);
            }
        }
        for d in &x.details {
            match d {
                ExpectDetail::Remaining(n) => {
                    if let Err(message) = literals::int(&n.raw) {
                        self.error("E0206", n.span, message).label("invalid number");
                    }
                }
                ExpectDetail::Obligation(_) | ExpectDetail::Mask(_) | ExpectDetail::Error(_) => {}
            }
        }
    }
}

/// The request's field `name`, if written.
fn request_field<'r>(request: &'r RequestStep, name: &str) -> Option<&'r RecordEntry> {
    request.fields.iter().find(|f| f.key.name() == name)
}

/// Whether `e` is test data: literals, names (enum values), entity
/// references, constructor calls, negated numbers, sets and records of them.
fn is_test_data(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Lit(_) | ExprKind::Name(_) | ExprKind::EnumRef { .. } | ExprKind::EntityRef(_) => true,
        ExprKind::Call { args, .. } => args.iter().all(is_test_data),
        ExprKind::Unary { op: UnaryOp::Neg, operand } => is_test_data(operand),
        ExprKind::Paren(inner) => is_test_data(inner),
        ExprKind::Set(items) => items.iter().all(is_test_data),
        ExprKind::Record(entries) => entries.iter().all(|en| is_test_data(&en.value)),
        _ => false,
    }
}
