//! Where the time goes: when enabled, every op's backward and every scope
//! (a layer's forward pass, the loss, the optimizer) is timed and summed under
//! the name of the scope it ran in. Disabled, it costs one atomic load per op.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static ENABLED: AtomicBool = AtomicBool::new(false);
static SKIPPED: AtomicU64 = AtomicU64::new(0);
static TABLE: Mutex<BTreeMap<(String, Phase), (Duration, u64)>> = Mutex::new(BTreeMap::new());

thread_local! {
    static SCOPE: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// Which pass a timing belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// A forward pass (a layer's call, the loss).
    Forward,
    /// The backward pass of the ops recorded in a scope.
    Backward,
    /// The optimizer's update of the weights.
    Update,
}

/// One row of the report: total time and number of calls of a scope in a phase.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The scope's name (a layer's name, `loss`, `optimizer`).
    pub scope: String,
    /// The pass the time was spent in.
    pub phase: Phase,
    /// Time summed over all calls.
    pub total: Duration,
    /// Timings summed: runs of the scope, or ops' backward passes in [`Phase::Backward`].
    pub calls: u64,
}

/// Turns timing on or off (off by default).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether timing is on.
pub fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The scope ops are being recorded under on this thread.
pub fn current_scope() -> Option<Arc<str>> {
    if !is_enabled() {
        return None;
    }
    SCOPE.with(|s| s.borrow().clone())
}

/// Runs `f` as scope `name` in `phase`, timing it when enabled.
pub fn scoped<R>(name: &str, phase: Phase, f: impl FnOnce() -> R) -> R {
    if !is_enabled() {
        return f();
    }
    let previous = SCOPE.with(|s| s.replace(Some(Arc::from(name))));
    let started = Instant::now();
    let r = f();
    record(name, phase, started.elapsed());
    SCOPE.with(|s| *s.borrow_mut() = previous);
    r
}

/// Adds one timing.
pub fn record(scope: &str, phase: Phase, elapsed: Duration) {
    let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let entry = table.entry((scope.to_string(), phase)).or_default();
    entry.0 += elapsed;
    entry.1 += 1;
}

/// The timings so far, and a fresh start.
pub fn take() -> Vec<Entry> {
    let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    std::mem::take(&mut *table).into_iter().map(|((scope, phase), (total, calls))| Entry { scope, phase, total, calls }).collect()
}

/// Counts `flops` (2 x multiply-adds) of a dense pass that an op's backward
/// skipped because their gradients are zero (the fused convolution +
/// max pooling sums only each window's maximum). Always counted: one atomic
/// add per op, so a benchmark can report the FLOPs it really executed.
pub fn add_skipped_flops(flops: u64) {
    SKIPPED.fetch_add(flops, Ordering::Relaxed);
}

/// The FLOPs skipped since the last call, and a fresh start.
pub fn take_skipped_flops() -> u64 {
    SKIPPED.swap(0, Ordering::Relaxed)
}
