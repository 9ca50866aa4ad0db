//! Does the dashboard slow training down? Trains the headline CNN on the
//! bundled MNIST sample one epoch at a time, in interleaved rounds of three
//! settings: no dashboard; the dashboard with one page open (an event stream
//! read as it comes, the prediction grid fetched after each epoch); and the
//! dashboard with 50 clients on the loopback address connecting and dropping
//! in a loop (event streams read for a moment, pages, `/api/runs`, requests
//! cut off half-sent). The page and the clients run in a second process, as
//! browsers would. Prints the median samples/s of each setting and their
//! ratios, how long the clients ran, and the training process's threads and
//! memory before and after (nothing may be left behind).
//!
//! cargo run --release -p strata --example dashboard_load -- [--rounds 20] [--samples 4000] [--clients 50] [--hold-ms 300] [--pause-ms 50] [--nice-clients] [--control]
//!
//! Each client holds a connection for up to `--hold-ms` and pauses up to
//! `--pause-ms` before the next one. With `--control` the page and the
//! clients talk to a server in their own process instead: the ratios then
//! measure what the same traffic costs the machine, without Strata's server.

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use strata::dashboard::{Board, Dashboard, Server};
use strata::model::{Callback, FitOptions};
use strata::{Result, Rng, Tensor};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The names of this process's threads, counted (`strata-dashboar x2, ...`; Linux).
fn thread_names() -> String {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .map(|d| d.flatten().filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok()).map(|n| n.trim().to_string()).collect())
        .unwrap_or_default();
    names.sort();
    let mut counted: Vec<(String, usize)> = Vec::new();
    for n in names {
        match counted.last_mut() {
            Some((last, k)) if *last == n => *k += 1,
            _ => counted.push((n, 1)),
        }
    }
    counted.iter().map(|(n, k)| if *k > 1 { format!("{n} x{k}") } else { n.clone() }).collect::<Vec<_>>().join(", ")
}

/// `(threads, resident MB)` of this process (Linux).
fn process_state() -> (usize, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| status.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (field("Threads:") as usize, field("VmRSS:") / 1024.0)
}

/// A switch that clients sleep on while it is off (no polling: idle clients
/// must not look like a busy machine to the training's thread fallback).
#[derive(Default)]
struct Gate {
    on: Mutex<bool>,
    changed: Condvar,
    on_flag: AtomicBool,
}

impl Gate {
    fn set(&self, on: bool) {
        *self.on.lock().unwrap() = on;
        self.on_flag.store(on, Ordering::Relaxed);
        self.changed.notify_all();
    }
    fn is_on(&self) -> bool {
        self.on_flag.load(Ordering::Relaxed)
    }
    /// Sleeps until the gate is on; false when `done` is set meanwhile.
    fn wait(&self, done: &AtomicBool) -> bool {
        let mut on = self.on.lock().unwrap();
        while !*on {
            if done.load(Ordering::Relaxed) {
                return false;
            }
            on = self.changed.wait(on).unwrap();
        }
        !done.load(Ordering::Relaxed)
    }
}

/// One client's loop: connect, do one of four things, drop, pause, again.
fn churn(addr: SocketAddr, seed: u64, active: Arc<Gate>, done: Arc<AtomicBool>, (hold, pause): (u64, u64)) {
    let mut rng = Rng::new(seed);
    let mut buf = vec![0u8; 64 * 1024];
    while active.wait(&done) {
        let Ok(mut s) = TcpStream::connect(addr) else { continue };
        let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
        let kind = (rng.uniform() * 4.0) as u32;
        let request: &[u8] = match kind {
            0 => b"GET /api/events HTTP/1.1\r\n\r\n",
            1 => b"GET / HTTP/1.1\r\n\r\n",
            2 => b"GET /api/runs HTTP/1.1\r\n\r\n",
            _ => b"GET /api/ru",
        };
        let _ = s.write_all(request);
        let until = Instant::now() + Duration::from_millis((rng.uniform() * hold as f32) as u64);
        while kind != 3 && Instant::now() < until {
            if let Ok(0) = s.read(&mut buf) {
                break;
            }
        }
        drop(s);
        std::thread::sleep(Duration::from_millis((rng.uniform() * pause as f32) as u64));
    }
}

/// A page left open: reads the event stream as it comes and fetches the
/// prediction grid when an event says it changed.
fn viewer(addr: SocketAddr, active: Arc<Gate>, done: Arc<AtomicBool>) {
    while active.wait(&done) {
        let Ok(mut s) = TcpStream::connect(addr) else { continue };
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        let _ = s.write_all(b"GET /api/events HTTP/1.1\r\n\r\n");
        let mut buf = vec![0u8; 64 * 1024];
        while active.is_on() {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) if String::from_utf8_lossy(&buf[..n]).contains("\"predictions\"") => {
                    if let Ok(mut p) = TcpStream::connect(addr) {
                        let _ = p.write_all(b"GET /api/predictions.png?run=load HTTP/1.1\r\n\r\n");
                        let _ = p.read_to_end(&mut Vec::new());
                    }
                }
                _ => {}
            }
        }
    }
}

/// The browsers' process: a page and `clients` churning clients, switched
/// on and off by lines on standard input (`page 1`, `churn 0`, `quit`).
fn client_process(addr: SocketAddr, clients: usize, timing: (u64, u64)) {
    // `--control`: the clients talk to a server of their own process, so the
    // training process does no server work: what is left is the machine's.
    let own = std::env::args().any(|a| a == "--control").then(|| Server::start("127.0.0.1:0", Board::new()).expect("a server for the control run"));
    let addr = own.as_ref().map_or(addr, |s| s.addr());
    let (done, page, churning) = (Arc::new(AtomicBool::new(false)), Arc::new(Gate::default()), Arc::new(Gate::default()));
    let mut threads = Vec::new();
    let (p, d) = (page.clone(), done.clone());
    threads.push(std::thread::spawn(move || viewer(addr, p, d)));
    for k in 0..clients {
        let (a, d) = (churning.clone(), done.clone());
        threads.push(std::thread::spawn(move || churn(addr, k as u64 + 1, a, d, timing)));
    }
    for line in std::io::stdin().lock().lines().map_while(|l| l.ok()) {
        match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["page", on] => page.set(on == "1"),
            ["churn", on] => churning.set(on == "1"),
            _ => break,
        }
    }
    done.store(true, Ordering::Relaxed);
    page.set(false);
    churning.set(false);
    threads.into_iter().for_each(|t| t.join().unwrap_or(()));
}

/// User + system CPU seconds of process `pid` ("self" for this one) so far (Linux).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let (rounds, samples, clients) = (arg("--rounds", 20), arg("--samples", 4000), arg("--clients", 50));
    let timing = (arg("--hold-ms", 300) as u64, arg("--pause-ms", 50) as u64);
    if let Some(i) = std::env::args().position(|a| a == "--client-process") {
        let addr = std::env::args().nth(i + 1).and_then(|a| a.parse().ok()).expect("--client-process ADDR");
        client_process(addr, clients, timing);
        return Ok(());
    }
    // STRATA_THREADS and STRATA_ADAPTIVE_THREADS=0, as the strata command reads them; this thread is a worker.
    strata::core::threads::init_on_main(None)?;
    let data = strata::datasets::mnist_sample()?;
    let train = data.train.take(samples)?;
    let (x, y) = (train.images.clone(), train.one_hot(10)?);
    let preview = Tensor::new(data.test.images.to_vec()[..16 * 784].to_vec(), &[16, 28, 28, 1])?;
    let preview_labels = data.test.labels[..16].to_vec();
    let mut model = strata::applications::headline_cnn(0)?;
    // A first epoch to warm up caches and the allocator.
    model.fit(&x, &y, FitOptions { epochs: 1, verbose: 0, ..Default::default() })?;

    let board = Board::new();
    let server = Server::start("127.0.0.1:0", board.clone())?;
    let before = process_state();
    let names_before = thread_names();
    let exe = std::env::current_exe().map_err(|e| strata::Error::io("current_exe", e))?;
    // `--nice-clients`: the clients' process at the lowest priority, to tell
    // the dashboard's own cost from that of the clients' CPU.
    let nice = std::env::args().any(|a| a == "--nice-clients");
    let mut command = if nice { Command::new("nice") } else { Command::new(&exe) };
    if nice {
        command.args(["-n", "19"]).arg(&exe);
    }
    let mut browsers = command
        .args(["--client-process", &server.addr().to_string(), "--clients", &clients.to_string()])
        .args(["--hold-ms", &timing.0.to_string(), "--pause-ms", &timing.1.to_string()])
        .args(std::env::args().filter(|a| a == "--control"))
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| strata::Error::io("the clients' process", e))?;
    let mut control = browsers.stdin.take().expect("piped");
    let child = browsers.id().to_string();
    // CPU seconds per epoch of this process and of the clients' process, per setting.
    let mut cpu = [[0.0f64; 2]; 3];
    let (mut plain, mut page, mut crowd) = (Vec::new(), Vec::new(), Vec::new());
    let (mut churn_seconds, mut churn_connections) = (0.0, 0);
    for round in 0..rounds {
        // Rotate the order so that no setting always runs first.
        for setting in (0..3).map(|k| (k + round) % 3) {
            let _ = writeln!(control, "page {}\nchurn {}", (setting >= 1) as u8, (setting == 2) as u8);
            let _ = control.flush();
            let callbacks: Vec<Box<dyn Callback>> = if setting == 0 {
                Vec::new()
            } else {
                vec![Box::new(Dashboard::on_board(board.clone()).run_name("load").preview(&preview, &preview_labels)?)]
            };
            let (started, accepted) = (Instant::now(), server.accepted());
            let (own, theirs) = (cpu_seconds("self"), cpu_seconds(&child));
            let history = model.fit(&x, &y, FitOptions { epochs: 1, verbose: 0, callbacks, ..Default::default() })?;
            cpu[setting][0] += (cpu_seconds("self") - own) / rounds as f64;
            cpu[setting][1] += (cpu_seconds(&child) - theirs) / rounds as f64;
            if setting == 2 {
                churn_seconds += started.elapsed().as_secs_f64();
                churn_connections += server.accepted() - accepted;
            }
            [&mut plain, &mut page, &mut crowd][setting].push(samples as f64 / history.epoch_seconds[0]);
        }
        eprintln!("round {}/{rounds}: none {:.0}, one page {:.0}, {clients} clients {:.0} samples/s", round + 1, plain[round], page[round], crowd[round]);
    }
    let _ = writeln!(control, "quit");
    drop(control);
    let _ = browsers.wait();
    // Let the server's connection threads notice their clients are gone.
    let settle = Instant::now();
    while server.connections() > 0 && settle.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let lingering = server.connections();
    // Idle connection threads end 2 s after their last connection.
    std::thread::sleep(Duration::from_secs(3));
    let after = process_state();
    let (a, b, c) = (median(&mut plain), median(&mut page), median(&mut crowd));
    println!("headline CNN, {samples} MNIST samples per epoch, {rounds} interleaved rounds, {} threads", strata::core::threads::num_threads());
    println!("median samples/s: no dashboard {a:.0}; one page open {b:.0} ({:.3}x); {clients} clients churning {c:.0} ({:.3}x)", b / a, c / a);
    println!("clients: {churn_seconds:.0} s of churn, {churn_connections} connections ({:.0}/s; hold up to {} ms, pause up to {} ms)", churn_connections as f64 / churn_seconds.max(1e-9), timing.0, timing.1);
    let names = ["no dashboard", "one page open", "clients churning"];
    for (name, [own, theirs]) in names.iter().zip(cpu) {
        println!("CPU seconds per epoch, {name}: training process {own:.2}, clients' process {theirs:.2}");
    }
    println!("training process: {} threads and {:.1} MB before the clients, {} threads and {:.1} MB after they left ({lingering} connections still open)", before.0, before.1, after.0, after.1);
    println!("threads before: {names_before}; after: {}", thread_names());
    drop(server);
    Ok(())
}
