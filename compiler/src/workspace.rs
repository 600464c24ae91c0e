//! An incremental compilation session: files can be edited and the
//! diagnostics asked for again; only what the edit affects is recomputed.

use std::collections::HashMap;

use salsa::Setter;

use crate::analysis::analyse;
use crate::check::{RawDiag, check_unit};
use crate::db::{Database, Options, Origin, Project, SourceFile};
use crate::diagnostic::{Diagnostic, FileId, Label};
use crate::units::{Loc, parse, span_of, unit_keys};

/// A set of files being compiled, kept in a salsa database.
pub struct Workspace {
    db: Database,
    project: Project,
    files: Vec<SourceFile>,
}

impl Workspace {
    pub fn new(options: Options) -> Workspace {
        Workspace::with_database(Database::default(), options)
    }

    /// A workspace over a given database (tests pass one that logs queries).
    pub fn with_database(db: Database, options: Options) -> Workspace {
        let project = Project::new(&db, Vec::new(), options);
        Workspace { db, project, files: Vec::new() }
    }

    /// Adds a file; returns its id (ids are given in order, from 0).
    pub fn add_file(&mut self, path: &str, text: &str, origin: Origin) -> FileId {
        let file = SourceFile::new(&self.db, path.to_string(), text.to_string(), origin);
        self.files.push(file);
        let files = self.files.clone();
        self.project.set_files(&mut self.db).to(files);
        FileId(u32::try_from(self.files.len() - 1).unwrap_or(u32::MAX))
    }

    /// Adds the standard-library modules.
    pub fn add_stdlib(&mut self) {
        for (module, text) in crate::stdlib::MODULES {
            self.add_file(&format!("<stdlib>/{module}.ward"), text, Origin::Stdlib(module.to_string()));
        }
    }

    /// Replaces a file's text.
    pub fn set_text(&mut self, id: FileId, text: &str) {
        if let Some(file) = self.files.get(id.0 as usize) {
            file.set_text(&mut self.db).to(text.to_string());
        }
    }

    pub fn set_options(&mut self, options: Options) {
        self.project.set_options(&mut self.db).to(options);
    }

    /// A read-only copy sharing the database: queries on it run while this
    /// workspace waits to be edited. An edit ([`Workspace::set_text`]) cancels
    /// the queries running on snapshots (they unwind with salsa's `Cancelled`,
    /// see [`crate::ide::catch`]) and waits until every snapshot is dropped.
    pub fn snapshot(&self) -> Workspace {
        Workspace { db: self.db.clone(), project: self.project, files: self.files.clone() }
    }

    /// Every file, with its id.
    pub fn files(&self) -> impl Iterator<Item = (FileId, SourceFile)> + '_ {
        self.files.iter().enumerate().map(|(i, f)| (FileId(u32::try_from(i).unwrap_or(u32::MAX)), *f))
    }

    /// The id of a file of this workspace.
    pub fn id_of(&self, file: SourceFile) -> Option<FileId> {
        self.files.iter().position(|f| *f == file).map(|i| FileId(u32::try_from(i).unwrap_or(u32::MAX)))
    }

    pub fn origin(&self, id: FileId) -> Option<&Origin> {
        self.file(id).map(|f| f.origin(&self.db))
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    pub fn project(&self) -> Project {
        self.project
    }

    pub fn file(&self, id: FileId) -> Option<SourceFile> {
        self.files.get(id.0 as usize).copied()
    }

    pub fn path(&self, id: FileId) -> Option<&str> {
        self.file(id).map(|f| f.path(&self.db).as_str())
    }

    pub fn text(&self, id: FileId) -> Option<&str> {
        self.file(id).map(|f| f.text(&self.db).as_str())
    }

    /// Every diagnostic of the project: syntax errors, checking errors and
    /// the analyses' warnings, with real spans, ordered by file and position.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let db = &self.db;
        let ids: HashMap<SourceFile, FileId> =
            self.files.iter().enumerate().map(|(i, f)| (*f, FileId(u32::try_from(i).unwrap_or(u32::MAX)))).collect();
        let mut out = Vec::new();
        for (i, file) in self.files.iter().enumerate() {
            let id = FileId(u32::try_from(i).unwrap_or(u32::MAX));
            for e in &parse(db, *file).errors {
                out.push(Diagnostic::from_syntax(id, e));
            }
            for key in unit_keys(db, *file) {
                for raw in check_unit(db, self.project, *file, *key) {
                    out.push(self.lower(raw, &ids));
                }
            }
        }
        for raw in analyse(db, self.project).iter() {
            out.push(self.lower(raw, &ids));
        }
        out.sort_by_key(|d| (d.primary.file, d.primary.span.start, d.severity));
        out.dedup();
        out
    }

    fn label(&self, loc: Loc, message: String, ids: &HashMap<SourceFile, FileId>) -> Label {
        let file = ids.get(&loc.file).copied().unwrap_or(FileId(0));
        Label { file, span: span_of(&self.db, loc), message }
    }

    /// Turns a position-independent diagnostic into one with real spans.
    fn lower(&self, raw: &RawDiag, ids: &HashMap<SourceFile, FileId>) -> Diagnostic {
        Diagnostic {
            code: raw.code,
            severity: raw.severity,
            message: raw.message.clone(),
            primary: self.label(raw.primary, raw.label.clone(), ids),
            secondary: raw.secondary.iter().map(|(loc, m)| self.label(*loc, m.clone(), ids)).collect(),
            help: raw.help.clone(),
        }
    }
}
