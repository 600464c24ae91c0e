//! Reloading a policy while serving, shared by `ward serve` and `ward
//! mcp-proxy`: what changed on disk ([`Watch`]), one reload at a time, and
//! the triggers — SIGHUP and a poll of the files ([`spawn`]).
//!
//! What a reload loads and how it swaps it in is the caller's ([`Reload`]):
//! the rule both follow is that the new policy is built completely, outside
//! any lock a decision takes, and swapped in only when nothing failed, so a
//! refused reload changes nothing.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// What identifies the watched files' contents: each file's path,
/// modification time and size (a directory stands for the files in it).
type Stamp = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

/// Most files looked at under one watched directory (beyond: not watched, said so once).
const MAX_FILES: usize = 10_000;

/// Files to watch for changes: files, and directories (every file under them,
/// recursively, so a file added or removed is a change too).
pub struct Watch {
    paths: Vec<PathBuf>,
    /// The stamp of the files last loaded (or last tried); also makes
    /// reloads one at a time.
    last: Mutex<Stamp>,
}

fn stamp_of(path: &Path, out: &mut Stamp) {
    let meta = std::fs::metadata(path).ok();
    match &meta {
        Some(m) if m.is_dir() => {
            let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
                Ok(dir) => dir.filter_map(|e| e.ok().map(|e| e.path())).collect(),
                Err(_) => {
                    out.push((path.to_path_buf(), None));
                    return;
                }
            };
            entries.sort();
            for e in entries {
                if out.len() >= MAX_FILES {
                    return;
                }
                stamp_of(&e, out);
            }
        }
        _ => out.push((path.to_path_buf(), meta.and_then(|m| Some((m.modified().ok()?, m.len()))))),
    }
}

impl Watch {
    /// Watches `paths`, taking the files as they are now as loaded.
    pub fn new(paths: Vec<PathBuf>) -> Watch {
        let last = Mutex::new(Vec::new());
        let watch = Watch { paths, last };
        let now = watch.stamp();
        *watch.last.lock().unwrap_or_else(|e| e.into_inner()) = now;
        watch
    }

    fn stamp(&self) -> Stamp {
        let mut out = Vec::new();
        for p in &self.paths {
            stamp_of(p, &mut out);
        }
        out
    }

    /// Whether the files changed since the last load (or load attempt).
    pub fn changed(&self) -> bool {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        *last != self.stamp()
    }

    /// Runs `load` as one reload: one at a time, and the files' stamp taken
    /// before loading becomes the last one (so a file changed during the
    /// load is seen at the next poll, and a refused version is not retried
    /// until it changes again).
    pub fn reload<T>(&self, load: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        *last = self.stamp();
        load()
    }
}

/// Something that reloads its policy.
pub trait Reload: Send + Sync + 'static {
    /// Whether the files changed since the last load (or attempt).
    fn changed(&self) -> bool;
    /// Loads again and swaps the result in; on any error what was serving
    /// stays. Blocking (compiles). `Ok` describes the new version.
    fn reload(&self) -> Result<String, String>;
    /// Told of every reload's result, `why` naming the trigger (logs, metrics).
    fn reloaded(&self, why: &str, result: &Result<String, String>);
}

/// Runs one reload on the blocking pool and reports it.
pub async fn reload_now(target: &Arc<dyn Reload>, why: &str) -> Result<String, String> {
    let t = Arc::clone(target);
    let result = match tokio::task::spawn_blocking(move || t.reload()).await {
        Ok(r) => r,
        Err(e) => Err(format!("the reload stopped: {e}")),
    };
    target.reloaded(why, &result);
    result
}

/// Reloads `target` on SIGHUP, and when its files change (polled every
/// `watch_interval`; `None`: only on SIGHUP). Needs a tokio runtime.
pub fn spawn(target: Arc<dyn Reload>, watch_interval: Option<Duration>) -> Result<(), String> {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| format!("cannot handle SIGHUP: {e}"))?;
    let on_signal = Arc::clone(&target);
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            let _ = reload_now(&on_signal, "SIGHUP").await;
        }
    });
    if let Some(every) = watch_interval.filter(|d| !d.is_zero()) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let t = Arc::clone(&target);
                let changed = tokio::task::spawn_blocking(move || t.changed()).await.unwrap_or(false);
                if changed {
                    let _ = reload_now(&target, "a file change").await;
                }
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn a_changed_added_or_removed_file_is_a_change() {
        let dir = std::env::temp_dir().join(format!("ward-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a.ward"), "a").unwrap();
        let watch = Watch::new(vec![dir.clone(), dir.join("missing.json")]);
        assert!(!watch.changed());
        std::fs::write(dir.join("sub/b.ward"), "b").unwrap();
        assert!(watch.changed());
        assert_eq!(watch.reload(|| Ok(1)), Ok(1));
        assert!(!watch.changed());
        std::fs::write(dir.join("a.ward"), "aa").unwrap();
        assert!(watch.changed());
        let _ = watch.reload(|| Err::<(), _>("refused".to_string()));
        assert!(!watch.changed(), "a refused version is not retried until it changes");
        std::fs::remove_file(dir.join("sub/b.ward")).unwrap();
        assert!(watch.changed());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
