//! The kept models also in S3-compatible storage (`STATUSPAGE_RENDER_BUCKET`): each file written
//! to the render folder is put in the bucket too, and at start the objects the folder lacks (or
//! holds older) are fetched into it before it is read, so a server on a fresh machine serves
//! every public page the fleet served while both databases are down.

use super::disk::{self, MAX_KEPT_BYTES};
use infra::keep::ObjectKeep;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};
use uuid::Uuid;

/// The most a put waits for the bucket (the page itself is already served from memory).
pub const PUT_BUDGET: Duration = Duration::from_secs(10);
/// The most start-up waits for the bucket before it serves what the folder holds.
pub const RESTORE_BUDGET: Duration = Duration::from_secs(30);

/// What [`restore`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// Objects fetched into the folder.
    pub fetched: usize,
    /// Objects the folder already held as new or newer.
    pub current: usize,
    /// Objects skipped: not a kept model, too large, unreadable or naming another tenant.
    pub skipped: usize,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).ok()?.modified().ok()
}

/// Fetches into `dir` every kept model of the bucket that `dir` lacks or holds older.
pub async fn restore(keep: &ObjectKeep, dir: &Path) -> infra::Result<Restored> {
    let started = Instant::now();
    let mut restored = Restored::default();
    for object in keep.list().await? {
        let Some(tenant_id) = disk::tenant_of(&object.name) else {
            restored.skipped += 1;
            continue;
        };
        if object.size > MAX_KEPT_BYTES {
            tracing::warn!(bucket = keep.bucket(), object = %object.name, bytes = object.size, "kept render in the bucket too large; skipped");
            restored.skipped += 1;
            continue;
        }
        let local = modified(&dir.join(disk::file_name(tenant_id)));
        if local.is_some_and(|local| object.modified.is_none_or(|remote| remote <= local)) {
            restored.current += 1;
            continue;
        }
        let body = match keep.get(&object.name, MAX_KEPT_BYTES).await {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(error = %e, "kept render not fetched from the bucket");
                restored.skipped += 1;
                continue;
            }
        };
        let dir = dir.to_owned();
        let written =
            tokio::task::spawn_blocking(move || disk::write_kept_bytes(&dir, tenant_id, &body))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r);
        match written {
            Ok(_) => restored.fetched += 1,
            Err(e) => {
                tracing::warn!(bucket = keep.bucket(), object = %object.name, error = %e, "kept render in the bucket unusable; skipped");
                restored.skipped += 1;
            }
        }
    }
    tracing::info!(
        bucket = keep.bucket(),
        fetched = restored.fetched,
        current = restored.current,
        skipped = restored.skipped,
        millis = started.elapsed().as_millis() as u64,
        "kept renders restored from the bucket"
    );
    Ok(restored)
}

/// Puts one kept model (the bytes just written to the folder) in the bucket; a failure is
/// logged: the folder still has it.
pub async fn put(keep: &ObjectKeep, tenant_id: Uuid, body: Vec<u8>) {
    let name = disk::file_name(tenant_id);
    match tokio::time::timeout(PUT_BUDGET, keep.put(&name, body, "application/json")).await {
        Ok(Ok(())) => {
            tracing::debug!(%tenant_id, bucket = keep.bucket(), "kept render put in the bucket")
        }
        Ok(Err(e)) => {
            tracing::warn!(%tenant_id, error = %e, "keeping the render in the bucket failed")
        }
        Err(_) => {
            tracing::warn!(%tenant_id, bucket = keep.bucket(), "keeping the render in the bucket took longer than {PUT_BUDGET:?}; skipped")
        }
    }
}
