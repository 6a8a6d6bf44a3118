//! A tiny in-memory HTTP object server on 127.0.0.1 for the shell's tests: PUT stores, GET and
//! HEAD read, DELETE removes, PROPFIND (listing) answers 404. It can be told to answer data-file
//! uploads with 503 Service Unavailable, which keeps a BACKUP job retrying (a slow backup to
//! interrupt) after its first data file and checkpoint landed, and data-file reads likewise (a
//! slow RESTORE); or never answer such an upload (a backup that cannot even see a cancel).
//!
//! It also answers enough of S3 for an `s3://BUCKET/PATH?...&AWS_ENDPOINT=http://127.0.0.1:PORT`
//! URL (path-style, signatures not checked): every answer carries an ETag (S3 clients require
//! one on PUT), and `GET /BUCKET?list-type=2&prefix=P` lists the objects under it as
//! ListObjectsV2 XML, in one page. So a test can run a real job whose URL carries credentials.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct State {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
    /// Answer 503 to every data-file PUT after the first one.
    fail_data_after_first: AtomicBool,
    /// Answer 503 to every data-file GET.
    fail_data_reads: AtomicBool,
    /// Never answer a data-file PUT after the first one.
    hang_data_after_first: AtomicBool,
    stopped: AtomicBool,
}

/// The server; it stops when dropped.
pub struct Server {
    pub port: u16,
    state: Arc<State>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || serve(conn, &st));
            }
        });
        Server { port, state }
    }

    /// From now on, data-file uploads after the first fail with 503 (or all succeed again).
    pub fn fail_data_uploads_after_the_first(&self, yes: bool) {
        self.state.fail_data_after_first.store(yes, Ordering::SeqCst);
    }

    /// From now on, data-file uploads after the first get no answer at all.
    pub fn hang_data_uploads_after_the_first(&self) {
        self.state.hang_data_after_first.store(true, Ordering::SeqCst);
    }

    /// From now on, data-file reads fail with 503 (or succeed again).
    pub fn fail_data_reads(&self, yes: bool) {
        self.state.fail_data_reads.store(yes, Ordering::SeqCst);
    }

    /// The paths stored now.
    pub fn paths(&self) -> Vec<String> {
        self.state.objects.lock().unwrap().keys().cloned().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(conn: TcpStream, st: &State) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut w = conn.try_clone().expect("clone stream");
    let mut r = BufReader::new(conn);
    loop {
        let mut request = String::new();
        if r.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request.split_whitespace();
        let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let (path, query) = target.split_once('?').map_or((target.clone(), String::new()), |(p, q)| (p.to_string(), q.to_string()));
        let param = |name: &str| query.split('&').find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('='))).map(percent_decode);
        let (status, reply): (&str, Vec<u8>) = match method.as_str() {
            "GET" if param("list-type").as_deref() == Some("2") => ("200 OK", s3_list(st, &path, &param("prefix").unwrap_or_default()).into_bytes()),
            "PUT" => {
                let mut objects = st.objects.lock().unwrap();
                let data_files = objects.keys().filter(|k| k.contains("/data/")).count();
                if path.contains("/data/") && data_files >= 1 && st.hang_data_after_first.load(Ordering::SeqCst) {
                    drop(objects);
                    // Hold the connection without a word until the server stops.
                    while !st.stopped.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    return;
                }
                if path.contains("/data/") && data_files >= 1 && st.fail_data_after_first.load(Ordering::SeqCst) {
                    ("503 Service Unavailable", Vec::new())
                } else {
                    objects.insert(path, body);
                    ("201 Created", Vec::new())
                }
            }
            "GET" if path.contains("/data/") && st.fail_data_reads.load(Ordering::SeqCst) => ("503 Service Unavailable", Vec::new()),
            "GET" | "HEAD" => match st.objects.lock().unwrap().get(&path) {
                Some(b) => ("200 OK", b.clone()),
                None => ("404 Not Found", Vec::new()),
            },
            "DELETE" => {
                st.objects.lock().unwrap().remove(&path);
                ("204 No Content", Vec::new())
            }
            _ => ("404 Not Found", Vec::new()),
        };
        let head = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\netag: \"{:x}\"\r\n\r\n", reply.len(), etag(&reply));
        if w.write_all(head.as_bytes()).is_err() {
            return;
        }
        if method != "HEAD" && w.write_all(&reply).is_err() {
            return;
        }
        let _ = w.flush();
    }
}

/// An entity tag for `bytes` (any value that changes with the content will do here).
fn etag(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// `%XX` escapes (and `+`) in a query value decoded.
fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() && u8::from_str_radix(&v[i + 1..i + 3], 16).is_ok() => {
                out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                i += 3;
                continue;
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// S3's ListObjectsV2 answer for bucket `/BUCKET` and `prefix`: every object under it, keys
/// relative to the bucket, in one page.
fn s3_list(st: &State, bucket: &str, prefix: &str) -> String {
    let under = format!("{}/{prefix}", bucket.trim_end_matches('/'));
    let mut xml = String::from(r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#);
    for (key, data) in st.objects.lock().unwrap().iter().filter(|(k, _)| k.starts_with(&under)) {
        let key = &key[bucket.trim_end_matches('/').len() + 1..];
        xml.push_str(&format!(
            "<Contents><Key>{key}</Key><Size>{}</Size><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>\"{:x}\"</ETag></Contents>",
            data.len(),
            etag(data)
        ));
    }
    xml.push_str("<IsTruncated>false</IsTruncated></ListBucketResult>");
    xml
}
