//! The last good model of every page, one JSON file per tenant in `STATUSPAGE_RENDER_DIR`,
//! written atomically (temporary file, fsync, rename, fsync of the folder) after each live
//! render, read back at start so a server without its databases still serves every public page
//! it served before, marked stale.

use super::RenderedSite;
use crate::public::model::PageModel;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Kept models read at start (the most recently written first); the rest are ignored.
pub const MAX_KEPT: usize = 10_000;
/// A kept model larger than this is ignored (a model is bounded: ~0.5 MB for a large page).
pub const MAX_KEPT_BYTES: u64 = 16 * 1024 * 1024;
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct KeptFile<M> {
    version: u32,
    written_at: chrono::DateTime<chrono::Utc>,
    model: M,
}

/// What start-up needs to know of a kept model without keeping the model in memory.
#[derive(Debug, Clone)]
pub struct Kept {
    pub tenant_id: Uuid,
    pub hosts: Vec<String>,
    pub path: PathBuf,
}

/// Writes `model` as `<dir>/<tenant id>.json`, atomically.
#[cfg(test)]
pub fn write(dir: &Path, model: &PageModel) -> std::io::Result<Kept> {
    write_with_body(dir, model).map(|(kept, _)| kept)
}

/// [`write`], also returning the bytes written (what the bucket keeps too).
pub fn write_with_body(dir: &Path, model: &PageModel) -> std::io::Result<(Kept, Vec<u8>)> {
    let body = serde_json::to_vec(&KeptFile {
        version: VERSION,
        written_at: chrono::Utc::now(),
        model,
    })
    .map_err(std::io::Error::other)?;
    let path = write_file(dir, model.tenant_id, &body)?;
    let kept = Kept {
        tenant_id: model.tenant_id,
        hosts: model.hosts.clone(),
        path,
    };
    Ok((kept, body))
}

/// Keeps `body` (a kept file fetched from the bucket) as `tenant_id`'s, once it has been read
/// back as that tenant's model.
pub fn write_kept_bytes(dir: &Path, tenant_id: Uuid, body: &[u8]) -> Result<Kept, String> {
    let model = parse(body)?;
    if model.tenant_id != tenant_id {
        return Err(format!("holds tenant {}, not {tenant_id}", model.tenant_id));
    }
    let path = write_file(dir, tenant_id, body).map_err(|e| e.to_string())?;
    Ok(Kept {
        tenant_id,
        hosts: model.hosts,
        path,
    })
}

/// The kept file's name of a tenant, and the tenant of a kept file's name.
pub fn file_name(tenant_id: Uuid) -> String {
    format!("{tenant_id}.json")
}

pub fn tenant_of(name: &str) -> Option<Uuid> {
    name.strip_suffix(".json")?.parse().ok()
}

fn write_file(dir: &Path, tenant_id: Uuid, body: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file_name(tenant_id));
    let tmp = dir.join(format!(
        ".{}.{}.{:x}.tmp",
        tenant_id,
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(body)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &path)?;
        // The rename itself is durable once the folder is synced.
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    Ok(path)
}

/// Reads a kept model.
pub fn read(path: &Path) -> Result<PageModel, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_KEPT_BYTES {
        return Err(format!("{} bytes, more than {MAX_KEPT_BYTES}", meta.len()));
    }
    parse(&std::fs::read(path).map_err(|e| e.to_string())?)
}

fn parse(bytes: &[u8]) -> Result<PageModel, String> {
    let kept: KeptFile<PageModel> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if kept.version != VERSION {
        return Err(format!("version {}, not {VERSION}", kept.version));
    }
    Ok(kept.model)
}

/// Every usable kept model of `dir` (at most [`MAX_KEPT`], newest first); corrupt, foreign and
/// oversized files are logged and skipped.
pub fn scan(dir: &Path) -> Vec<Kept> {
    let started = std::time::Instant::now();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "STATUSPAGE_RENDER_DIR cannot be read; no kept renders");
            return Vec::new();
        }
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf, Uuid)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let id = tenant_of(name.to_str()?)?;
            let modified = entry.metadata().ok()?.modified().ok()?;
            Some((modified, entry.path(), id))
        })
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    if files.len() > MAX_KEPT {
        tracing::warn!(
            dir = %dir.display(),
            found = files.len(),
            "more kept renders than {MAX_KEPT}; the oldest are ignored"
        );
        files.truncate(MAX_KEPT);
    }
    let mut kept = Vec::with_capacity(files.len());
    for (_, path, id) in files {
        match read(&path) {
            Ok(model) if model.tenant_id == id => kept.push(Kept {
                tenant_id: id,
                hosts: model.hosts,
                path,
            }),
            Ok(_) => {
                tracing::warn!(file = %path.display(), "kept render names another tenant; skipped")
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "kept render unreadable; skipped")
            }
        }
    }
    if !kept.is_empty() {
        tracing::info!(
            dir = %dir.display(),
            renders = kept.len(),
            millis = started.elapsed().as_millis() as u64,
            "kept renders read"
        );
    }
    kept
}

/// A kept model rendered as stale: the page says since when its figures are.
pub fn render_kept(kept: &Kept) -> Option<RenderedSite> {
    match read(&kept.path) {
        Ok(mut model) if model.tenant_id == kept.tenant_id => {
            model.stale = true;
            Some(RenderedSite::render(model, None))
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(file = %kept.path.display(), error = %e, "kept render unreadable");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::public::fixture;

    #[test]
    fn models_round_trip_and_bad_files_are_skipped() {
        let dir = std::env::temp_dir().join(format!("render-disk-{}", Uuid::new_v4()));
        let model = fixture::page(true);
        let kept = write(&dir, &model).unwrap();
        assert_eq!(read(&kept.path).unwrap(), model);
        std::fs::write(dir.join(format!("{}.json", Uuid::new_v4())), b"{not json").unwrap();
        std::fs::write(dir.join("notes.txt"), b"hello").unwrap();
        // A file named for one tenant holding another's model.
        std::fs::copy(&kept.path, dir.join(format!("{}.json", Uuid::new_v4()))).unwrap();
        let found = scan(&dir);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].tenant_id, model.tenant_id);
        assert_eq!(found[0].hosts, model.hosts);
        let site = render_kept(&found[0]).unwrap();
        assert!(site.stale());
        assert!(std::fs::read_dir(&dir).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
