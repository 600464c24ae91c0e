//! The policy being served, and reloading it.
//!
//! Decisions take a read lock on the current version's description for as
//! long as they run; a reload builds the new policy set outside the lock
//! (reading, verifying, compiling to native code) and takes the write lock
//! only to call `Engine::swap` and replace the description. So every
//! decision is reported with the version that actually made it.

use std::path::PathBuf;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::SystemTime;

use ward_runtime::bundle::ed25519_dalek::VerifyingKey;
use ward_runtime::bundle::{Bundle, rfc3339};
use ward_runtime::{Backend, Engine, SystemClock};

use crate::reload::Watch;

/// The version being served.
#[derive(Debug, Clone)]
pub struct Version {
    /// The bundle's source hash.
    pub hash: String,
    /// 1 for the policy loaded at start, +1 per successful reload.
    pub generation: u64,
    pub loaded_at_ms: i64,
    pub bundle: ward_runtime::bundle::Meta,
    /// Key id of the signer, when signed.
    pub signer: Option<String>,
}

impl Version {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "version": self.generation,
            "hash": self.hash,
            "loaded_at": rfc3339(self.loaded_at_ms),
            "built_at": self.bundle.built_at,
            "ward_version": self.bundle.ward_version,
            "format_version": self.bundle.format_version,
            "files": self.bundle.files,
            "signed_by": self.signer,
        })
    }
}

/// Where the policy comes from.
#[derive(Clone)]
pub struct Source {
    pub bundle: PathBuf,
    pub entities: Option<PathBuf>,
    /// Links of the templates (Cedar's template-linked JSON).
    pub links: Option<PathBuf>,
    pub trusted_key: Option<VerifyingKey>,
    pub backend: Backend,
}

pub struct Policy {
    pub engine: Engine,
    current: RwLock<Arc<Version>>,
    source: Source,
    /// The files, to notice changes; one reload at a time.
    watch: Watch,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Source {
    fn files(&self) -> Vec<PathBuf> {
        std::iter::once(self.bundle.clone()).chain(self.entities.clone()).chain(self.links.clone()).collect()
    }

    /// Reads, verifies and prepares the policy set; `previous`, on a
    /// reload, lends its compiled parts when the bundle's program did not
    /// change (new entities cost no native compile).
    fn load(&self, previous: Option<&ward_runtime::Loaded>) -> Result<(ward_runtime::Loaded, Bundle), String> {
        let bundle = Bundle::read_file(&self.bundle, self.trusted_key.as_ref()).map_err(|e| match e {
            ward_runtime::bundle::BundleError::Io(e) => e,
            e => format!("`{}`: {e}", self.bundle.display()),
        })?;
        let entities = match &self.entities {
            None => serde_json::Value::Array(Vec::new()),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read entities `{}`: {e}", path.display()))?;
                ward_runtime::store::parse_entities(&text).map_err(|e| format!("entities `{}`: {e}", path.display()))?
            }
        };
        let want_jit = self.backend == Backend::Jit;
        let loaded = match previous {
            Some(previous) => bundle.reloaded(&entities, want_jit, previous),
            None => bundle.loaded(&entities, want_jit),
        }
        .map_err(|e| format!("`{}`: {e}", self.entities.as_ref().unwrap_or(&self.bundle).display()))?;
        let loaded = match &self.links {
            None => loaded,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read links `{}`: {e}", path.display()))?;
                let links = ward_runtime::links::Links::parse(loaded.program(), &text)
                    .map_err(|e| format!("links `{}`: {e}", path.display()))?;
                loaded.with_links(Arc::new(links)).map_err(|e| format!("links `{}`: {e}", path.display()))?
            }
        };
        if let (Backend::Jit, Some(why)) = (self.backend, &loaded.jit_error) {
            eprintln!("ward serve: note: using the interpreter: {why}");
        }
        Ok((loaded, bundle))
    }
}

fn version(bundle: &Bundle, generation: u64) -> Version {
    Version {
        hash: bundle.meta.source_hash.clone(),
        generation,
        loaded_at_ms: now_ms(),
        bundle: bundle.meta.clone(),
        signer: bundle.signer.as_ref().map(ward_runtime::bundle::key_id),
    }
}

impl Policy {
    /// Loads the policy for the first time: any problem is an error.
    pub fn open(source: Source) -> Result<Policy, String> {
        let watch = Watch::new(source.files());
        let (loaded, bundle) = source.load(None)?;
        let engine = Engine::new(loaded, Arc::new(SystemClock), source.backend);
        Ok(Policy { engine, current: RwLock::new(Arc::new(version(&bundle, 1))), source, watch })
    }

    /// The version being served; decisions made while the guard lives are made by it.
    pub fn read(&self) -> RwLockReadGuard<'_, Arc<Version>> {
        self.current.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn current(&self) -> Arc<Version> {
        Arc::clone(&self.read())
    }

    /// Whether the files changed since the last load (or load attempt).
    pub fn changed(&self) -> bool {
        self.watch.changed()
    }

    /// Loads the files again and swaps them in; on any error the current
    /// policy stays. Blocking: compiles to native code.
    pub fn reload(&self) -> Result<Arc<Version>, String> {
        self.watch.reload(|| {
            let (loaded, bundle) = self.source.load(Some(&self.engine.loaded()))?;
            let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
            let next = Arc::new(version(&bundle, current.generation + 1));
            self.engine.swap(loaded);
            *current = Arc::clone(&next);
            Ok(next)
        })
    }
}
