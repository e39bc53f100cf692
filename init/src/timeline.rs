//! The boot timeline: named moments on CLOCK_MONOTONIC (seconds since the kernel
//! started), rewritten atomically to `/run/sesame/timeline.json` at every mark so the
//! real system can read it after switch_root (/run is moved, not copied).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// Where the timeline is written at boot.
pub const TIMELINE_PATH: &str = "/run/sesame/timeline.json";

/// One moment of the boot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mark {
    /// What happened: `init_start`, `modules_loaded`, `root_mounted`, `switch_root`…
    pub event: String,
    /// Seconds since boot, CLOCK_MONOTONIC.
    pub t: f64,
    /// Free-form detail that carries no secret (a device, an address, a count).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Serialize)]
struct File<'a> {
    version: u32,
    sesame: &'a str,
    marks: &'a [Mark],
}

/// A shared, cloneable handle on the boot timeline.
#[derive(Clone)]
pub struct Timeline {
    inner: Arc<Mutex<Vec<Mark>>>,
    path: Option<PathBuf>,
}

impl Timeline {
    /// A timeline written to `path` (None: kept in memory only, for tests).
    pub fn new(path: Option<&Path>) -> Self {
        Timeline {
            inner: Arc::new(Mutex::new(Vec::new())),
            path: path.map(Path::to_path_buf),
        }
    }

    /// Records `event` now.
    pub fn mark(&self, event: &str, detail: Option<String>) {
        self.mark_at(event, crate::logger::uptime(), detail);
    }

    /// Records `event` at time `t` (seconds since boot) and rewrites the file.
    pub fn mark_at(&self, event: &str, t: f64, detail: Option<String>) {
        let Ok(mut marks) = self.inner.lock() else {
            return;
        };
        marks.push(Mark {
            event: event.to_string(),
            t: (t * 1000.0).round() / 1000.0,
            detail,
        });
        if let Some(path) = &self.path {
            if let Err(e) = write_atomically(path, &render(&marks)) {
                log::warn!("cannot write the boot timeline {}: {e}", path.display());
            }
        }
    }

    /// The marks so far.
    pub fn marks(&self) -> Vec<Mark> {
        self.inner.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// The timeline as the JSON written to disk.
    pub fn to_json(&self) -> String {
        render(&self.marks())
    }
}

fn render(marks: &[Mark]) -> String {
    let file = File {
        version: 1,
        sesame: env!("CARGO_PKG_VERSION"),
        marks,
    };
    serde_json::to_string_pretty(&file).unwrap_or_else(|_| "{}".into())
}

/// Writes `text` to a temporary file beside `path` and renames it into place.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_written_as_json_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/sesame/timeline.json");
        let t = Timeline::new(Some(&path));
        t.mark_at("init_start", 0.51234, None);
        t.mark_at("root_mounted", 1.2, Some("/dev/vda".into()));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["marks"][0]["event"], "init_start");
        assert_eq!(v["marks"][0]["t"], 0.512);
        assert!(v["marks"][0].get("detail").is_none());
        assert_eq!(v["marks"][1]["detail"], "/dev/vda");
        assert_eq!(t.marks().len(), 2);
    }
}
