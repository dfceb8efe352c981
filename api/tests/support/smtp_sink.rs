//! A real SMTP server for tests: aiosmtpd on a free loopback port, run with
//! `scripts/smtp-sink.py`, which writes every accepted message into a folder. Needs
//! `AIOSMTPD_PYTHON` (a python that imports aiosmtpd); `./dev test` installs it and sets it.
//! Shared by the email tests of `api` and `web` (`#[path]` modules): each uses what it needs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use uuid::Uuid;

/// A running smtp-sink.py; killed when dropped (and it exits by itself when our end of its
/// stdin closes, so a crashed test leaves nothing behind).
pub struct Sink {
    child: Child,
    pub port: u16,
    pub folder: PathBuf,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn start_sink() -> Sink {
    let python = std::env::var("AIOSMTPD_PYTHON").unwrap_or_default();
    assert!(
        !python.is_empty() && Path::new(&python).exists(),
        "AIOSMTPD_PYTHON must name a python that imports aiosmtpd (got {python:?}); run the tests \
         with `./dev test`, or install it once: bash -c 'source scripts/services.sh; source \
         scripts/smtp.sh; ensure_aiosmtpd' and export \
         AIOSMTPD_PYTHON=~/.cache/statuspage/aiosmtpd-venv/bin/python"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/smtp-sink.py");
    let folder = std::env::temp_dir().join(format!("smtp-sink-{}", Uuid::new_v4()));
    let port = free_port();
    let mut child = Command::new(&python)
        .arg(&script)
        .arg("--port")
        .arg(port.to_string())
        .arg(&folder)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {python} {}: {e}", script.display()));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim(),
        format!("ready {port}"),
        "smtp-sink.py did not start"
    );
    Sink {
        child,
        port,
        folder,
    }
}

/// Every message the sink accepted so far: (envelope sender, envelope recipients, raw message).
/// Files are written whole (`smtp-sink.py` renames them into place), so none is half there.
pub fn received(sink: &Sink) -> Vec<(String, Vec<String>, String)> {
    let Ok(entries) = std::fs::read_dir(&sink.folder) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            if path.extension()? != "json" {
                return None;
            }
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
            Some((
                v["mail_from"].as_str()?.to_owned(),
                v["rcpt_tos"]
                    .as_array()?
                    .iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect(),
                v["data"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// The value of header `name` (unfolded), from the raw message.
pub fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next().unwrap();
    let mut value: Option<String> = None;
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            // Unfolding drops the line break and keeps the whitespace.
            if let Some(v) = value.as_mut() {
                v.push_str(line);
            }
            continue;
        }
        if value.is_some() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            if n.eq_ignore_ascii_case(name) {
                value = Some(v.trim().to_owned());
            }
        }
    }
    value
}

pub fn body(raw: &str) -> &str {
    raw.split_once("\r\n\r\n").unwrap().1
}
