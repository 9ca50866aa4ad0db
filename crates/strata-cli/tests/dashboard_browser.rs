//! The live dashboard in a real browser: headless Chromium, driven through
//! chromedriver's WebDriver API, watches `strata train --dashboard`: the page
//! loads, its curves gain points while training goes on (each within a
//! second of its epoch's end), the stop button ends the run and the saved
//! model loads.
//!
//! Needs Debian's `chromium` and `chromium-driver`; says it skipped when they
//! are missing, unless STRATA_REQUIRE_BROWSER=1 (as `.ci/run` sets after
//! installing them). STRATA_SCREENSHOT=FILE keeps a screenshot of the page
//! in the middle of the run (the README's picture).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A program on PATH or at a usual place.
fn find(names: &[&str]) -> Option<PathBuf> {
    let dirs = std::env::var("PATH").unwrap_or_default();
    names.iter().flat_map(|n| std::env::split_paths(&dirs).map(move |d| d.join(n))).chain([PathBuf::from("/usr/lib/chromium/chromedriver")]).find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One HTTP/1.1 request to chromedriver; the JSON `value` of its answer.
fn webdriver(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Value {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let s = TcpStream::connect(addr).expect("chromedriver is listening");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    (&s).write_all(request.as_bytes()).unwrap();
    // chromedriver keeps the connection open: read what its headers announce.
    let mut reader = BufReader::new(s);
    let (mut length, mut chunked) = (None, false);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let lower = line.trim().to_ascii_lowercase();
        if lower.is_empty() {
            break;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse::<usize>().ok();
        }
        chunked |= lower == "transfer-encoding: chunked";
    }
    let text = if chunked {
        let mut out = Vec::new();
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            if size == 0 {
                break out;
            }
            out.extend_from_slice(&chunk[..size]);
        }
    } else {
        let mut out = vec![0; length.expect("a content-length")];
        reader.read_exact(&mut out).unwrap();
        out
    };
    let v: Value = serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {}", String::from_utf8_lossy(&text)));
    if v["value"].get("error").is_some() {
        panic!("{method} {path}: {}", v["value"]);
    }
    v["value"].clone()
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = text.bytes().filter(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/').collect();
    clean.chunks(4).flat_map(|q| {
        let n = q.iter().enumerate().fold(0u32, |n, (i, &c)| n | (value(c) as u32) << (18 - 6 * i));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        bytes[..q.len() - 1].to_vec()
    }).collect()
}

#[test]
fn the_dashboard_updates_live_and_its_stop_button_stops_training() {
    let required = std::env::var("STRATA_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let (Some(driver), Some(_)) = (find(&["chromedriver"]), find(&["chromium", "chromium-browser", "google-chrome"])) else {
        assert!(!required, "STRATA_REQUIRE_BROWSER=1 but chromium and chromedriver are not installed");
        eprintln!("skipped: chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let dir = common::scratch("browser");
    let saved = dir.join("stopped.safetensors");

    // A run long enough to be stopped: 2,000 short epochs (200, about 10 s
    // here, were once over before a loaded machine had chromium up).
    let mut train = Killed(
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["train", "--epochs", "2000", "--train-limit", "600", "--validation-split", "0.1", "--dashboard", "127.0.0.1:0", "--run-name", "browser"])
            .arg("--save")
            .arg(&saved)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = mpsc::channel();
    let stderr = train.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let url = wait_for("the dashboard's address", Duration::from_secs(60), || {
        let line = rx.recv_timeout(Duration::from_millis(100)).ok()?;
        log.push(line.clone());
        line.strip_prefix("Dashboard: ").map(|u| u.split_whitespace().next().unwrap().to_string())
    });

    let port = free_port();
    let _driver = Killed(Command::new(&driver).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for("chromedriver", Duration::from_secs(30), || TcpStream::connect(addr).ok().map(|_| ()));
    let caps = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": {
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"] } } } });
    let session = webdriver(addr, "POST", "/session", Some(caps))["sessionId"].as_str().unwrap().to_string();
    let s = format!("/session/{session}");
    webdriver(addr, "POST", &format!("{s}/url"), Some(json!({ "url": url })));
    let script = |code: &str| webdriver(addr, "POST", &format!("{s}/execute/sync"), Some(json!({ "script": code, "args": [] })));
    let epochs_shown = || script("const c = document.querySelector('.run[data-run=\"browser\"]'); return c ? Number(c.dataset.epochs) : 0;").as_u64().unwrap_or(0);

    let first = wait_for("the first epoch on the page", Duration::from_secs(60), || Some(epochs_shown()).filter(|&n| n >= 1));
    let later = wait_for("more epochs on the page", Duration::from_secs(60), || Some(epochs_shown()).filter(|&n| n >= first + 2));
    assert!(later > first, "the curves gain points while training goes on");
    let lag = script("return Number(document.querySelector('.run[data-run=\"browser\"]').dataset.lagMs);").as_f64().unwrap();
    eprintln!("browser: {later} epochs shown; the last epoch's point was drawn {lag:.0} ms after its end");
    assert!(lag < 1000.0, "a new epoch is on the page within 1 s of its end ({lag} ms)");
    let charts = script("return document.querySelectorAll('.run[data-run=\"browser\"] canvas').length;").as_u64().unwrap();
    assert!(charts >= 3, "batch loss, loss and accuracy charts ({charts})");
    let progress = script("return document.querySelector('.run[data-run=\"browser\"] .progress').textContent;").as_str().unwrap().to_string();
    assert!(progress.contains("samples/s") && progress.contains("learning rate") && progress.contains("MB"), "{progress}");
    wait_for("the predictions grid", Duration::from_secs(30), || {
        script("const i = document.querySelector('.run[data-run=\"browser\"] img.predictions'); return i && i.complete && i.naturalWidth > 0;").as_bool().filter(|&b| b)
    });
    if let Ok(path) = std::env::var("STRATA_SCREENSHOT") {
        // Far enough into the run for the curves to show a trend.
        wait_for("ten epochs on the page", Duration::from_secs(120), || Some(epochs_shown()).filter(|&n| n >= 10));
        let png = decode_base64(webdriver(addr, "GET", &format!("{s}/screenshot"), None).as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::write(&path, png).unwrap();
        eprintln!("browser: screenshot saved to {path}");
    }

    // The stop button.
    let button = webdriver(addr, "POST", &format!("{s}/element"), Some(json!({ "using": "css selector", "value": ".run[data-run=\"browser\"] button.stop" })));
    let element = button.as_object().unwrap().values().next().unwrap().as_str().unwrap().to_string();
    webdriver(addr, "POST", &format!("{s}/element/{element}/click"), Some(json!({})));
    let status = wait_for("training to end", Duration::from_secs(60), || train.0.try_wait().unwrap());
    webdriver(addr, "DELETE", &s, None);
    log.extend(rx.try_iter());
    assert!(status.success(), "strata train ended cleanly: {}", log.join("\n"));
    let stopped = log.iter().find(|l| l.starts_with("Training stopped after epoch")).unwrap_or_else(|| panic!("{}", log.join("\n")));
    eprintln!("browser: {stopped}");
    assert!(saved_model_loads(&saved) < 2000);
}

/// Loads the model the stopped run saved; returns its epochs trained.
fn saved_model_loads(path: &Path) -> usize {
    let out = Command::new(env!("CARGO_BIN_EXE_strata")).arg("inspect").arg(path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "the saved model loads: {text}{}", String::from_utf8_lossy(&out.stderr));
    text.lines().find_map(|l| l.strip_prefix("Epochs trained: ")).and_then(|n| n.trim().parse().ok()).unwrap()
}
