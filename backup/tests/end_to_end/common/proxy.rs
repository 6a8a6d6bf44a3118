//! A fault-injecting HTTP/1.1 proxy on 127.0.0.1, in front of a real test server, for the
//! faults a real server gives: it can answer a request with `503 Service Unavailable`
//! instead of forwarding it, and it can stop (close its listening socket, so connections are
//! refused exactly as when the server process is gone) and start again on the same port.
//!
//! Each request is forwarded on a fresh upstream connection and answered with `Connection:
//! close`, so that the client never reuses a connection and every request is seen whole.
//! Bounded: it serves only while the test holds it, only on the loopback address.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the proxy does now.
#[derive(Default)]
pub struct ProxyState {
    /// Answer every `n`th request (counting all requests) with 503; 0 = never.
    pub fail_every: AtomicUsize,
    /// Count and fail only PUT requests.
    pub fail_only_puts: AtomicBool,
    /// Forward this many PUT requests, then stop (refuse connections) at the next; 0 = never.
    pub stop_after_puts: AtomicUsize,
    /// Requests seen.
    pub requests: AtomicUsize,
    /// PUT requests forwarded to the server.
    pub puts: AtomicUsize,
    /// PUT requests seen (forwarded or failed).
    pub put_attempts: AtomicUsize,
    /// 503s injected.
    pub injected: AtomicUsize,
    /// Set when the proxy stopped itself (stop_after_puts).
    pub stopped: AtomicBool,
}

pub struct Proxy {
    pub port: u16,
    upstream: String,
    pub state: Arc<ProxyState>,
    rt: tokio::runtime::Handle,
    task: Mutex<Option<JoinHandle<()>>>,
    /// Wakes the current accept loop to end it (a new one per start, so no stale wake-up).
    shutdown: Mutex<Arc<tokio::sync::Notify>>,
}

impl Proxy {
    /// A proxy on a free loopback port forwarding to `upstream` (`host:port`).
    pub fn start(rt: &tokio::runtime::Handle, upstream: &str) -> Arc<Proxy> {
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let p =
            Arc::new(Proxy { port, upstream: upstream.to_string(), state: Arc::default(), rt: rt.clone(), task: Mutex::new(None), shutdown: Mutex::default() });
        p.serve(listener);
        p
    }

    /// `host:port` of the proxy.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn serve(self: &Arc<Self>, listener: TcpListener) {
        let me = self.clone();
        let shutdown = Arc::new(tokio::sync::Notify::new());
        *self.shutdown.lock().unwrap() = shutdown.clone();
        let task = self.rt.spawn(async move {
            let mut conns = Vec::new();
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = shutdown.notified() => break,
                };
                let Ok((client, _)) = accepted else { break };
                if me.state.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let me2 = me.clone();
                conns.push(tokio::spawn(async move {
                    let _ = me2.handle(client).await;
                }));
                conns.retain(|c: &JoinHandle<()>| !c.is_finished());
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    /// Closes the listening socket (new connections are refused) as a stopped server would.
    pub fn stop(&self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        self.shutdown.lock().unwrap().notify_one();
        if let Some(t) = self.task.lock().unwrap().take() {
            t.abort();
            // Wait for the abort so that the socket is closed when this returns.
            let _ = self.rt.block_on(t);
        }
    }

    /// Stops from inside the runtime (no block_on).
    fn stop_async(&self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        // The accept loop ends (dropping the listener) on this notification, or at its next
        // connection, which it drops unanswered.
        self.shutdown.lock().unwrap().notify_one();
        if let Some(t) = self.task.lock().unwrap().take() {
            t.abort();
        }
    }

    /// Listens again on the same port.
    pub fn restart(self: &Arc<Self>) {
        let listener = self.rt.block_on(TcpListener::bind(("127.0.0.1", self.port))).expect("rebind proxy");
        self.state.stopped.store(false, Ordering::SeqCst);
        self.serve(listener);
    }

    async fn handle(self: Arc<Self>, mut client: TcpStream) -> std::io::Result<()> {
        if self.state.stopped.load(Ordering::SeqCst) {
            return Ok(());
        }
        // The request head, then its body by Content-Length.
        let mut buf = Vec::new();
        let head_end = loop {
            let mut chunk = [0u8; 8192];
            let n = client.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let len = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = vec![0u8; 65536];
            let n = client.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let is_put = head.starts_with("PUT ");
        let put_no = if is_put { self.state.put_attempts.fetch_add(1, Ordering::SeqCst) + 1 } else { 0 };
        // Decided when the request arrives (an upstream may keep its side of a finished
        // exchange open for a while): PUTs past the limit find the server gone.
        let limit = self.state.stop_after_puts.load(Ordering::SeqCst);
        if is_put && limit > 0 && put_no > limit {
            self.stop_async();
            return Ok(());
        }
        let n = self.state.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let every = self.state.fail_every.load(Ordering::SeqCst);
        let counted = if self.state.fail_only_puts.load(Ordering::SeqCst) { put_no } else { n };
        if every > 0 && counted > 0 && counted % every == 0 {
            self.state.injected.fetch_add(1, Ordering::SeqCst);
            let body = "injected by the test proxy";
            let resp = format!("HTTP/1.1 503 Service Unavailable\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            client.write_all(resp.as_bytes()).await?;
            return client.shutdown().await;
        }
        if is_put {
            self.state.puts.fetch_add(1, Ordering::SeqCst);
        }
        // Forward with `Connection: close` so that the upstream ends the response by closing.
        let mut upstream = TcpStream::connect(&self.upstream).await?;
        let head_out = rewrite_connection(&head);
        upstream.write_all(head_out.as_bytes()).await?;
        upstream.write_all(&buf[head_end..]).await?;
        // Relay the response head with `Connection: close`, then the rest until EOF.
        let mut resp = Vec::new();
        let resp_head_end = loop {
            let mut chunk = [0u8; 8192];
            let n = upstream.read(&mut chunk).await?;
            if n == 0 {
                client.write_all(&resp).await?;
                return client.shutdown().await;
            }
            resp.extend_from_slice(&chunk[..n]);
            if let Some(i) = find(&resp, b"\r\n\r\n") {
                break i + 4;
            }
        };
        let resp_head = String::from_utf8_lossy(&resp[..resp_head_end]).to_string();
        client.write_all(rewrite_connection(&resp_head).as_bytes()).await?;
        client.write_all(&resp[resp_head_end..]).await?;
        tokio::io::copy(&mut upstream, &mut client).await?;
        client.shutdown().await
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// The head with any Connection / Keep-Alive header replaced by `Connection: close`.
fn rewrite_connection(head: &str) -> String {
    let mut out = String::new();
    for (i, line) in head.split("\r\n").enumerate() {
        if line.is_empty() {
            continue;
        }
        let lower = line.to_ascii_lowercase();
        if i > 0 && (lower.starts_with("connection:") || lower.starts_with("keep-alive:")) {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}
