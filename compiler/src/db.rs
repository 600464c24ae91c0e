//! The salsa database: inputs (source files and the project) and the
//! database type.

use std::sync::{Arc, Mutex};

/// Where a source file comes from: the user's project or Ward's standard
/// library (whose items live in the module's namespace, `pii.email`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Origin {
    User,
    Stdlib(String),
}

/// A source file: the input everything else is derived from.
#[salsa::input(debug)]
pub struct SourceFile {
    #[returns(ref)]
    pub path: String,
    #[returns(ref)]
    pub text: String,
    #[returns(ref)]
    pub origin: Origin,
}

/// Settings that change what the checker reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Options {
    /// The date lifecycle checks compare against (days since 1970-01-01):
    /// `ward check --at`, by default today. Passed in, never read from a
    /// clock; `None` turns the lifecycle warnings off.
    pub today: Option<i64>,
    /// The longest window a flow condition may look back (milliseconds).
    pub max_window_ms: i64,
}

impl Default for Options {
    fn default() -> Options {
        Options { today: None, max_window_ms: 24 * 3_600_000 }
    }
}

/// One compilation: the files that belong to it and the options.
#[salsa::input(debug)]
pub struct Project {
    #[returns(ref)]
    pub files: Vec<SourceFile>,
    #[returns(ref)]
    pub options: Options,
}

/// The compiler's database.
#[salsa::db]
#[derive(Clone)]
pub struct Database {
    storage: salsa::Storage<Self>,
    /// When set, the names of the queries salsa executes (tests use this to
    /// prove what an edit recomputes).
    log: Option<Arc<Mutex<Vec<String>>>>,
}

impl Default for Database {
    fn default() -> Database {
        Database { storage: salsa::Storage::new(None), log: None }
    }
}

impl Database {
    /// A database that records every query execution; see [`Database::take_log`].
    pub fn with_execution_log() -> Database {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        let storage = salsa::Storage::new(Some(Box::new(move |event: salsa::Event| {
            if let salsa::EventKind::WillExecute { database_key } = event.kind
                && let Ok(mut log) = sink.lock()
            {
                log.push(format!("{database_key:?}"));
            }
        })));
        Database { storage, log: Some(log) }
    }

    /// The queries executed since the last call, as `query_name(id)` strings.
    pub fn take_log(&self) -> Vec<String> {
        match &self.log {
            Some(log) => log.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default(),
            None => Vec::new(),
        }
    }
}

#[salsa::db]
impl salsa::Database for Database {}
