//! What several test binaries and the library's own unit tests need, with nothing but std: a
//! temporary directory and a plain HTTP/1.0 client. tests/shell_support/ re-exports it; the
//! Jobs page's unit tests (src/tools/shell/ui/tests.rs) include this file by path, as they
//! cannot reach a tests/ module otherwise.

// Each includer uses part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

/// A fresh directory under the system's temporary directory, removed when dropped. The name
/// carries the process id and the time, so parallel tests and leftover runs never share one.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let d = std::env::temp_dir().join(format!("backup-sim-test-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An HTTP answer read by [`http`] or [`http_as`].
pub struct HttpAnswer {
    /// The status code (0 when the answer did not parse).
    pub status: u16,
    /// Header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl HttpAnswer {
    /// The first header called `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Sends `method path` to `addr`, addressed to `addr` itself, with `body`; see [`http_as`].
pub fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> HttpAnswer {
    http_as(addr, &addr.to_string(), method, path, body)
}

/// Sends `method path` to `addr` with `host` as its Host header (what a DNS-rebinding page
/// would send) and `body` as a form, over HTTP/1.0 so that the answer comes unchunked and the
/// connection closes at its end, and reads the whole answer. Checks a server's answers beside
/// what a browser shows, and sends what a browser's page could not (another method, another
/// Host).
pub fn http_as(addr: SocketAddr, host: &str, method: &str, path: &str, body: &str) -> HttpAnswer {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}", body.len())
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
    HttpAnswer { status, headers, body: body.to_string() }
}
