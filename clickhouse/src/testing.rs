//! A private ClickHouse for tests that must stop, restart or configure their own: our chdb
//! launcher (`scripts/clickhouse-server.py`) on a free port, from the chdb venv (`CHDB_PYTHON`,
//! default `$STATUSPAGE_CACHE/chdb-venv/bin/python`; `./dev test` installs it). Feature
//! `testing`; used by this crate's tests and the web crate's.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

pub fn chdb_python() -> PathBuf {
    if let Ok(p) = std::env::var("CHDB_PYTHON") {
        return PathBuf::from(p);
    }
    let cache = std::env::var("STATUSPAGE_CACHE").unwrap_or_else(|_| {
        format!(
            "{}/.cache/statuspage",
            std::env::var("HOME").expect("HOME is set")
        )
    });
    PathBuf::from(cache).join("chdb-venv/bin/python")
}

pub fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    if s.write_all(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.contains("Ok.")
}

/// A private ClickHouse on its own port and data folder; stopped (SIGTERM to this child only)
/// on drop.
pub struct PrivateClickHouse {
    child: Option<Child>,
    pub port: u16,
    data_dir: PathBuf,
    users_xml: Option<PathBuf>,
}

impl PrivateClickHouse {
    pub fn start(port: u16, data_dir: &Path) -> Self {
        Self::start_with(port, data_dir, None)
    }

    /// With `users_xml`: requests are signed in against those users and their grants.
    pub fn start_with(port: u16, data_dir: &Path, users_xml: Option<&Path>) -> Self {
        let python = chdb_python();
        assert!(
            python.exists(),
            "chdb venv python not found at {} (set CHDB_PYTHON, or run `./dev test`, which installs it)",
            python.display()
        );
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/clickhouse-server.py");
        let log = std::fs::File::create(data_dir.with_extension("log")).unwrap();
        let child = Command::new(&python)
            .arg(&script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            .args(
                users_xml
                    .map(|p| [std::ffi::OsStr::new("--users-xml"), p.as_os_str()])
                    .into_iter()
                    .flatten(),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the chdb ClickHouse launcher");
        let started = Instant::now();
        while !ping(port) {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "private ClickHouse did not answer on port {port} within 60 s (log: {})",
                data_dir.with_extension("log").display()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Self {
            child: Some(child),
            port,
            data_dir: data_dir.to_owned(),
            users_xml: users_xml.map(Path::to_owned),
        }
    }

    /// After [`PrivateClickHouse::stop`]: the same port, data and users.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "stop the server first");
        let started = Self::start_with(self.port, &self.data_dir, self.users_xml.as_deref());
        *self = started;
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let started = Instant::now();
            loop {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if started.elapsed() > std::time::Duration::from_secs(30) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            assert!(!ping(self.port), "the private ClickHouse is stopped");
        }
    }
}

impl Drop for PrivateClickHouse {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
