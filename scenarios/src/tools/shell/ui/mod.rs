//! `backup-sim shell --ui 127.0.0.1:PORT`: a read-only Jobs page for the shell's cluster, as
//! CockroachDB's Admin UI has one — every job with its status and a bar of its fraction
//! completed, refreshed while jobs run, and a page per job with its spans, files, checkpoint and,
//! for a finished backup, what SHOW BACKUP prints for it ([`view`]).
//!
//! Routes (GET and HEAD only; any other method is answered 405 before any route is looked at):
//! `/` and `/jobs` (the list), `/jobs/{id}` (one job), `/api/jobs` and `/api/jobs/{id}` (the same
//! as JSON, which the list polls every second while a job runs and every 10 s otherwise, and a
//! running job's page every second). Pages are self-contained: inline CSS and script,
//! and a Content-Security-Policy that lets them fetch nothing but this server.
//!
//! Who can see it: it has no login, and the jobs' descriptions name the shell's backup
//! locations, so it binds only where it is told and refuses an address that is not loopback
//! unless `--ui-allow-remote` is given; on loopback it also refuses requests whose `Host` is not
//! a loopback name or address (a web page elsewhere cannot read it through DNS rebinding).
//!
//! What it must never do: run a statement or write anything (it reads job records and the jobs'
//! storage, nothing else), show a secret (see [`view`]), or make the shell wait (it runs on the
//! shell's tokio runtime, beside the statements).

pub mod view;

use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use backup::env::Env;
use backup::jobs::JobId;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// Why the Jobs page could not be served.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// `--ui`'s value is not an address to listen on.
    #[error("--ui {given:?} is not an address to listen on: {reason}; give IP:PORT, e.g. --ui 127.0.0.1:8080")]
    BadAddress {
        /// As typed, so the message quotes what the user wrote rather than our reading of it.
        given: String,
        /// What to change, in words (no port, not an IP address, …).
        reason: String,
    },
    /// A non-loopback address without `--ui-allow-remote`.
    #[error(
        "--ui {addr}: {ip} is not a loopback address, and the Jobs page has no login: anyone who can reach it would see every job and the shell's backup locations. Use 127.0.0.1 (or [::1]), or add --ui-allow-remote to serve it there anyway",
        ip = addr.ip()
    )]
    NotLoopback {
        /// The address refused.
        addr: SocketAddr,
    },
    /// Something else listens there.
    #[error("cannot serve the Jobs page on {addr}: the address is already in use (another program listens on port {port}); choose another port, or port 0 for any free one", port = addr.port())]
    InUse {
        /// Named with its port, which is what the user has to change.
        addr: SocketAddr,
    },
    /// The address could not be bound for another reason (not this machine's, no permission).
    #[error("cannot serve the Jobs page on {addr}: {source}")]
    Bind {
        /// Named in the message: the shell may have been given it by a script.
        addr: SocketAddr,
        /// The system's reason (no permission, not this machine's address), kept as it is.
        source: std::io::Error,
    },
}

/// Parses `--ui`'s value: `IP:PORT` (`127.0.0.1:8080`, `[::1]:8080`) or `localhost:PORT`.
pub fn parse_address(text: &str) -> Result<SocketAddr, UiError> {
    let given = text.trim();
    let bad = |reason: &str| UiError::BadAddress { given: text.to_string(), reason: reason.to_string() };
    if given.is_empty() {
        return Err(bad("it is empty"));
    }
    if let Ok(addr) = given.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if given.parse::<IpAddr>().is_ok() {
        return Err(bad("it has no port"));
    }
    let Some((host, port)) = given.rsplit_once(':') else { return Err(bad("it has no port")) };
    let port: u16 = port.parse().map_err(|_| bad(&format!("{port:?} is not a port (0 to 65535)")))?;
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    Err(bad(&format!("{host:?} is not an IP address (host names other than localhost are not looked up)")))
}

/// Checks that `addr` may be served: loopback, or anything with `allow_remote`.
pub fn check_reach(addr: SocketAddr, allow_remote: bool) -> Result<(), UiError> {
    if addr.ip().is_loopback() || allow_remote {
        Ok(())
    } else {
        Err(UiError::NotLoopback { addr })
    }
}

/// Binds `addr` (blocking, so that an address in use is reported before the shell goes on).
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, UiError> {
    let listener = std::net::TcpListener::bind(addr).map_err(|source| match source.kind() {
        std::io::ErrorKind::AddrInUse => UiError::InUse { addr },
        _ => UiError::Bind { addr, source },
    })?;
    listener.set_nonblocking(true).map_err(|source| UiError::Bind { addr, source })?;
    Ok(listener)
}

/// What every request handler shares, behind one `Arc`: axum clones the state per request.
struct Ui {
    /// The shell's node, with storage calls that are not reported as what a statement waits for.
    env: Env,
    /// Whether requests for any `Host` are answered (`--ui-allow-remote`).
    allow_remote: bool,
    /// Finished backups' manifests, read once.
    manifests: view::ManifestCache,
}

/// Serves the Jobs page for `env`'s cluster on `listener`, on the runtime `rt`, until the
/// runtime shuts down; returns the address it listens on.
pub fn serve(rt: &tokio::runtime::Handle, env: Env, listener: std::net::TcpListener, allow_remote: bool) -> Result<SocketAddr, UiError> {
    let addr = listener.local_addr().map_err(|source| UiError::Bind { addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0), source })?;
    let listener = {
        let _entered = rt.enter();
        tokio::net::TcpListener::from_std(listener).map_err(|source| UiError::Bind { addr, source })?
    };
    let app = router(Arc::new(Ui { env, allow_remote, manifests: view::ManifestCache::default() }));
    rt.spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("warning: the Jobs page stopped: {e}");
        }
    });
    Ok(addr)
}

fn router(ui: Arc<Ui>) -> Router {
    Router::new()
        .route("/", get(jobs_page))
        .route("/jobs", get(jobs_page))
        .route("/jobs/{id}", get(job_page))
        .route("/api/jobs", get(api_jobs))
        .route("/api/jobs/{id}", get(api_job))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(ui.clone(), guard))
        .with_state(ui)
}

/// Read-only and local: any method but GET and HEAD is 405, a foreign `Host` 403 (unless remote
/// access was allowed); every answer is marked not to be cached, sniffed or framed, and may
/// load nothing from elsewhere.
async fn guard(State(ui): State<Arc<Ui>>, req: Request, next: Next) -> Response {
    let mut resp = if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = message(StatusCode::METHOD_NOT_ALLOWED, "Read-only", "This page is read-only: it answers GET (and HEAD) only.");
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        r
    } else if !ui.allow_remote && !req.headers().get(header::HOST).is_none_or(|h| local_host(h.as_bytes())) {
        message(StatusCode::FORBIDDEN, "Not here", "This page answers only requests addressed to a loopback name or address.")
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    );
    resp
}

/// True when a `Host` header names a loopback address or `localhost` (with or without a port).
fn local_host(host: &[u8]) -> bool {
    let Ok(host) = std::str::from_utf8(host) else { return false };
    let name = if let Some(rest) = host.strip_prefix('[') { rest.split(']').next().unwrap_or("") } else { host.rsplit_once(':').map_or(host, |(h, _)| h) };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage<'a> {
    cluster_id: &'a str,
    jobs: &'a [view::JobRow],
    /// Some job can change by itself: the page polls every second (else every 10 s).
    any_active: bool,
}

#[derive(Template)]
#[template(path = "jobs_detail.html")]
struct DetailPage<'a> {
    cluster_id: &'a str,
    d: &'a view::JobDetail,
}

#[derive(Template)]
#[template(path = "jobs_message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
}

/// A small page saying `text`, with `status`: refusals (405, 403, 404) are pages too, so a
/// user who followed a stale link reads why rather than a bare status.
fn message(status: StatusCode, title: &str, text: &str) -> Response {
    (status, render(&MessagePage { title, message: text })).into_response()
}

/// A template as an HTML answer (a template that fails to render is a 500 saying so).
fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot render the page: {e}")).into_response(),
    }
}

/// The cluster could not be read: a 503 saying why.
fn unavailable(e: backup::error::BackupError) -> Response {
    message(StatusCode::SERVICE_UNAVAILABLE, "Cannot read the jobs", &format!("The shell's cluster did not answer: {e}"))
}

fn job_id(text: &str) -> Option<JobId> {
    text.parse().ok()
}

async fn jobs_page(State(ui): State<Arc<Ui>>) -> Response {
    match view::list(&ui.env).await {
        Ok(jobs) => render(&JobsPage { cluster_id: &ui.env.cluster_id, any_active: jobs.iter().any(|j| j.active), jobs: &jobs }),
        Err(e) => unavailable(e),
    }
}

async fn job_page(State(ui): State<Arc<Ui>>, Path(id): Path<String>) -> Response {
    let no_job = || message(StatusCode::NOT_FOUND, "No such job", &format!("There is no job {id} in this shell's cluster."));
    let Some(n) = job_id(&id) else { return no_job() };
    match view::detail(&ui.env, &ui.manifests, n).await {
        Ok(Some(d)) => render(&DetailPage { cluster_id: &ui.env.cluster_id, d: &d }),
        Ok(None) => no_job(),
        Err(e) => unavailable(e),
    }
}

/// The list as JSON (`{"cluster_id": …, "jobs": [JobRow…]}`), newest first.
async fn api_jobs(State(ui): State<Arc<Ui>>) -> Response {
    match view::list(&ui.env).await {
        Ok(jobs) => json(StatusCode::OK, &serde_json::json!({ "cluster_id": ui.env.cluster_id, "jobs": jobs })),
        Err(e) => api_error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

/// One job's details as JSON ([`view::JobDetail`]).
async fn api_job(State(ui): State<Arc<Ui>>, Path(id): Path<String>) -> Response {
    let Some(n) = job_id(&id) else { return api_error(StatusCode::NOT_FOUND, &format!("no job {id}")) };
    match view::detail(&ui.env, &ui.manifests, n).await {
        Ok(Some(d)) => json(StatusCode::OK, &d),
        Ok(None) => api_error(StatusCode::NOT_FOUND, &format!("no job {id}")),
        Err(e) => api_error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

fn api_error(status: StatusCode, error: &str) -> Response {
    json(status, &serde_json::json!({ "error": error }))
}

/// `value` as a JSON answer with `<`, `>` and `&` written as `\u003c`, `\u003e`, `\u0026`: the
/// descriptions and errors are users' text (a table may be called `<script>…`), and an answer
/// that a browser or a proxy ever took for HTML must hold no markup. Those characters occur in
/// JSON only inside strings, where the escapes mean the same.
fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(text) => {
            let text = text.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026");
            (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], text).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot write the answer: {e}")).into_response(),
    }
}

async fn not_found(req: Request) -> Response {
    message(StatusCode::NOT_FOUND, "Not found", &format!("Nothing at {}: the jobs are at /jobs.", req.uri().path()))
}

#[cfg(test)]
mod tests;
