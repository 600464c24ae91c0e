//! The protocol layer: tower-lsp-server handlers over a shared [`Workspace`].

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, ClientSocket, LanguageServer, LspService};
use ward_compiler::config::{FILE_NAME, ProjectConfig};
use ward_compiler::ide::{self, CompletionKind, Failure, OutlineItem, OutlineKind, TokenClass};
use ward_compiler::{FileId, Options, Origin, Severity, Workspace};

use crate::convert::{DocKey, LineIndex, apply_changes, file_path};

/// The LSP error code for "the document changed; ask again".
const CONTENT_MODIFIED: i64 = -32801;

pub(crate) fn service() -> (LspService<Backend>, ClientSocket) {
    let hooks = std::env::var_os("WARD_LSP_TEST_HOOKS").is_some();
    let mut builder = LspService::build(Backend::new);
    if hooks {
        builder = builder
            .custom_method("ward/debugPanic", Backend::debug_panic)
            .custom_method("ward/debugSetDelay", Backend::debug_set_delay);
    }
    builder.finish()
}

/// One program: the files of one project (the folder of a `ward.toml` and
/// below, down to the next `ward.toml`), checked together and apart from the
/// others; program 0 holds the files of no project.
struct Program {
    /// The folder of the project's `ward.toml`.
    root: Option<PathBuf>,
    ws: Workspace,
    /// The URI of each file, by id.
    uris: Vec<Uri>,
}

/// A document: its program (an index into `State::programs`) and its id there.
type DocId = (usize, FileId);

/// The server's state, shared by the handlers.
struct State {
    programs: Vec<Program>,
    /// The standard library's URIs (files materialised on disk), by id in every program.
    stdlib: Vec<Uri>,
    ids: HashMap<DocKey, DocId>,
    /// Open documents and their versions.
    open: HashMap<DocId, i32>,
    /// Diagnostics as last published, by file.
    published: HashMap<DocId, Vec<Diagnostic>>,
    /// Files whose diagnostics are published next time even if unchanged.
    force: HashSet<DocId>,
    /// Bumped by every edit: a diagnostics run for an older generation is dropped.
    generation: u64,
    debounce: Duration,
    /// Tests only (`ward/debugSetDelay`): how long each query waits, holding
    /// its snapshot, before it starts.
    query_delay: Duration,
}

impl State {
    /// Adds a user file to the program of its project.
    fn add(&mut self, uri: Uri, path: &str, text: &str) -> DocId {
        let p = self.program_for(file_path(&uri).as_deref());
        let Some(program) = self.programs.get_mut(p) else { return (0, FileId(0)) };
        let id = program.ws.add_file(path, text, Origin::User);
        program.uris.push(uri.clone());
        self.ids.insert(DocKey::of(&uri), (p, id));
        (p, id)
    }

    /// The program of the project holding `path`, made on first use with
    /// the settings of its `ward.toml`.
    fn program_for(&mut self, path: Option<&Path>) -> usize {
        let Some(file) = path.and_then(ProjectConfig::find) else { return 0 };
        let root = file.parent().map(Path::to_path_buf);
        if let Some(p) = self.programs.iter().position(|p| p.root == root) {
            return p;
        }
        let config = ProjectConfig::load(&file).unwrap_or_else(|e| {
            eprintln!("ward lsp: {e} (using the default settings)");
            ProjectConfig::default()
        });
        let mut ws = Workspace::new(config.options(Options::default()));
        ws.add_stdlib();
        self.programs.push(Program { root, ws, uris: self.stdlib.clone() });
        self.programs.len() - 1
    }

    fn ws(&self, doc: DocId) -> Option<&Workspace> {
        self.programs.get(doc.0).map(|p| &p.ws)
    }

    fn ws_mut(&mut self, doc: DocId) -> Option<&mut Workspace> {
        self.programs.get_mut(doc.0).map(|p| &mut p.ws)
    }

    fn is_user(&self, doc: DocId) -> bool {
        matches!(self.ws(doc).and_then(|ws| ws.origin(doc.1)), Some(Origin::User))
    }

    fn text(&self, doc: DocId) -> Option<&str> {
        self.ws(doc).and_then(|ws| ws.text(doc.1))
    }

    fn set_text(&mut self, doc: DocId, text: &str) {
        if let Some(ws) = self.ws_mut(doc) {
            ws.set_text(doc.1, text);
        }
    }

    /// Re-reads a project's `ward.toml` (edited while the server runs).
    fn reload_config(&mut self, file: &Path) {
        let root = file.parent().map(Path::to_path_buf);
        let Some(program) = self.programs.iter_mut().find(|p| p.root == root) else { return };
        match ProjectConfig::load(file) {
            Ok(config) => program.ws.set_options(config.options(Options::default())),
            Err(e) => eprintln!("ward lsp: {e} (keeping the previous settings)"),
        }
    }
}

/// The language server.
pub struct Backend {
    client: Client,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn content_modified() -> Error {
    Error { code: ErrorCode::ServerError(CONTENT_MODIFIED), message: "content modified".into(), data: None }
}

fn internal(message: &str) -> Error {
    Error { code: ErrorCode::InternalError, message: message.to_string().into(), data: None }
}

/// What a query sees: a snapshot of the workspace and the document asked about.
pub(crate) struct Snapshot {
    ws: Workspace,
    file: FileId,
    uris: Vec<Uri>,
}

impl Snapshot {
    fn text(&self) -> &str {
        self.ws.text(self.file).unwrap_or("")
    }

    fn index(&self) -> LineIndex<'_> {
        LineIndex::new(self.text())
    }

    fn offset(&self, position: Position) -> u32 {
        self.index().offset(position)
    }

    fn location(&self, fs: &ide::FileSpan) -> Option<Location> {
        let uri = self.uris.get(fs.file.0 as usize)?.clone();
        let text = self.ws.text(fs.file)?;
        Some(Location { uri, range: LineIndex::new(text).range(fs.span) })
    }

    fn edits(&self, edits: &[ide::Edit]) -> HashMap<Uri, Vec<TextEdit>> {
        let mut out: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
        for e in edits {
            let (Some(uri), Some(text)) = (self.uris.get(e.file.0 as usize), self.ws.text(e.file)) else { continue };
            let range = LineIndex::new(text).range(e.span);
            out.entry(uri.clone()).or_default().push(TextEdit { range, new_text: e.text.clone() });
        }
        out
    }
}

impl Backend {
    fn new(client: Client) -> Backend {
        let mut ws = Workspace::new(Options::default());
        let mut uris = Vec::new();
        let mut ids = HashMap::new();
        // The standard library, materialised on disk so that editors can open it.
        let dir = std::env::temp_dir().join(format!("ward-stdlib-{}", env!("CARGO_PKG_VERSION")));
        let _ = std::fs::create_dir_all(&dir);
        let before = ws.files().count();
        ws.add_stdlib();
        for (id, _) in ws.files().skip(before).collect::<Vec<_>>() {
            let path = ws.path(id).unwrap_or("").to_string();
            let name = path.rsplit('/').next().unwrap_or("stdlib.ward").to_string();
            let file = dir.join(&name);
            let text = ws.text(id).unwrap_or("").to_string();
            if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
                let _ = std::fs::write(&file, &text);
            }
            let uri = Uri::from_file_path(&file)
                .unwrap_or_else(|| format!("ward-stdlib:///{name}").parse().unwrap_or_else(|_| fallback_uri()));
            ids.insert(DocKey::of(&uri), (0, id));
            uris.push(uri);
        }
        let state = State {
            programs: vec![Program { root: None, ws, uris: uris.clone() }],
            stdlib: uris,
            ids,
            open: HashMap::new(),
            published: HashMap::new(),
            force: HashSet::new(),
            generation: 0,
            debounce: Duration::from_millis(crate::DEFAULT_DEBOUNCE_MS),
            query_delay: Duration::ZERO,
        };
        Backend { client, state: Arc::new(Mutex::new(state)) }
    }

    /// Runs `f` on a snapshot, on a blocking thread, with panics caught.
    /// Answers `ContentModified` when the document changed meanwhile.
    async fn query<T: Send + 'static>(&self, uri: &Uri, f: impl FnOnce(&Snapshot) -> T + Send + 'static) -> Result<T> {
        let (snapshot, doc, version, delay) = {
            let st = lock(&self.state);
            let unknown = || Error::invalid_params(format!("unknown document {}", uri.as_str()));
            let doc = st.ids.get(&DocKey::of(uri)).copied().ok_or_else(unknown)?;
            let program = st.programs.get(doc.0).ok_or_else(unknown)?;
            let snapshot = Snapshot { ws: program.ws.snapshot(), file: doc.1, uris: program.uris.clone() };
            (snapshot, doc, st.open.get(&doc).copied(), st.query_delay)
        };
        let result = tokio::task::spawn_blocking(move || {
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            ide::catch(move || f(&snapshot))
        })
        .await;
        match result {
            Ok(Ok(value)) => {
                if lock(&self.state).open.get(&doc).copied() != version {
                    return Err(content_modified());
                }
                Ok(value)
            }
            Ok(Err(Failure::Cancelled)) => Err(content_modified()),
            Ok(Err(Failure::Panic(message))) => {
                eprintln!("ward lsp: a request failed on an internal error: {message}");
                Err(internal("internal error (logged); the server keeps running"))
            }
            Err(e) => {
                eprintln!("ward lsp: a request's task failed: {e}");
                Err(internal("internal error (logged); the server keeps running"))
            }
        }
    }

    /// Computes and publishes diagnostics after `delay`, unless another
    /// edit comes first.
    fn schedule_diagnostics(&self, delay: Duration) {
        let generation = {
            let mut st = lock(&self.state);
            st.generation += 1;
            st.generation
        };
        let state = Arc::clone(&self.state);
        let client = self.client.clone();
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            publish_diagnostics(state, client, generation).await;
        });
    }

    async fn debug_panic(&self, params: Value) -> Result<Value> {
        let uri = params.get("uri").and_then(Value::as_str).and_then(|u| u.parse::<Uri>().ok());
        let uri = uri.ok_or_else(|| Error::invalid_params("expected { uri }"))?;
        // A deliberate panic, to test that handlers survive one (test hooks only).
        #[allow(clippy::panic)]
        let answer = self.query(&uri, |_| -> Value { panic!("ward/debugPanic: a deliberate panic") }).await;
        answer
    }

    async fn debug_set_delay(&self, params: Value) -> Result<Value> {
        let ms = params.get("ms").and_then(Value::as_u64).ok_or_else(|| Error::invalid_params("expected { ms }"))?;
        lock(&self.state).query_delay = Duration::from_millis(ms);
        Ok(Value::Null)
    }

    /// The symbols matching `query` in the program of `uri`.
    async fn workspace_symbols(&self, uri: &Uri, query: String) -> Result<Option<Vec<SymbolInformation>>> {
        self.query(uri, move |s| {
            #[allow(deprecated)] // `SymbolInformation::deprecated` must still be given.
            let found: Vec<SymbolInformation> = ide::workspace_symbols(&s.ws, &query, 256)
                .into_iter()
                .filter_map(|sym| {
                    let location = s.location(&ide::FileSpan { file: sym.file, span: sym.span })?;
                    Some(SymbolInformation {
                        name: sym.name,
                        kind: symbol_kind(sym.kind),
                        tags: None,
                        deprecated: None,
                        location,
                        container_name: sym.container,
                    })
                })
                .collect();
            Some(found)
        })
        .await
    }

    fn load_folder(&self, root: &Path) {
        let mut files = Vec::new();
        collect_ward_files(root, &mut files, 0);
        let mut st = lock(&self.state);
        for path in files {
            let Some(uri) = Uri::from_file_path(&path) else { continue };
            if st.ids.contains_key(&DocKey::of(&uri)) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            st.add(uri, &path.display().to_string(), &text);
        }
    }
}

fn fallback_uri() -> Uri {
    // A constant that parses; parsing it cannot fail.
    "file:///ward-stdlib.ward".parse().unwrap_or_else(|_| fallback_uri())
}

/// Every `.ward` file under `dir`, skipping hidden folders, `target` and `node_modules`.
fn collect_ward_files(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 32 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                collect_ward_files(&path, out, depth + 1);
            }
        } else if name.ends_with(".ward") {
            out.push(path);
        }
    }
}

/// The diagnostics of every user file, converted; publishes those that changed.
async fn publish_diagnostics(state: Arc<Mutex<State>>, client: Client, generation: u64) {
    let snapshots: Vec<(usize, Workspace, Vec<Uri>)> = {
        let st = lock(&state);
        if st.generation != generation {
            return;
        }
        st.programs.iter().enumerate().map(|(p, program)| (p, program.ws.snapshot(), program.uris.clone())).collect()
    };
    let computed = tokio::task::spawn_blocking(move || {
        ide::catch(move || {
            let mut out: HashMap<DocId, Vec<Diagnostic>> = HashMap::new();
            // Each program on its own: a project's names are not another's.
            for (p, ws, uris) in &snapshots {
                let mut by_file: HashMap<FileId, Vec<ward_compiler::Diagnostic>> = HashMap::new();
                for d in ws.diagnostics() {
                    by_file.entry(d.primary.file).or_default().push(d);
                }
                let indexes: HashMap<FileId, LineIndex<'_>> =
                    ws.files().map(|(id, _)| (id, LineIndex::new(ws.text(id).unwrap_or("")))).collect();
                for (id, _) in ws.files() {
                    if !matches!(ws.origin(id), Some(Origin::User)) {
                        continue;
                    }
                    let diags = by_file.remove(&id).unwrap_or_default();
                    let converted: Vec<Diagnostic> =
                        diags.iter().map(|d| convert_diagnostic(d, &indexes, uris)).collect();
                    out.insert((*p, id), converted);
                }
            }
            out
        })
    })
    .await;
    let converted = match computed {
        Ok(Ok(c)) => c,
        Ok(Err(Failure::Cancelled)) => return, // a newer edit publishes
        Ok(Err(Failure::Panic(m))) => {
            eprintln!("ward lsp: computing diagnostics failed on an internal error: {m}");
            return;
        }
        Err(e) => {
            eprintln!("ward lsp: the diagnostics task failed: {e}");
            return;
        }
    };
    let to_publish: Vec<(Uri, Vec<Diagnostic>, Option<i32>)> = {
        let mut st = lock(&state);
        if st.generation != generation {
            return;
        }
        let mut out = Vec::new();
        let mut ids: Vec<DocId> = converted.keys().copied().collect();
        ids.sort();
        for id in ids {
            let Some(diags) = converted.get(&id) else { continue };
            let Some(uri) = st.programs.get(id.0).and_then(|p| p.uris.get(id.1.0 as usize)).cloned() else { continue };
            let forced = st.force.remove(&id);
            let changed = st.published.get(&id).map_or(&[][..], Vec::as_slice) != diags.as_slice();
            if forced || changed {
                let version = st.open.get(&id).copied();
                st.published.insert(id, diags.clone());
                out.push((uri, diags.clone(), version));
            }
        }
        out
    };
    for (uri, diags, version) in to_publish {
        client.publish_diagnostics(uri, diags, version).await;
    }
}

/// A compiler diagnostic as the protocol's; secondary labels become related information.
fn convert_diagnostic(
    d: &ward_compiler::Diagnostic,
    indexes: &HashMap<FileId, LineIndex<'_>>,
    uris: &[Uri],
) -> Diagnostic {
    let range = |file: FileId, span| indexes.get(&file).map(|i| i.range(span)).unwrap_or_default();
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .secondary
        .iter()
        .filter_map(|l| {
            let uri = uris.get(l.file.0 as usize)?.clone();
            Some(DiagnosticRelatedInformation {
                location: Location { uri, range: range(l.file, l.span) },
                message: l.message.clone(),
            })
        })
        .collect();
    Diagnostic {
        range: range(d.primary.file, d.primary.span),
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
            Severity::Note => DiagnosticSeverity::INFORMATION,
        }),
        code: Some(NumberOrString::String(d.code.to_string())),
        code_description: None,
        source: Some("ward".to_string()),
        message,
        related_information: if related.is_empty() { None } else { Some(related) },
        tags: None,
        data: None,
    }
}

const TOKEN_TYPES: [SemanticTokenType; 13] = [
    SemanticTokenType::KEYWORD,
    SemanticTokenType::TYPE,
    SemanticTokenType::ENUM,
    SemanticTokenType::ENUM_MEMBER,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::NAMESPACE,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::COMMENT,
    SemanticTokenType::OPERATOR,
    SemanticTokenType::DECORATOR,
];

fn token_type(class: TokenClass) -> (u32, u32) {
    // (type index, modifier bits: 1 = declaration, 2 = documentation)
    match class {
        TokenClass::Keyword => (0, 0),
        TokenClass::Type => (1, 0),
        TokenClass::Enum => (2, 0),
        TokenClass::EnumMember => (3, 0),
        TokenClass::Property => (4, 0),
        TokenClass::Function => (5, 0),
        TokenClass::Variable => (6, 0),
        TokenClass::Namespace => (7, 0),
        TokenClass::String => (8, 0),
        TokenClass::Number => (9, 0),
        TokenClass::Comment => (10, 0),
        TokenClass::DocComment => (10, 2),
        TokenClass::Operator => (11, 0),
        TokenClass::Decorator => (12, 0),
    }
}

fn completion_kind(kind: CompletionKind) -> CompletionItemKind {
    match kind {
        CompletionKind::Keyword => CompletionItemKind::KEYWORD,
        CompletionKind::Attribute | CompletionKind::Field => CompletionItemKind::FIELD,
        CompletionKind::Method => CompletionItemKind::METHOD,
        CompletionKind::Action => CompletionItemKind::EVENT,
        CompletionKind::EntityType => CompletionItemKind::CLASS,
        CompletionKind::Enum => CompletionItemKind::ENUM,
        CompletionKind::EnumValue => CompletionItemKind::ENUM_MEMBER,
        CompletionKind::TypeAlias | CompletionKind::BuiltinType => CompletionItemKind::TYPE_PARAMETER,
        CompletionKind::Agent | CompletionKind::Variable | CompletionKind::Fixture => CompletionItemKind::VARIABLE,
        CompletionKind::Detector | CompletionKind::Function => CompletionItemKind::FUNCTION,
        CompletionKind::MaskMethod => CompletionItemKind::FUNCTION,
        CompletionKind::Module => CompletionItemKind::MODULE,
        CompletionKind::Annotation => CompletionItemKind::PROPERTY,
    }
}

fn symbol_kind(kind: OutlineKind) -> SymbolKind {
    match kind {
        OutlineKind::Import => SymbolKind::MODULE,
        OutlineKind::Schema | OutlineKind::Policy => SymbolKind::NAMESPACE,
        OutlineKind::Entity => SymbolKind::CLASS,
        OutlineKind::Attribute | OutlineKind::ContextField => SymbolKind::FIELD,
        OutlineKind::Enum => SymbolKind::ENUM,
        OutlineKind::EnumValue => SymbolKind::ENUM_MEMBER,
        OutlineKind::TypeAlias => SymbolKind::TYPE_PARAMETER,
        OutlineKind::Action => SymbolKind::EVENT,
        OutlineKind::Context => SymbolKind::STRUCT,
        OutlineKind::Agent => SymbolKind::OBJECT,
        OutlineKind::Detector => SymbolKind::FUNCTION,
        OutlineKind::Rule | OutlineKind::Mask | OutlineKind::Limit => SymbolKind::METHOD,
        OutlineKind::Fixture => SymbolKind::CONSTANT,
        OutlineKind::Test => SymbolKind::FUNCTION,
    }
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must still be given.
fn document_symbol(item: &OutlineItem, index: &LineIndex<'_>) -> DocumentSymbol {
    DocumentSymbol {
        name: if item.name.is_empty() { "?".to_string() } else { item.name.clone() },
        detail: item.detail.clone(),
        kind: symbol_kind(item.kind),
        tags: None,
        deprecated: None,
        range: index.range(item.span),
        selection_range: index.range(item.selection),
        children: if item.children.is_empty() {
            None
        } else {
            Some(item.children.iter().map(|c| document_symbol(c, index)).collect())
        },
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        if let Some(ms) =
            params.initialization_options.as_ref().and_then(|o| o.get("debounceMs")).and_then(Value::as_u64)
        {
            lock(&self.state).debounce = Duration::from_millis(ms);
        }
        let mut roots: Vec<PathBuf> = Vec::new();
        for folder in params.workspace_folders.iter().flatten() {
            if let Some(p) = file_path(&folder.uri) {
                roots.push(p);
            }
        }
        #[allow(deprecated)] // `root_uri` is how older clients name the folder.
        if roots.is_empty()
            && let Some(p) = params.root_uri.as_ref().and_then(file_path)
        {
            roots.push(p);
        }
        for root in &roots {
            self.load_folder(root);
        }
        let legend = SemanticTokensLegend {
            token_types: TOKEN_TYPES.to_vec(),
            token_modifiers: vec![SemanticTokenModifier::DECLARATION, SemanticTokenModifier::DOCUMENTATION],
        };
        Ok(InitializeResult {
            server_info: Some(ServerInfo {
                name: "ward".to_string(),
                version: Some(env!("CARGO_PKG_VERSION").to_string()),
            }),
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(TextDocumentSyncKind::INCREMENTAL),
                    ..TextDocumentSyncOptions::default()
                })),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                definition_provider: Some(OneOf::Left(true)),
                references_provider: Some(OneOf::Left(true)),
                rename_provider: Some(OneOf::Right(RenameOptions {
                    prepare_provider: Some(true),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                })),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(vec![".".to_string(), ":".to_string(), "@".to_string()]),
                    ..CompletionOptions::default()
                }),
                document_symbol_provider: Some(OneOf::Left(true)),
                workspace_symbol_provider: Some(OneOf::Left(true)),
                document_formatting_provider: Some(OneOf::Left(true)),
                code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
                    code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
                    ..CodeActionOptions::default()
                })),
                semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
                    SemanticTokensOptions {
                        legend,
                        full: Some(SemanticTokensFullOptions::Bool(true)),
                        range: None,
                        work_done_progress_options: WorkDoneProgressOptions::default(),
                    },
                )),
                ..ServerCapabilities::default()
            },
            // No `offsetEncoding` (clangd's extension): positions count UTF-16 units.
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        let files: usize = lock(&self.state).programs.iter().map(|p| p.ws.files().count()).sum();
        eprintln!("ward lsp: ready ({files} files)");
        self.schedule_diagnostics(Duration::ZERO);
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        {
            let mut st = lock(&self.state);
            let id = match st.ids.get(&DocKey::of(&doc.uri)).copied() {
                Some(id) => {
                    if st.is_user(id) && st.text(id) != Some(doc.text.as_str()) {
                        st.set_text(id, &doc.text);
                    }
                    id
                }
                None => {
                    let path =
                        file_path(&doc.uri).map_or_else(|| doc.uri.as_str().to_string(), |p| p.display().to_string());
                    st.add(doc.uri.clone(), &path, &doc.text)
                }
            };
            st.open.insert(id, doc.version);
            st.force.insert(id);
        }
        self.schedule_diagnostics(Duration::ZERO);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let delay = {
            let mut st = lock(&self.state);
            let Some(id) = st.ids.get(&DocKey::of(&params.text_document.uri)).copied() else { return };
            if !st.is_user(id) {
                return;
            }
            let text = apply_changes(st.text(id).unwrap_or(""), &params.content_changes);
            // Cancels the queries running on snapshots, and waits for them to unwind.
            st.set_text(id, &text);
            st.open.insert(id, params.text_document.version);
            st.debounce
        };
        self.schedule_diagnostics(delay);
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        {
            let mut st = lock(&self.state);
            let Some(id) = st.ids.get(&DocKey::of(&params.text_document.uri)).copied() else { return };
            st.open.remove(&id);
            if st.is_user(id) {
                // Back to what is on disk; a file that is not there leaves the project.
                let disk = file_path(&params.text_document.uri).and_then(|p| std::fs::read_to_string(p).ok());
                let text = disk.unwrap_or_default();
                if st.text(id) != Some(text.as_str()) {
                    st.set_text(id, &text);
                }
            }
        }
        self.schedule_diagnostics(Duration::ZERO);
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        {
            let mut st = lock(&self.state);
            for change in params.changes {
                let Some(path) = file_path(&change.uri) else { continue };
                if path.file_name().is_some_and(|n| n == FILE_NAME) {
                    st.reload_config(&path);
                    continue;
                }
                let text = if change.typ == FileChangeType::DELETED {
                    String::new()
                } else {
                    std::fs::read_to_string(&path).unwrap_or_default()
                };
                match st.ids.get(&DocKey::of(&change.uri)).copied() {
                    Some(id) if st.open.contains_key(&id) => {}
                    Some(id) if st.text(id) != Some(text.as_str()) => st.set_text(id, &text),
                    Some(_) => {}
                    None if change.typ != FileChangeType::DELETED && path.extension().is_some_and(|e| e == "ward") => {
                        st.add(change.uri.clone(), &path.display().to_string(), &text);
                    }
                    None => {}
                }
            }
        }
        self.schedule_diagnostics(Duration::ZERO);
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let pos = params.text_document_position_params;
        self.query(&pos.text_document.uri, move |s| {
            let offset = s.offset(pos.position);
            ide::hover(&s.ws, s.file, offset).map(|h| Hover {
                contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value: h.markdown }),
                range: Some(s.index().range(h.span)),
            })
        })
        .await
    }

    async fn goto_definition(&self, params: GotoDefinitionParams) -> Result<Option<GotoDefinitionResponse>> {
        let pos = params.text_document_position_params;
        self.query(&pos.text_document.uri, move |s| {
            let offset = s.offset(pos.position);
            let locations: Vec<Location> =
                ide::goto_definition(&s.ws, s.file, offset).iter().filter_map(|d| s.location(d)).collect();
            if locations.is_empty() { None } else { Some(GotoDefinitionResponse::Array(locations)) }
        })
        .await
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let pos = params.text_document_position;
        let with_decls = params.context.include_declaration;
        self.query(&pos.text_document.uri, move |s| {
            let offset = s.offset(pos.position);
            let refs: Vec<Location> =
                ide::find_references(&s.ws, s.file, offset, with_decls).iter().filter_map(|r| s.location(r)).collect();
            if refs.is_empty() { None } else { Some(refs) }
        })
        .await
    }

    async fn prepare_rename(&self, params: TextDocumentPositionParams) -> Result<Option<PrepareRenameResponse>> {
        let answer = self
            .query(&params.text_document.uri, move |s| {
                let offset = s.offset(params.position);
                ide::prepare_rename(&s.ws, s.file, offset).map(|(span, _)| s.index().range(span))
            })
            .await?;
        match answer {
            Ok(range) => Ok(Some(PrepareRenameResponse::Range(range))),
            Err(message) => Err(Error { code: ErrorCode::InvalidRequest, message: message.into(), data: None }),
        }
    }

    async fn rename(&self, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
        let pos = params.text_document_position;
        let new_name = params.new_name;
        let answer = self
            .query(&pos.text_document.uri, move |s| {
                let offset = s.offset(pos.position);
                ide::rename(&s.ws, s.file, offset, &new_name).map(|edits| s.edits(&edits))
            })
            .await?;
        match answer {
            Ok(changes) => Ok(Some(WorkspaceEdit { changes: Some(changes), ..WorkspaceEdit::default() })),
            Err(message) => Err(Error { code: ErrorCode::InvalidRequest, message: message.into(), data: None }),
        }
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let pos = params.text_document_position;
        self.query(&pos.text_document.uri, move |s| {
            let index = s.index();
            let offset = index.offset(pos.position);
            let items: Vec<CompletionItem> = ide::completions(&s.ws, s.file, offset)
                .into_iter()
                .enumerate()
                .map(|(i, c)| CompletionItem {
                    label: c.label,
                    kind: Some(completion_kind(c.kind)),
                    detail: c.detail,
                    documentation: c
                        .documentation
                        .map(|d| Documentation::MarkupContent(MarkupContent { kind: MarkupKind::Markdown, value: d })),
                    // Keep the server's order: most relevant first.
                    sort_text: Some(format!("{i:04}")),
                    additional_text_edits: if c.additional_edits.is_empty() {
                        None
                    } else {
                        Some(
                            c.additional_edits
                                .iter()
                                .map(|(span, text)| TextEdit { range: index.range(*span), new_text: text.clone() })
                                .collect(),
                        )
                    },
                    ..CompletionItem::default()
                })
                .collect();
            Some(CompletionResponse::Array(items))
        })
        .await
    }

    async fn document_symbol(&self, params: DocumentSymbolParams) -> Result<Option<DocumentSymbolResponse>> {
        self.query(&params.text_document.uri, move |s| {
            let index = s.index();
            let symbols = ide::document_symbols(&s.ws, s.file).iter().map(|i| document_symbol(i, &index)).collect();
            Some(DocumentSymbolResponse::Nested(symbols))
        })
        .await
    }

    async fn symbol(&self, params: WorkspaceSymbolParams) -> Result<Option<WorkspaceSymbolResponse>> {
        // Not about one document: one user file's URI per program takes its snapshot.
        let firsts: Vec<Uri> = lock(&self.state)
            .programs
            .iter()
            .enumerate()
            .filter_map(|(p, program)| {
                let user =
                    program.ws.files().map(|(id, _)| id).find(|id| program.ws.origin(*id) == Some(&Origin::User));
                // Program 0 answers for the standard library even without user files.
                let id = user.or((p == 0).then_some(FileId(0)))?;
                program.uris.get(id.0 as usize).cloned()
            })
            .collect();
        let mut all = Vec::new();
        for uri in &firsts {
            if let Some(found) = self.workspace_symbols(uri, params.query.clone()).await? {
                all.extend(found);
            }
        }
        // Every program holds the standard library: list its symbols once.
        let mut seen = HashSet::new();
        all.retain(|s| {
            let at = s.location.range.start;
            seen.insert((s.location.uri.as_str().to_string(), at.line, at.character, s.name.clone()))
        });
        Ok(Some(WorkspaceSymbolResponse::Flat(all)))
    }
    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        self.query(&params.text_document.uri, move |s| {
            let text = s.text();
            // A file with syntax errors is not formatted (the errors are shown as diagnostics).
            let formatted = ide::format(&s.ws, s.file)?;
            if formatted == text {
                return Some(Vec::new());
            }
            let end = s.index().position(u32::try_from(text.len()).unwrap_or(u32::MAX));
            Some(vec![TextEdit { range: Range { start: Position::new(0, 0), end }, new_text: formatted }])
        })
        .await
    }

    async fn semantic_tokens_full(&self, params: SemanticTokensParams) -> Result<Option<SemanticTokensResult>> {
        self.query(&params.text_document.uri, move |s| {
            let index = s.index();
            let mut data = Vec::new();
            let (mut line, mut column) = (0u32, 0u32);
            for t in ide::semantic_tokens(&s.ws, s.file) {
                let start = index.position(t.span.start);
                let end = index.position(t.span.end);
                if end.line != start.line {
                    continue;
                }
                let (ty, mut modifiers) = token_type(t.class);
                if t.declaration {
                    modifiers |= 1;
                }
                let delta_line = start.line - line;
                let delta_start = if delta_line == 0 { start.character - column } else { start.character };
                data.push(SemanticToken {
                    delta_line,
                    delta_start,
                    length: end.character - start.character,
                    token_type: ty,
                    token_modifiers_bitset: modifiers,
                });
                line = start.line;
                column = start.character;
            }
            Some(SemanticTokensResult::Tokens(SemanticTokens { result_id: None, data }))
        })
        .await
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri.clone();
        let range = params.range;
        self.query(&params.text_document.uri, move |s| {
            let index = s.index();
            let span = index.span(range);
            let mut out = Vec::new();
            for fix in ide::code_actions(&s.ws, s.file, span) {
                let indexes: HashMap<FileId, LineIndex<'_>> = [(s.file, s.index())].into_iter().collect();
                let mut diagnostic = convert_diagnostic(&fix.diagnostic, &indexes, &s.uris);
                diagnostic.related_information = None;
                out.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: fix.title,
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diagnostic]),
                    edit: Some(WorkspaceEdit { changes: Some(s.edits(&fix.edits)), ..WorkspaceEdit::default() }),
                    is_preferred: Some(fix.preferred),
                    ..CodeAction::default()
                }));
            }
            let _ = &uri;
            Some(out)
        })
        .await
    }
}
