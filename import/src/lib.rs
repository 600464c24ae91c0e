//! Reading Cedar into Ward: `ward import cedar`.
//!
//! Cedar is read by the `cedar-policy` crate itself — its schema parser (both
//! the human `.cedarschema` form and JSON) and its policy parser — and the
//! importer walks the JSON forms Cedar exports (the schema's JSON format and
//! the policies' EST). So whatever Cedar accepts is what is translated, and
//! whatever Cedar refuses is refused with Cedar's own message.
//!
//! The translation is construct by construct (docs/cedar.md has the table).
//! Where Ward says the same thing another way (an `if … then … else` over
//! booleans, a `decimal` comparison method, an IP range written with `ip`),
//! the importer rewrites it and reports the rewrite; where Ward cannot say it
//! (namespaces, `*`, an escaped `*` in `like`), it refuses,
//! naming the construct and where it is. Nothing is dropped silently.

mod comments;
mod policy;
mod schema;
mod text;

use std::collections::BTreeMap;
use std::fmt;

/// The schema's source and its form.
#[derive(Debug, Clone, Copy)]
pub enum SchemaSource<'a> {
    /// Cedar's human schema syntax (`.cedarschema`).
    Human(&'a str),
    /// Cedar's JSON schema format.
    Json(&'a str),
}

/// What to import.
#[derive(Debug, Clone, Copy)]
pub struct CedarSources<'a> {
    pub schema: SchemaSource<'a>,
    /// Cedar policies (`.cedar`).
    pub policies: &'a str,
    /// The Ward policy the rules are grouped in (`policy NAME { … }`), and the schema's label.
    pub policy_name: &'a str,
}

/// The Ward source made from Cedar, and what had to change on the way.
#[derive(Debug, Clone)]
pub struct Imported {
    /// `schema.ward`, formatted.
    pub schema: String,
    /// `policy.ward`, formatted.
    pub policy: String,
    /// Every construct that was rewritten or needs the reader's attention.
    pub notes: Vec<Note>,
    /// Each Cedar template's id → its Ward id (`POLICY.ID`), which links name.
    pub templates: BTreeMap<String, String>,
}

/// A construct written differently in Ward than in Cedar (or a difference
/// in meaning to know about).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Where: `schema`, `entity User`, `policy0` (Cedar's policy id)…
    pub place: String,
    pub message: String,
}

/// A construct Ward cannot express (or Cedar input that is not valid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub place: String,
    pub message: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.message)
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.message)
    }
}

/// Collects notes and errors while translating, so that one run reports
/// every construct that cannot be mapped, not only the first.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub notes: Vec<Note>,
    pub errors: Vec<ImportError>,
}

impl Report {
    pub fn note(&mut self, place: &str, message: impl Into<String>) {
        self.notes.push(Note { place: place.to_string(), message: message.into() });
    }

    pub fn error(&mut self, place: &str, message: impl Into<String>) {
        self.errors.push(ImportError { place: place.to_string(), message: message.into() });
    }
}

/// Translates a Cedar schema and policy set into Ward source.
///
/// Errors list every construct that could not be translated; on success the
/// two files are formatted as `ward fmt` would format them.
pub fn import_cedar(sources: &CedarSources<'_>) -> Result<Imported, Vec<ImportError>> {
    let depth = comments::max_depth(sources.policies);
    if depth > MAX_NESTING {
        return Err(vec![ImportError {
            place: "policies".into(),
            message: format!("brackets nest {depth} deep, more than the {MAX_NESTING} the importer reads"),
        }]);
    }
    // Cedar's parser and the walk over its EST recurse; a thread with a
    // stack sized for the bounds above keeps any input from overflowing the
    // caller's stack.
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("ward-import".into())
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, || import_on_this_thread(sources))
            .map_err(|e| vec![ImportError { place: "import".into(), message: format!("cannot start: {e}") }])?
            .join()
            .map_err(|_| {
                vec![ImportError {
                    place: "import".into(),
                    message: "the importer stopped on an internal error".into(),
                }]
            })?
    })
}

/// How deeply the policies' brackets may nest.
pub const MAX_NESTING: i64 = 256;

/// The import thread's stack: ample for `MAX_NESTING` and for long
/// operator chains (only the pages used are ever touched).
const STACK_BYTES: usize = 256 * 1024 * 1024;

fn import_on_this_thread(sources: &CedarSources<'_>) -> Result<Imported, Vec<ImportError>> {
    let mut report = Report::default();
    let schema_json = read_schema(sources.schema).map_err(|e| vec![e])?;
    let schema = schema::translate(&schema_json, sources.policy_name, &mut report);
    let mut templates = BTreeMap::new();
    let policy = policy::translate(sources.policies, sources.policy_name, &schema.names, &mut report, &mut templates);
    if report.errors.is_empty() {
        cedar_validation(sources, &mut report);
    }
    if !report.errors.is_empty() {
        return Err(report.errors);
    }
    let schema_text = format("schema.ward", &schema.text)?;
    let policy_text = format("policy.ward", &policy)?;
    Ok(Imported { schema: schema_text, policy: policy_text, notes: report.notes, templates })
}

fn read_schema(source: SchemaSource<'_>) -> Result<serde_json::Value, ImportError> {
    let place = "schema";
    let fragment = match source {
        SchemaSource::Human(text) => cedar_policy::SchemaFragment::from_cedarschema_str(text)
            .map(|(fragment, _warnings)| fragment)
            .map_err(|e| ImportError {
                place: place.into(),
                message: format!("Cedar refuses the schema: {}", cedar_error(text, &e)),
            })?,
        SchemaSource::Json(text) => cedar_policy::SchemaFragment::from_json_str(text).map_err(|e| ImportError {
            place: place.into(),
            message: format!("Cedar refuses the schema: {}", cedar_error(text, &e)),
        })?,
    };
    // The fragment is read as written; building the schema checks it (every
    // type declared, no cycles), so Cedar's own refusal comes first.
    let checked = match source {
        SchemaSource::Human(text) => {
            cedar_policy::Schema::from_cedarschema_str(text).map(|_| ()).map_err(|e| e.to_string())
        }
        SchemaSource::Json(text) => cedar_policy::Schema::from_json_str(text).map(|_| ()).map_err(|e| e.to_string()),
    };
    if let Err(e) = checked {
        return Err(ImportError { place: place.into(), message: format!("Cedar refuses the schema: {e}") });
    }
    fragment
        .to_json_value()
        .map_err(|e| ImportError { place: place.into(), message: format!("Cedar could not export the schema: {e}") })
}

/// Cedar's template links → Ward's links file: each link's `template_id`
/// becomes the imported template's Ward id; the link id and the slot
/// values (entity references in any of Cedar's forms, which Ward reads) are
/// kept. Cedar's CLI writes `link_id`/`args` where its API writes
/// `new_id`/`values`; both are read. Every problem is reported, naming the link.
pub fn cedar_links(links: &str, templates: &BTreeMap<String, String>) -> Result<String, Vec<ImportError>> {
    let fail = |place: &str, message: String| vec![ImportError { place: place.to_string(), message }];
    let value: serde_json::Value = serde_json::from_str(links).map_err(|e| fail("links", format!("not JSON: {e}")))?;
    let Some(list) = value.as_array() else {
        return Err(fail("links", "not a JSON array of links".into()));
    };
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, link) in list.iter().enumerate() {
        let place = format!("links[{i}]");
        let field = |names: &[&str]| names.iter().find_map(|n| link.get(*n));
        let (Some(template), Some(id), Some(values)) =
            (field(&["template_id"]), field(&["new_id", "link_id"]), field(&["values", "args"]))
        else {
            errors.push(ImportError {
                place,
                message: "a link has `template_id`, `new_id` (or `link_id`) and `values` (or `args`)".into(),
            });
            continue;
        };
        let Some(ward_id) = template.as_str().and_then(|t| templates.get(t)) else {
            let known: Vec<&str> = templates.keys().map(String::as_str).collect();
            errors.push(ImportError {
                place,
                message: format!(
                    "`template_id` {template} names no imported template (templates: {})",
                    known.join(", ")
                ),
            });
            continue;
        };
        out.push(serde_json::json!({ "template_id": ward_id, "new_id": id, "values": values }));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    serde_json::to_string_pretty(&out).map_err(|e| fail("links", e.to_string()))
}

/// What Cedar's own validator says about the policies: a policy Cedar's
/// validator refuses is usually refused by `ward check` too, and the
/// Cedar-side reason is the clearer one for a Cedar user.
fn cedar_validation(sources: &CedarSources<'_>, report: &mut Report) {
    let schema = match sources.schema {
        SchemaSource::Human(text) => cedar_policy::Schema::from_cedarschema_str(text).map(|(s, _)| s).ok(),
        SchemaSource::Json(text) => cedar_policy::Schema::from_json_str(text).ok(),
    };
    let (Some(schema), Ok(set)) = (schema, sources.policies.parse::<cedar_policy::PolicySet>()) else {
        return;
    };
    let result = cedar_policy::Validator::new(schema).validate(&set, cedar_policy::ValidationMode::Strict);
    for e in result.validation_errors() {
        report.note(e.policy_id().as_ref(), format!("Cedar's validator refuses this policy: {e}"));
    }
}

/// A Cedar error in words, with where it is: Cedar's errors are miette
/// diagnostics whose labels point into the source (`at line 3, column 14`),
/// and whose help, when there is one, is kept.
pub(crate) fn cedar_error(source: &str, e: &dyn miette::Diagnostic) -> String {
    let mut message = e.to_string();
    for label in e.labels().into_iter().flatten() {
        let (line, column) = line_column(source, label.offset());
        message.push_str(&format!(" (at line {line}, column {column}"));
        if let Some(text) = label.label() {
            message.push_str(&format!(": {text}"));
        }
        message.push(')');
    }
    if let Some(help) = e.help() {
        message.push_str(&format!("; {help}"));
    }
    for related in e.related().into_iter().flatten() {
        message.push_str(&format!("; also: {}", cedar_error(source, related)));
    }
    message
}

/// 1-based line and character column of a byte offset.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = source.get(..offset.min(source.len())).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Formats generated source; generated text that does not parse is a bug in
/// the importer, reported as an error rather than written out.
fn format(file: &str, source: &str) -> Result<String, Vec<ImportError>> {
    let describe = |e: ward_grammar::SyntaxError| {
        let message = if e.code == "E0006" {
            format!("the translation nests deeper than Ward reads ({}): split the policy's conditions", e.message)
        } else {
            format!(
                "the importer produced text Ward cannot parse ({} {} at bytes {}..{}); please report this",
                e.code, e.message, e.span.start, e.span.end
            )
        };
        ImportError { place: file.to_string(), message }
    };
    ward_grammar::format::format_source(source).map_err(|errors| errors.into_iter().map(describe).collect())
}
