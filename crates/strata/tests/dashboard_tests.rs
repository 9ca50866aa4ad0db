//! The dashboard's server without a browser: its routes, Keras's
//! RemoteMonitor posts, the stop button's request, bad and hostile requests,
//! pages that stop reading, and run logs read from a folder.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use strata::activations::Activation;
use strata::dashboard::{logdir, Board, Dashboard, Server, MAX_BODY, MAX_CONNECTIONS};
use strata::layers::{Dense, LayerOptions};
use strata::model::{Callback, FitOptions, Logs, Sequential};
use strata::{Rng, Tensor};

/// Sends `request` as is and returns the status code and body.
fn http(addr: SocketAddr, request: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut response = Vec::new();
    let _ = s.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = response.windows(4).position(|w| w == b"\r\n\r\n").map(|i| response[i + 4..].to_vec()).unwrap_or_default();
    (code, body)
}

fn get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    http(addr, format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
}

fn post(addr: SocketAddr, path: &str, headers: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut request = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n{headers}\r\n", body.len()).into_bytes();
    request.extend_from_slice(body);
    http(addr, &request)
}

fn runs(addr: SocketAddr) -> Value {
    let (code, body) = get(addr, "/api/runs");
    assert_eq!(code, 200);
    serde_json::from_slice(&body).unwrap()
}

fn data(n: usize) -> (Tensor, Tensor) {
    let mut rng = Rng::new(3);
    let x: Vec<f32> = (0..n * 4).map(|_| rng.uniform()).collect();
    let y: Vec<f32> = x.chunks(4).map(|r| r[0] + r[1] - r[2]).collect();
    (Tensor::new(x, &[n, 4]).unwrap(), Tensor::new(y, &[n, 1]).unwrap())
}

fn model() -> Sequential {
    let mut m = Sequential::with_seed(1);
    m.add(Dense::new(8).activation(Activation::Relu).input_shape([4])).unwrap();
    m.add(Dense::new(1)).unwrap();
    m.compile("adam", "mse", &[]).unwrap();
    m
}

#[test]
fn a_training_run_shows_up_with_keras_log_names() {
    let dashboard = Dashboard::serve("127.0.0.1:0").unwrap().run_name("mlp");
    let url = dashboard.url().unwrap();
    let board = dashboard.board();
    let server = Server::start("127.0.0.1:0", board.clone()).unwrap();
    let (x, y) = data(256);
    let mut m = model();
    m.fit(&x, &y, FitOptions { epochs: 3, batch_size: 32, validation_split: 0.25, verbose: 0, callbacks: vec![Box::new(dashboard)], ..Default::default() }).unwrap();
    assert!(url.starts_with("http://127.0.0.1:"));
    let v = runs(server.addr());
    let run = &v["runs"][0];
    assert_eq!(run["name"], "mlp");
    assert_eq!(run["status"], "finished");
    let epochs = run["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 3);
    assert_eq!(epochs[2]["epoch"], 2);
    for key in ["loss", "val_loss"] {
        let value = epochs[2][key].as_f64().unwrap();
        assert!((value - m.history().get(key).unwrap()[2]).abs() < 1e-9, "{key} as in the history");
    }
    let batch = &run["batches"][0];
    assert!(batch["loss"].as_f64().is_some() && batch["step"].as_u64() == Some(1), "batch logs are kept: {batch}");
    let progress = &run["progress"];
    assert_eq!((progress["epoch"].as_u64(), progress["epochs"].as_u64(), progress["steps"].as_u64()), (Some(2), Some(3), Some(6)));
    assert!(progress["samples_per_second"].as_f64().unwrap() > 0.0 && progress["learning_rate"].as_f64().unwrap() > 0.0);
    let (code, page) = get(server.addr(), "/");
    assert_eq!(code, 200);
    assert!(String::from_utf8_lossy(&page).contains("EventSource"));
}

#[test]
fn keras_remote_monitor_posts_become_a_run() {
    let board = Board::new();
    let server = Server::start("127.0.0.1:0", board.clone()).unwrap();
    let addr = server.addr();
    // What keras.callbacks.RemoteMonitor sends by default: a form field `data`.
    let form = b"data=%7B%22epoch%22%3A+0%2C+%22loss%22%3A+0.75%2C+%22accuracy%22%3A+0.5%7D";
    assert_eq!(post(addr, "/publish/epoch/end/", "Content-Type: application/x-www-form-urlencoded\r\n", form).0, 200);
    // And with send_as_json=True.
    assert_eq!(post(addr, "/publish/epoch/end/", "Content-Type: application/json\r\n", br#"{"epoch": 1, "loss": 0.5, "accuracy": 0.7}"#).0, 200);
    assert_eq!(post(addr, "/publish/epoch/end/", "", b"data=not json").0, 400);
    let v = runs(addr);
    let run = &v["runs"][0];
    assert_eq!(run["name"], "keras");
    assert_eq!(run["epochs"][0]["loss"], 0.75);
    assert_eq!(run["epochs"][1]["accuracy"], 0.7);
    assert_eq!(run["stoppable"], false);
}

#[test]
fn hostile_and_broken_requests_are_refused() {
    let board = Board::new();
    let server = Server::start("127.0.0.1:0", board).unwrap();
    let addr = server.addr();
    for path in ["/../Cargo.toml", "/..%2f..%2fetc%2fpasswd", "/page.html", "/src/dashboard/page.html", "//etc/passwd"] {
        assert_eq!(get(addr, path).0, 404, "{path} reaches no file");
    }
    assert_eq!(http(addr, b"DELETE /api/runs HTTP/1.1\r\n\r\n").0, 405);
    assert_eq!(post(addr, "/api/stop", "", b"").0, 403, "stop needs the page's header");
    let big = vec![b'x'; MAX_BODY + 1];
    assert_eq!(post(addr, "/publish/epoch/end/", "", &big).0, 413);
    let mut huge_head = b"GET / HTTP/1.1\r\n".to_vec();
    huge_head.extend(std::iter::repeat_n(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".as_slice(), 400).flatten());
    assert_eq!(http(addr, &huge_head).0, 431);
    assert_eq!(http(addr, b"garbage\r\n\r\n").0, 400);
    // A request that never finishes arriving does not hold up the others.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /api/runs HTTP/1.1\r\nHost:").unwrap();
    assert_eq!(get(addr, "/api/runs").0, 200);
    drop(slow);
}

#[test]
fn connections_past_the_limit_are_turned_away_and_freed() {
    let board = Board::new();
    let server = Server::start("127.0.0.1:0", board).unwrap();
    let addr = server.addr();
    let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.connections() < MAX_CONNECTIONS && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(get(addr, "/api/runs").0, 503);
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.connections() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.connections(), 0, "closed connections free their threads");
    assert_eq!(get(addr, "/api/runs").0, 200);
}

#[test]
fn a_page_that_stops_reading_never_holds_up_training() {
    let dashboard = Dashboard::serve("127.0.0.1:0").unwrap().run_name("stalled");
    let board = dashboard.board();
    let server = Server::start("127.0.0.1:0", board.clone()).unwrap();
    // Subscribes to the event stream, then never reads a byte.
    let mut stalled = TcpStream::connect(server.addr()).unwrap();
    stalled.write_all(b"GET /api/events?since=0 HTTP/1.1\r\n\r\n").unwrap();
    let (x, y) = data(2048);
    let mut m = model();
    // Many epochs of many small batches: far more events than a socket buffer holds.
    m.fit(&x, &y, FitOptions { epochs: 40, batch_size: 8, verbose: 0, callbacks: vec![Box::new(dashboard)], ..Default::default() }).unwrap();
    assert_eq!(m.history().epoch.len(), 40);
    assert_eq!(runs(server.addr())["runs"][0]["status"], "finished");
    // Then far more than a socket buffer holds (about 30 MB of events) while
    // the page still reads nothing: every post is answered all the same.
    let logs: Vec<String> = (0..1500).map(|k| format!("\"metric_{k}\": {k}.5")).collect();
    for epoch in 0..1000 {
        let body = format!("{{\"epoch\": {epoch}, {}}}", logs.join(", "));
        assert_eq!(post(server.addr(), "/publish/epoch/end/", "Content-Type: application/json\r\n", body.as_bytes()).0, 200);
    }
    drop(stalled);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.connections() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.connections(), 0, "the stalled page's thread ends once it is gone");
}

/// Presses the stop button (as the page does) once the run has published a batch.
struct PressStop {
    addr: SocketAddr,
    pressed: Arc<Mutex<bool>>,
}

impl Callback for PressStop {
    fn on_batch_end(&mut self, batch: usize, _logs: &Logs) {
        let mut pressed = self.pressed.lock().unwrap();
        if batch == 2 && !*pressed {
            *pressed = true;
            let (code, body) = post(self.addr, "/api/stop?run=stoppable", "X-Strata: stop\r\n", b"");
            assert_eq!((code, String::from_utf8_lossy(&body).into_owned()), (200, r#"{"stopping":["stoppable"]}"#.to_string()));
        }
    }
}

#[test]
fn the_stop_button_ends_training_after_the_current_batch() {
    let dashboard = Dashboard::serve("127.0.0.1:0").unwrap().run_name("stoppable");
    let server = Server::start("127.0.0.1:0", dashboard.board()).unwrap();
    let (x, y) = data(512);
    let mut m = model();
    let press = PressStop { addr: server.addr(), pressed: Arc::new(Mutex::new(false)) };
    let history = m.fit(&x, &y, FitOptions { epochs: 50, batch_size: 16, verbose: 0, callbacks: vec![Box::new(dashboard), Box::new(press)], ..Default::default() }).unwrap();
    assert_eq!(history.epoch, [0], "training ends in the epoch the button was pressed");
    let v = runs(server.addr());
    assert_eq!(v["runs"][0]["status"], "stopped");
    assert_eq!(m.optimizer().unwrap().iterations(), 3, "stopped after the batch that was running (the third)");
}

#[test]
fn runs_are_read_from_a_log_folder() {
    let dir = common::temp_dir("logdir");
    let logged = Dashboard::on_board(Board::new()).run_name("strata-run").logdir(&dir).unwrap();
    let (x, y) = data(64);
    model().fit(&x, &y, FitOptions { epochs: 2, batch_size: 16, verbose: 0, callbacks: vec![Box::new(logged)], ..Default::default() }).unwrap();
    std::fs::write(dir.join("keras-run.csv"), "epoch,loss,val_loss\n0,0.9,1.0\n1,0.7,0.8\n").unwrap();
    // A line still being written is left for later.
    std::fs::write(dir.join("partial.jsonl"), "{\"type\":\"epoch\",\"logs\":{\"epoch\":0,\"loss\":1.5}}\n{\"type\":\"epo").unwrap();
    let board = Board::new();
    logdir::scan(&dir, &board);
    let v = board.runs_json();
    let by_name = |name: &str| v["runs"].as_array().unwrap().iter().find(|r| r["name"] == name).cloned().unwrap();
    assert_eq!(by_name("strata-run")["status"], "finished");
    assert_eq!(by_name("strata-run")["epochs"].as_array().unwrap().len(), 2);
    assert_eq!(by_name("keras-run")["epochs"][1]["val_loss"], 0.8);
    assert_eq!(by_name("partial")["epochs"].as_array().unwrap().len(), 1);
    assert_eq!(by_name("partial")["status"], "running");
}

#[test]
fn event_streams_resume_and_reset() {
    let dashboard = Dashboard::serve("127.0.0.1:0").unwrap().run_name("events");
    let server = Server::start("127.0.0.1:0", dashboard.board()).unwrap();
    let (x, y) = data(64);
    model().fit(&x, &y, FitOptions { epochs: 2, batch_size: 32, verbose: 0, callbacks: vec![Box::new(dashboard)], ..Default::default() }).unwrap();
    let read_stream = |request: &[u8]| {
        let mut s = TcpStream::connect(server.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        s.write_all(request).unwrap();
        // The stream never ends (a heartbeat comes every second): read for 1.5 s.
        let (mut text, mut buf, until) = (Vec::new(), [0u8; 4096], Instant::now() + Duration::from_millis(1500));
        while Instant::now() < until {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => text.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    };
    // From the start: every event so far, numbered, epochs with Keras's names.
    let all = read_stream(b"GET /api/events?since=0 HTTP/1.1\r\n\r\n");
    assert!(all.contains("content-type: text/event-stream") || all.contains("Content-Type: text/event-stream"));
    assert!(all.contains("id: 1\n") && all.contains("\"type\":\"epoch\"") && all.contains("\"status\":\"finished\""), "{all}");
    // Resuming after the last event seen (the browser's Last-Event-ID): nothing old again.
    let seq = runs(server.addr())["seq"].as_u64().unwrap();
    let resumed = read_stream(format!("GET /api/events HTTP/1.1\r\nLast-Event-ID: {seq}\r\n\r\n").as_bytes());
    assert!(!resumed.contains("\ndata: {"), "{resumed}");
    // A page from another server's life (a later event than any here) is told to reload.
    let stale = read_stream(format!("GET /api/events?since={} HTTP/1.1\r\n\r\n", seq + 1000).as_bytes());
    assert!(stale.contains("event: reset"), "{stale}");
}
