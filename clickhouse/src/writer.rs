//! The batched, idempotent writer: each batch carries an insert deduplication token (a retried or
//! replayed batch is stored once), failed inserts are retried with exponential backoff, and a
//! batch that still fails goes to a local spool (a directory of files) that is replayed in order
//! when ClickHouse answers again, so results survive while ClickHouse is down.
//!
//! Spool files are named `<20-digit sequence>.batch` (the sequence is the creation time in
//! microseconds, kept increasing), hold a JSON header line `{"token":…,"rows":n}` then one JSON
//! row per line, and are written to a temporary name, synced, then renamed, so a crash never
//! leaves half a batch. One writer (process) per spool directory.

use crate::{Analytics, AnalyticsError, CheckRow, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// How the [`Writer`] batches, retries and spools.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Larger writes are split into batches of at most this many rows (token `<token>#<i>`).
    pub max_batch_rows: usize,
    /// Insert attempts per batch before it is spooled (or the error returned without a spool).
    pub max_attempts: u32,
    /// Wait after the first failed attempt; doubles per attempt up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Where batches wait while ClickHouse is down; `None` returns the error instead.
    pub spool_dir: Option<PathBuf>,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            max_batch_rows: 100_000,
            max_attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            spool_dir: None,
        }
    }
}

impl WriterConfig {
    /// Defaults, with the spool directory from `CLICKHOUSE_SPOOL_DIR` (unset or empty: no spool)
    /// and attempts from `CLICKHOUSE_WRITER_ATTEMPTS`.
    pub fn from_env() -> Result<Self> {
        let mut config = Self::default();
        if let Ok(dir) = std::env::var("CLICKHOUSE_SPOOL_DIR") {
            if !dir.trim().is_empty() {
                config.spool_dir = Some(PathBuf::from(dir.trim()));
            }
        }
        if let Ok(attempts) = std::env::var("CLICKHOUSE_WRITER_ATTEMPTS") {
            config.max_attempts = match attempts.trim().parse::<u32>() {
                Ok(n) if (1..=20).contains(&n) => n,
                _ => {
                    return Err(AnalyticsError::Config {
                        name: "CLICKHOUSE_WRITER_ATTEMPTS",
                        message: format!("{attempts:?} is not a number between 1 and 20"),
                    })
                }
            };
        }
        Ok(config)
    }
}

/// What happened to a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// In ClickHouse.
    Stored,
    /// In the spool, to be replayed; `pending` batches wait there now.
    Spooled { pending: usize },
}

/// Result of one spool replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub batches: usize,
    pub rows: usize,
    /// Batches still waiting (replay stops at the first failure to keep the order).
    pub remaining: usize,
    pub last_error: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct SpoolHeader {
    token: String,
    rows: usize,
}

struct SpoolState {
    last_seq: u64,
}

/// Batched, retrying, spooling writer of check rows. Cheap to clone; clones share the spool.
#[derive(Clone)]
pub struct Writer {
    analytics: Analytics,
    config: Arc<WriterConfig>,
    spool: Arc<Mutex<SpoolState>>,
    pending: Arc<AtomicUsize>,
}

impl Writer {
    /// Creates the spool directory if configured and counts the batches already waiting there
    /// (from an earlier run); they are replayed before the next write, or by
    /// [`Writer::replay_spool`].
    pub fn new(analytics: Analytics, config: WriterConfig) -> Result<Self> {
        let (mut pending, mut last_seq) = (0, 0);
        if let Some(dir) = &config.spool_dir {
            std::fs::create_dir_all(dir).map_err(|source| AnalyticsError::Spool {
                path: dir.clone(),
                source,
            })?;
            let files = spool_files(dir)?;
            pending = files.len();
            last_seq = files.last().map(|(seq, _)| *seq).unwrap_or(0);
        }
        Ok(Self {
            analytics,
            config: Arc::new(config),
            spool: Arc::new(Mutex::new(SpoolState { last_seq })),
            pending: Arc::new(AtomicUsize::new(pending)),
        })
    }

    pub fn analytics(&self) -> &Analytics {
        &self.analytics
    }

    /// Batches waiting in the spool.
    pub fn pending_batches(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Writes `rows` once: split into batches of `max_batch_rows`, each inserted with its token
    /// (`batch_token`, or `batch_token#i` when split), retried with backoff, and spooled if it
    /// still fails. While batches wait in the spool, they are replayed first and new batches
    /// queue behind them, so ClickHouse sees batches in the order they were written.
    pub async fn write(&self, rows: &[CheckRow], batch_token: &str) -> Result<WriteOutcome> {
        let max = self.config.max_batch_rows.max(1);
        let mut outcome = WriteOutcome::Stored;
        if rows.len() <= max {
            return self.write_batch(rows, batch_token).await;
        }
        for (i, chunk) in rows.chunks(max).enumerate() {
            let token = format!("{batch_token}#{i}");
            if let spooled @ WriteOutcome::Spooled { .. } = self.write_batch(chunk, &token).await? {
                outcome = spooled;
            }
        }
        Ok(outcome)
    }

    async fn write_batch(&self, rows: &[CheckRow], token: &str) -> Result<WriteOutcome> {
        if rows.is_empty() {
            return Ok(WriteOutcome::Stored);
        }
        if self.pending.load(Ordering::SeqCst) == 0 {
            match self.insert_with_retries(rows, token).await {
                Ok(()) => return Ok(WriteOutcome::Stored),
                Err(e) if self.config.spool_dir.is_none() => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, rows = rows.len(), "clickhouse insert failed; spooling the batch");
                    let mut state = self.spool.lock().await;
                    return self.spool_batch(&mut state, rows, token).await;
                }
            }
        }
        let mut state = self.spool.lock().await;
        let report = self.replay_locked(&mut state, 1).await?;
        if report.remaining == 0 {
            match self.insert_with_retries(rows, token).await {
                Ok(()) => return Ok(WriteOutcome::Stored),
                Err(e) => {
                    tracing::warn!(error = %e, rows = rows.len(), "clickhouse insert failed; spooling the batch");
                }
            }
        }
        self.spool_batch(&mut state, rows, token).await
    }

    async fn insert_with_retries(&self, rows: &[CheckRow], token: &str) -> Result<()> {
        let mut backoff = self.config.initial_backoff;
        let attempts = self.config.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            match self.analytics.insert_checks(rows, token).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt >= attempts => return Err(e),
                Err(e) => {
                    tracing::debug!(error = %e, attempt, "clickhouse insert failed; retrying");
                    tokio::time::sleep(jitter(backoff)).await;
                    backoff = (backoff * 2).min(self.config.max_backoff);
                    attempt += 1;
                }
            }
        }
    }

    async fn spool_batch(
        &self,
        state: &mut SpoolState,
        rows: &[CheckRow],
        token: &str,
    ) -> Result<WriteOutcome> {
        let Some(dir) = self.config.spool_dir.clone() else {
            return Err(AnalyticsError::InvalidArgument("no spool directory".into()));
        };
        let now = chrono::Utc::now().timestamp_micros().max(0) as u64;
        state.last_seq = now.max(state.last_seq + 1);
        let path = dir.join(format!("{:020}.batch", state.last_seq));
        let (rows, token) = (rows.to_vec(), token.to_owned());
        let target = path.clone();
        tokio::task::spawn_blocking(move || write_spool_file(&target, &token, &rows))
            .await
            .map_err(|e| AnalyticsError::Spool {
                path: path.clone(),
                source: std::io::Error::other(e),
            })?
            .map_err(|source| AnalyticsError::Spool { path, source })?;
        let pending = self.pending.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(WriteOutcome::Spooled { pending })
    }

    /// Replays the spool in order (each batch with its original token, so a batch that had in
    /// fact landed is not stored twice) and deletes what was stored. Stops at the first batch
    /// ClickHouse refuses. Unreadable files are renamed `*.bad` and skipped.
    pub async fn replay_spool(&self) -> Result<ReplayReport> {
        let mut state = self.spool.lock().await;
        self.replay_locked(&mut state, self.config.max_attempts)
            .await
    }

    async fn replay_locked(&self, _state: &mut SpoolState, attempts: u32) -> Result<ReplayReport> {
        let Some(dir) = self.config.spool_dir.clone() else {
            return Ok(ReplayReport::default());
        };
        let files = spool_files(&dir)?;
        let mut report = ReplayReport {
            remaining: files.len(),
            ..ReplayReport::default()
        };
        for (_, path) in files {
            let read_path = path.clone();
            let batch = tokio::task::spawn_blocking(move || read_spool_file(&read_path))
                .await
                .map_err(|e| AnalyticsError::Spool {
                    path: path.clone(),
                    source: std::io::Error::other(e),
                })?;
            let (token, rows) = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "unreadable spool file; set aside as .bad");
                    let bad = path.with_extension("bad");
                    std::fs::rename(&path, &bad)
                        .map_err(|source| AnalyticsError::Spool { path, source })?;
                    report.remaining -= 1;
                    self.pending.fetch_sub(1, Ordering::SeqCst);
                    continue;
                }
            };
            let mut result = self.analytics.insert_checks(&rows, &token).await;
            let mut backoff = self.config.initial_backoff;
            for _ in 1..attempts {
                if result.is_ok() {
                    break;
                }
                tokio::time::sleep(jitter(backoff)).await;
                backoff = (backoff * 2).min(self.config.max_backoff);
                result = self.analytics.insert_checks(&rows, &token).await;
            }
            if let Err(e) = result {
                report.last_error = Some(e.to_string());
                break;
            }
            std::fs::remove_file(&path).map_err(|source| AnalyticsError::Spool {
                path: path.clone(),
                source,
            })?;
            self.pending.fetch_sub(1, Ordering::SeqCst);
            report.batches += 1;
            report.rows += rows.len();
            report.remaining -= 1;
        }
        if report.batches > 0 {
            tracing::info!(
                batches = report.batches,
                rows = report.rows,
                remaining = report.remaining,
                "replayed spooled clickhouse batches"
            );
        }
        Ok(report)
    }

    /// Replays the spool every `every` while batches wait (for long-running processes).
    pub fn spawn_replayer(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let writer = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if writer.pending_batches() == 0 {
                    continue;
                }
                if let Err(e) = writer.replay_spool().await {
                    tracing::warn!(error = %e, "spool replay failed");
                }
            }
        })
    }
}

/// Up to +25%, so writers that failed together do not retry in lockstep.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    d + d.mul_f64(f64::from(nanos % 1000) / 4000.0)
}

/// `(sequence, path)` of the spooled batches, oldest first.
fn spool_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let io = |source| AnalyticsError::Spool {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("batch") {
            continue;
        }
        if let Some(seq) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
        {
            files.push((seq, path));
        }
    }
    files.sort();
    Ok(files)
}

fn write_spool_file(path: &Path, token: &str, rows: &[CheckRow]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let file = std::fs::File::create(&tmp)?;
        let mut out = std::io::BufWriter::new(file);
        let header = SpoolHeader {
            token: token.to_owned(),
            rows: rows.len(),
        };
        serde_json::to_writer(&mut out, &header)?;
        out.write_all(b"\n")?;
        for row in rows {
            serde_json::to_writer(&mut out, row)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        out.get_ref().sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        // Make the rename durable; not every filesystem supports syncing a directory.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn read_spool_file(path: &Path) -> std::io::Result<(String, Vec<CheckRow>)> {
    let reader = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut lines = reader.lines();
    let header: SpoolHeader = match lines.next() {
        Some(line) => serde_json::from_str(&line?)?,
        None => return Err(std::io::Error::other("empty spool file")),
    };
    let mut rows = Vec::with_capacity(header.rows);
    for line in lines {
        rows.push(serde_json::from_str(&line?)?);
    }
    if rows.len() != header.rows {
        return Err(std::io::Error::other(format!(
            "spool file has {} rows, header says {}",
            rows.len(),
            header.rows
        )));
    }
    // Files spooled by a writer from before `scheduled_at` / `final_attempt`.
    CheckRow::fill_legacy(&mut rows);
    Ok((header.token, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_files_round_trip() {
        let dir = std::env::temp_dir().join(format!("spool-unit-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let row = CheckRow {
            tenant_id: uuid::Uuid::new_v4(),
            monitor_id: uuid::Uuid::new_v4(),
            region: "eu".into(),
            checked_at: 1_700_000_000_123_456,
            scheduled_at: 1_700_000_000_000_001,
            run_id: uuid::Uuid::new_v4(),
            attempt: 1,
            final_attempt: true,
            status: crate::STATUS_UP,
            status_code: 200,
            dns_us: 1,
            tcp_connect_us: 2,
            tls_handshake_us: 3,
            ttfb_us: 4,
            transfer_us: 5,
            total_us: 15,
            resolved_ip: "192.0.2.1".into(),
            http_version: "HTTP/2".into(),
            tls_version: "TLSv1.3".into(),
            tls_cipher: "TLS13_AES_128_GCM_SHA256".into(),
            cert_expires_at: Some(1_800_000_000),
            response_bytes: 10,
            redirects: 0,
            cold_start: true,
            error: "quote \" and\nnewline".into(),
        };
        let path = dir.join(format!("{:020}.batch", 7));
        write_spool_file(&path, "tok", &[row.clone(), row.clone()]).unwrap();
        std::fs::write(dir.join("junk.txt"), "x").unwrap();
        assert_eq!(spool_files(&dir).unwrap(), vec![(7, path.clone())]);
        let (token, rows) = read_spool_file(&path).unwrap();
        assert_eq!((token.as_str(), rows), ("tok", vec![row.clone(), row]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn spool_files_from_before_scheduled_at_count_each_check_once() {
        let dir = std::env::temp_dir().join(format!("spool-legacy-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let (t, m) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let want = CheckRow::synthetic_check(
            t,
            m,
            "eu",
            1_700_000_000_000_000,
            &[(0, crate::STATUS_DOWN, 1), (3_000_000, crate::STATUS_UP, 2)],
        );
        // As an older writer spooled them: without the two fields.
        let mut text = String::from("{\"token\":\"old\",\"rows\":2}\n");
        for row in &want {
            let mut value = serde_json::to_value(row).unwrap();
            let object = value.as_object_mut().unwrap();
            object.remove("scheduled_at");
            object.remove("final_attempt");
            text.push_str(&format!("{value}\n"));
        }
        let path = dir.join(format!("{:020}.batch", 1));
        std::fs::write(&path, text).unwrap();
        let (token, rows) = read_spool_file(&path).unwrap();
        assert_eq!((token.as_str(), rows), ("old", want));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
