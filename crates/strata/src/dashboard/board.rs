//! What the dashboard shows: the runs, their logs so far, and the stream of
//! events that tells open pages what changed. Training threads write it
//! under a short lock, never waiting on a reader; readers copy out what they
//! need and write to their sockets without holding the lock.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

/// Events kept for pages that fall behind, by count and by bytes; older ones
/// are dropped (a page that missed some reloads the runs).
const EVENTS_KEPT: usize = 4096;
const EVENT_BYTES_KEPT: usize = 8 << 20;
/// Epochs kept per run, and runs kept: what posts from outside can grow.
const EPOCHS_KEPT: usize = 100_000;
const RUNS_KEPT: usize = 256;
/// Batch points kept per run; past this, every other one is dropped.
const BATCH_POINTS: usize = 2000;

/// Milliseconds since the Unix epoch (event times, for the page's latency).
pub(crate) fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

/// One training run as the dashboard knows it.
pub(crate) struct Run {
    pub name: String,
    /// `running`, `finished` or `stopped`.
    pub status: String,
    /// Each epoch's logs, Keras's names (`epoch`, `loss`, `val_loss`, ...).
    pub epochs: Vec<Map<String, Value>>,
    /// Batch logs (the epoch's running means, Keras's names) with `step`,
    /// the batch's number since the start; thinned to a bounded count.
    pub batches: Vec<Map<String, Value>>,
    /// How many batches a point of `batches` stands for (thinning doubles it).
    pub stride: u64,
    /// The latest progress: epoch, batch, samples/s, learning rate, memory, time left.
    pub progress: Map<String, Value>,
    /// The latest prediction grid as a PNG, with a version that changes with it.
    pub predictions: Option<(u64, Arc<Vec<u8>>)>,
    /// Set by the page's stop button; read by the training loop.
    pub stop: Arc<AtomicBool>,
    /// Whether the stop button applies (a run in this process).
    pub stoppable: bool,
}

impl Run {
    fn summary(&self) -> Value {
        json!({
            "name": self.name,
            "status": self.status,
            "epochs": self.epochs,
            "batches": self.batches,
            "progress": self.progress,
            "predictions": self.predictions.as_ref().map(|(v, _)| *v),
            "stoppable": self.stoppable && self.status == "running",
        })
    }
}

pub(crate) struct State {
    pub runs: Vec<Run>,
    events: VecDeque<(u64, Arc<str>)>,
    event_bytes: usize,
    next: u64,
}

/// The runs a dashboard shows, shared by the training loop(s) that fill it
/// and the server that shows it.
pub struct Board {
    state: Mutex<State>,
    changed: Condvar,
    /// `/api/runs` as last written, and the event it was written after:
    /// many pages asking between two events cost one serialisation.
    snapshot: Mutex<Option<(u64, Arc<String>)>>,
}

impl Default for Board {
    fn default() -> Self {
        let state = State { runs: Vec::new(), events: VecDeque::new(), event_bytes: 0, next: 1 };
        Board { state: Mutex::new(state), changed: Condvar::new(), snapshot: Mutex::new(None) }
    }
}

impl Board {
    /// An empty board.
    pub fn new() -> Arc<Board> {
        Arc::new(Board::default())
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an event for the pages (its `seq` and `time` are added here).
    fn push(&self, state: &mut State, mut event: Map<String, Value>) {
        let seq = state.next;
        state.next += 1;
        event.insert("seq".into(), json!(seq));
        event.insert("time".into(), json!(now_ms()));
        let text: Arc<str> = Value::Object(event).to_string().into();
        state.event_bytes += text.len();
        state.events.push_back((seq, text));
        while state.events.len() > EVENTS_KEPT || state.event_bytes > EVENT_BYTES_KEPT {
            let Some((_, old)) = state.events.pop_front() else { break };
            state.event_bytes -= old.len();
        }
        self.changed.notify_all();
    }

    /// Starts (or restarts) run `name`; returns its stop flag.
    pub(crate) fn start_run(&self, name: &str, stoppable: bool) -> Arc<AtomicBool> {
        let mut state = self.lock();
        let stop = Arc::new(AtomicBool::new(false));
        let run = Run { name: name.to_string(), status: "running".into(), epochs: Vec::new(), batches: Vec::new(), stride: 1, progress: Map::new(), predictions: None, stop: stop.clone(), stoppable };
        match state.runs.iter_mut().find(|r| r.name == name) {
            Some(old) => *old = run,
            None => {
                if state.runs.len() >= RUNS_KEPT {
                    // The oldest run that is not training now makes room.
                    if let Some(i) = state.runs.iter().position(|r| r.status != "running") {
                        state.runs.remove(i);
                    }
                }
                state.runs.push(run)
            }
        }
        let event = json!({ "type": "run", "run": name, "status": "running", "stoppable": stoppable });
        self.push(&mut state, into_map(event));
        stop
    }

    /// Records a batch's logs (the `step`-th batch of the run) and progress,
    /// unless a page's thread holds the board this instant: then this batch
    /// is skipped rather than waited for (the next one comes soon).
    pub(crate) fn batch(&self, name: &str, step: u64, logs: Map<String, Value>, progress: Map<String, Value>) {
        let mut state = match self.state.try_lock() {
            Ok(state) => state,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        let Some(run) = state.runs.iter_mut().find(|r| r.name == name) else { return };
        let mut point = logs;
        point.insert("step".into(), json!(step));
        if step.is_multiple_of(run.stride) {
            run.batches.push(point.clone());
            if run.batches.len() >= BATCH_POINTS {
                run.stride *= 2;
                let stride = run.stride;
                run.batches.retain(|p| p.get("step").and_then(Value::as_u64).is_some_and(|s| s % stride == 0));
            }
        }
        run.progress = progress.clone();
        let event = json!({ "type": "batch", "run": name, "logs": point, "progress": progress });
        self.push(&mut state, into_map(event));
    }

    /// Records an epoch's logs (`epoch` and Keras's log names).
    pub(crate) fn epoch(&self, name: &str, logs: Map<String, Value>) {
        let mut state = self.lock();
        let Some(run) = state.runs.iter_mut().find(|r| r.name == name) else { return };
        let epoch = logs.get("epoch").and_then(Value::as_u64);
        match run.epochs.iter().rposition(|e| e.get("epoch").and_then(Value::as_u64) == epoch) {
            Some(i) => run.epochs[i] = logs.clone(),
            None if run.epochs.len() < EPOCHS_KEPT => run.epochs.push(logs.clone()),
            None => return,
        }
        let event = json!({ "type": "epoch", "run": name, "logs": logs });
        self.push(&mut state, into_map(event));
    }

    /// Replaces a run's prediction grid (a PNG).
    pub(crate) fn predictions(&self, name: &str, png: Vec<u8>) {
        let mut state = self.lock();
        let Some(run) = state.runs.iter_mut().find(|r| r.name == name) else { return };
        let version = run.predictions.as_ref().map_or(1, |(v, _)| v + 1);
        run.predictions = Some((version, Arc::new(png)));
        let event = json!({ "type": "predictions", "run": name, "version": version });
        self.push(&mut state, into_map(event));
    }

    /// Marks a run `finished` or `stopped`.
    pub(crate) fn end_run(&self, name: &str, status: &str) {
        let mut state = self.lock();
        let Some(run) = state.runs.iter_mut().find(|r| r.name == name) else { return };
        run.status = status.to_string();
        let event = json!({ "type": "run", "run": name, "status": status, "stoppable": false });
        self.push(&mut state, into_map(event));
    }

    /// Asks run `name` (every stoppable running run when `None`) to stop
    /// after its current batch; returns the runs asked.
    pub(crate) fn request_stop(&self, name: Option<&str>) -> Vec<String> {
        let state = self.lock();
        let asked: Vec<&Run> = state.runs.iter().filter(|r| r.stoppable && r.status == "running" && name.is_none_or(|n| n == r.name)).collect();
        asked.iter().for_each(|r| r.stop.store(true, Ordering::Relaxed));
        asked.iter().map(|r| r.name.clone()).collect()
    }

    /// `{"runs": [...], "seq": N}`: every run so far and the last event's number.
    pub fn runs_json(&self) -> Value {
        let state = self.lock();
        json!({ "runs": state.runs.iter().map(Run::summary).collect::<Vec<_>>(), "seq": state.next - 1 })
    }

    /// [`Board::runs_json`] as text, written again only after a new event.
    pub(crate) fn runs_text(&self) -> Arc<String> {
        let seq = self.last_seq();
        let mut snapshot = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        match snapshot.as_ref() {
            Some((at, text)) if *at == seq => text.clone(),
            _ => {
                let value = self.runs_json();
                let at = value["seq"].as_u64().unwrap_or(seq);
                let text = Arc::new(value.to_string());
                *snapshot = Some((at, text.clone()));
                text
            }
        }
    }

    /// The names of the runs on the board.
    pub fn run_names(&self) -> Vec<String> {
        self.lock().runs.iter().map(|r| r.name.clone()).collect()
    }

    pub(crate) fn prediction_png(&self, name: &str) -> Option<Arc<Vec<u8>>> {
        self.lock().runs.iter().find(|r| r.name == name).and_then(|r| r.predictions.as_ref().map(|(_, p)| p.clone()))
    }

    /// Events after `after`, waiting up to `wait` for one. `Err(())` when
    /// events after `after` were dropped already (the page must reload).
    pub(crate) fn events_after(&self, after: u64, wait: Duration) -> Result<Vec<(u64, Arc<str>)>, ()> {
        let mut state = self.lock();
        if state.next - 1 <= after {
            state = self.changed.wait_timeout(state, wait).unwrap_or_else(|e| e.into_inner()).0;
        }
        if state.events.front().is_some_and(|(seq, _)| *seq > after + 1) {
            return Err(());
        }
        Ok(state.events.iter().filter(|(seq, _)| *seq > after).cloned().collect())
    }

    /// The last event's number.
    pub(crate) fn last_seq(&self) -> u64 {
        self.lock().next - 1
    }
}

fn into_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A number for JSON: NaN and infinities become null.
pub(crate) fn finite(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}
