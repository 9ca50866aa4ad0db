//! The dashboard's web server: a small HTTP/1.1 server on std's sockets,
//! a thread per open connection (at most [`MAX_CONNECTIONS`]; threads are
//! kept a moment for the next connection, then end).
//! It serves its own page and JSON, never a file: no part of a request
//! reaches the file system. Bodies are capped, slow requests time out, and
//! a page that stops reading loses its event stream instead of holding
//! anything up.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Map, Value};
use strata_core::{Error, Result};

use super::board::Board;
use super::workers::Workers;

/// Connections served at once; more are answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 64;
/// The largest request body accepted (a Keras `RemoteMonitor` post is far smaller).
pub const MAX_BODY: usize = 64 * 1024;
const MAX_HEAD: usize = 16 * 1024;
/// How long a request may take to arrive, and a write to a page may block.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How often an idle event stream sends a comment (to notice closed pages).
const HEARTBEAT: Duration = Duration::from_secs(1);

const PAGE: &str = include_str!("page.html");

/// A running dashboard server; dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    shutdown: Arc<AtomicBool>,
    active: Arc<AtomicUsize>,
    accepted: Arc<AtomicU64>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `board` on `addr` (`127.0.0.1:6070`; port 0 picks a free one).
    pub fn start(addr: &str, board: Arc<Board>) -> Result<Server> {
        let resolved = addr.to_socket_addrs().map_err(|e| Error::argument("--dashboard", format!("'{addr}' is not an address (HOST:PORT): {e}")))?.next();
        let Some(resolved) = resolved else { return Err(Error::argument("--dashboard", format!("'{addr}' resolves to no address"))) };
        let listener = TcpListener::bind(resolved).map_err(|e| Error::argument("--dashboard", format!("cannot listen on {resolved}: {e}")))?;
        let addr = listener.local_addr().map_err(|e| Error::argument("--dashboard", e.to_string()))?;
        let shutdown = Arc::new(AtomicBool::new(false));
        let (active, accepted) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicU64::new(0)));
        let counts = Counts { active: active.clone(), accepted: accepted.clone() };
        let flag = shutdown.clone();
        let accept = std::thread::Builder::new()
            .name("strata-dashboard".into())
            .spawn(move || accept_loop(listener, board, flag, counts))
            .map_err(|e| Error::argument("--dashboard", format!("cannot start the server thread: {e}")))?;
        Ok(Server { addr, shutdown, active, accepted, accept: Some(accept) })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's address, `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Connections being served now.
    pub fn connections(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Connections accepted since the start (turned away ones included).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

/// The server's connection counts, shared with its threads.
struct Counts {
    active: Arc<AtomicUsize>,
    accepted: Arc<AtomicU64>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::Relaxed);
        // Wake the accept call.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, board: Arc<Board>, shutdown: Arc<AtomicBool>, counts: Counts) {
    super::yield_to_training();
    let (active, done) = (counts.active.clone(), shutdown.clone());
    let workers = Workers::new(MAX_CONNECTIONS, move |stream| {
        active.fetch_add(1, Ordering::Relaxed);
        let _ = serve(stream, &board, &done);
        active.fetch_sub(1, Ordering::Relaxed);
    });
    for stream in listener.incoming() {
        if shutdown.load(Ordering::Relaxed) {
            break;
        }
        let Ok(stream) = stream else { continue };
        counts.accepted.fetch_add(1, Ordering::Relaxed);
        if let Err(mut stream) = workers.dispatch(stream) {
            let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
            let _ = respond(&mut stream, 503, "text/plain", b"too many connections");
        }
    }
}

/// A parsed request: method, path (without the query), query, headers, body.
pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| percent_decode(v))
    }
}

/// Why a request could not be read: the status to answer with, if any.
enum Refused {
    Status(u16, &'static str),
    Gone,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::result::Result<Request, Refused> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let n = reader.by_ref().take((MAX_HEAD - head.len()) as u64 + 1).read_until(b'\n', &mut head).map_err(|_| Refused::Gone)?;
        if n == 0 {
            return Err(Refused::Gone);
        }
        if head.len() > MAX_HEAD {
            return Err(Refused::Status(431, "request head too large"));
        }
        if head[before..].iter().all(|b| *b == b'\r' || *b == b'\n') && before > 0 {
            break;
        }
    }
    let text = String::from_utf8(head).map_err(|_| Refused::Status(400, "request head is not UTF-8"))?;
    let mut lines = text.lines();
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let (Some(method), Some(target)) = (first.next(), first.next()) else { return Err(Refused::Status(400, "bad request line")) };
    let headers: Vec<(String, String)> = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut request = Request { method: method.to_string(), path: path.to_string(), query: query.to_string(), headers, body: Vec::new() };
    let length = match request.header("content-length") {
        Some(v) => v.parse::<usize>().map_err(|_| Refused::Status(400, "bad content-length"))?,
        None if request.header("transfer-encoding").is_some() => return Err(Refused::Status(411, "send a content-length")),
        None => 0,
    };
    if length > MAX_BODY {
        return Err(Refused::Status(413, "request body too large"));
    }
    request.body = vec![0; length];
    reader.read_exact(&mut request.body).map_err(|_| Refused::Gone)?;
    Ok(request)
}

fn serve(stream: TcpStream, board: &Board, shutdown: &AtomicBool) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let request = match read_request(&mut reader) {
        Ok(r) => r,
        Err(Refused::Status(code, why)) => return respond(&mut writer, code, "text/plain", why.as_bytes()),
        Err(Refused::Gone) => return Ok(()),
    };
    let result = route(&request, board, &mut writer, shutdown);
    let _ = writer.shutdown(Shutdown::Both);
    result
}

fn route(request: &Request, board: &Board, out: &mut TcpStream, shutdown: &AtomicBool) -> std::io::Result<()> {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/") | ("GET", "/index.html") => respond(out, 200, "text/html; charset=utf-8", PAGE.as_bytes()),
        ("GET", "/api/runs") => respond(out, 200, "application/json", board.runs_text().as_bytes()),
        ("GET", "/api/events") => events(request, board, out, shutdown),
        ("GET", "/api/predictions.png") => match request.param("run").and_then(|run| board.prediction_png(&run)) {
            Some(png) => respond(out, 200, "image/png", &png),
            None => respond(out, 404, "text/plain", b"no predictions for this run"),
        },
        ("POST", "/api/stop") => {
            // A custom header: a page on another site cannot send it without the server's consent (CORS).
            if request.header("x-strata") != Some("stop") {
                return respond(out, 403, "text/plain", b"send the header X-Strata: stop");
            }
            let asked = board.request_stop(request.param("run").as_deref());
            respond(out, 200, "application/json", json!({ "stopping": asked }).to_string().as_bytes())
        }
        ("POST", "/publish/epoch/end/") | ("POST", "/publish/epoch/end") => match remote_monitor_logs(request) {
            Some(logs) => {
                let name = request.param("run").unwrap_or_else(|| "keras".to_string());
                if !board.run_names().contains(&name) {
                    board.start_run(&name, false);
                }
                board.epoch(&name, logs);
                respond(out, 200, "application/json", b"{}")
            }
            None => respond(out, 400, "text/plain", b"expected Keras RemoteMonitor logs: a form field data={...} or a JSON object"),
        },
        (_, "/") | (_, "/api/runs") | (_, "/api/events") | (_, "/api/stop") | (_, "/api/predictions.png") => respond(out, 405, "text/plain", b"method not allowed"),
        _ => respond(out, 404, "text/plain", b"not found"),
    }
}

/// The logs of a Keras `RemoteMonitor` post: the form field `data` (its
/// default) or a JSON body (`send_as_json=True`); `epoch` and numbers only.
pub(crate) fn remote_monitor_logs(request: &Request) -> Option<Map<String, Value>> {
    let body = std::str::from_utf8(&request.body).ok()?;
    let text = if request.header("content-type").is_some_and(|t| t.starts_with("application/json")) {
        body.to_string()
    } else {
        body.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == "data").map(|(_, v)| percent_decode(v))?
    };
    let Value::Object(logs) = serde_json::from_str::<Value>(&text).ok()? else { return None };
    logs.get("epoch")?.as_u64()?;
    Some(logs.into_iter().filter(|(_, v)| v.is_number() || v.is_null()).collect())
}

/// Decodes `%XX` escapes and `+` (form encoding).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn respond(out: &mut TcpStream, code: u16, content_type: &str, body: &[u8]) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let head = format!("HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n", body.len());
    out.write_all(head.as_bytes())?;
    out.write_all(body)?;
    out.flush()
}

/// Server-sent events: every board event after `?since=N` (or the
/// `Last-Event-ID`), as they come, with a heartbeat comment when idle. A page
/// that stops reading blocks only this thread, and only until the write
/// times out; then the stream is dropped.
fn events(request: &Request, board: &Board, out: &mut TcpStream, shutdown: &AtomicBool) -> std::io::Result<()> {
    let since = request.header("last-event-id").map(str::to_string).or_else(|| request.param("since")).and_then(|s| s.parse::<u64>().ok());
    let mut cursor = since.unwrap_or_else(|| board.last_seq());
    out.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nConnection: close\r\n\r\nretry: 1000\n\n")?;
    if cursor > board.last_seq() {
        // A page from before this server started (its last event is from another one): reload.
        out.write_all(b"event: reset\ndata: {}\n\n")?;
        cursor = board.last_seq();
    }
    out.flush()?;
    while !shutdown.load(Ordering::Relaxed) {
        let batch = match board.events_after(cursor, HEARTBEAT) {
            Ok(events) => events,
            Err(()) => {
                out.write_all(b"event: reset\ndata: {}\n\n")?;
                out.flush()?;
                cursor = board.last_seq();
                continue;
            }
        };
        if batch.is_empty() {
            out.write_all(b": idle\n\n")?;
        }
        let mut text = String::new();
        for (seq, data) in &batch {
            text.push_str(&format!("id: {seq}\ndata: {data}\n\n"));
            cursor = *seq;
        }
        out.write_all(text.as_bytes())?;
        out.flush()?;
    }
    Ok(())
}
