//! One thread pool for the whole process (rayon's global pool). Its size is
//! the machine's core count unless set by [`set_num_threads`] or the
//! `STRATA_THREADS` environment variable. Idle workers sleep rather than spin,
//! so Strata stays fast on a machine that is busy with other work.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use crate::error::{Error, Result};

/// Sizes the pool. Must be called before the first op runs; later calls
/// that ask for the size the pool already has succeed, others fail.
pub fn set_num_threads(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::argument("threads", "the thread count must be at least 1, got 0"));
    }
    match rayon::ThreadPoolBuilder::new().num_threads(n).build_global() {
        Ok(()) => Ok(()),
        Err(_) if rayon::current_num_threads() == n => Ok(()),
        Err(_) => Err(Error::argument(
            "threads",
            format!("the thread pool already runs {} threads and cannot be resized to {n}", rayon::current_num_threads()),
        )),
    }
}

/// Sizes the pool from `STRATA_THREADS` when it is set (and reads
/// `STRATA_ADAPTIVE_THREADS=0`, which turns the busy-machine fallback off).
pub fn init_from_env() -> Result<()> {
    if std::env::var("STRATA_ADAPTIVE_THREADS").is_ok_and(|v| v.trim() == "0") {
        set_adaptive(false);
    }
    match std::env::var("STRATA_THREADS") {
        Ok(v) => {
            let n = v.trim().parse::<usize>().map_err(|_| {
                Error::argument("STRATA_THREADS", format!("expected a positive integer, got {v:?}"))
            })?;
            set_num_threads(n)
        }
        Err(_) => Ok(()),
    }
}

/// The number of threads kernels may use.
pub fn num_threads() -> usize {
    rayon::current_num_threads()
}

/// Whether other programs keep the cores busy, judged from the number of
/// runnable tasks the kernel reports (`procs_running` in `/proc/stat`),
/// averaged over recent checks. Linux only; elsewhere never.
struct Contention {
    /// Exponential average of other runnable tasks, in hundredths.
    others: AtomicUsize,
    busy: AtomicBool,
}

static CONTENTION: Contention = Contention { others: AtomicUsize::new(0), busy: AtomicBool::new(false) };
static ADAPTIVE: AtomicBool = AtomicBool::new(true);
static SINGLE: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();

/// Turns the busy-machine fallback on or off (on by default; `STRATA_ADAPTIVE_THREADS=0` turns it off).
pub fn set_adaptive(on: bool) {
    ADAPTIVE.store(on, Ordering::Relaxed);
}

fn procs_running() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().find_map(|l| l.strip_prefix("procs_running ")).and_then(|n| n.trim().parse().ok())
}

/// Samples the machine's load; call between steps, when Strata's own workers are idle.
/// Reading `/proc/stat` costs ~10-25 µs: look at most this often, so short
/// steps of small models do not pay it every time.
const SAMPLE_INTERVAL_NANOS: u64 = 5_000_000;
static LAST_SAMPLE: AtomicU64 = AtomicU64::new(0);
static START: OnceLock<Instant> = OnceLock::new();

fn update_contention() -> bool {
    let now = START.get_or_init(Instant::now).elapsed().as_nanos() as u64 + SAMPLE_INTERVAL_NANOS;
    if now - LAST_SAMPLE.load(Ordering::Relaxed) < SAMPLE_INTERVAL_NANOS {
        return CONTENTION.busy.load(Ordering::Relaxed);
    }
    LAST_SAMPLE.store(now, Ordering::Relaxed);
    let Some(running) = procs_running() else { return false };
    // The calling thread is one of the running tasks.
    let others = running.saturating_sub(1) * 100;
    let avg = CONTENTION.others.load(Ordering::Relaxed);
    let avg = (avg * 7 + others) / 8;
    CONTENTION.others.store(avg, Ordering::Relaxed);
    // With other work on the cores, a second worker mostly waits for a
    // preempted sibling at every join; one worker is faster. Hysteresis
    // keeps a single spike from flipping the mode.
    let spare = num_threads().saturating_sub(1) * 100;
    let busy = CONTENTION.busy.load(Ordering::Relaxed);
    let now_busy = if busy { avg > spare.saturating_sub(50).max(40) } else { avg >= spare.max(60) };
    CONTENTION.busy.store(now_busy, Ordering::Relaxed);
    now_busy
}

/// Runs one unit of work (a training step) on all threads, or, while other
/// programs keep the cores busy, on a single worker.
pub fn run_step<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if !ADAPTIVE.load(Ordering::Relaxed) || num_threads() < 2 || !update_contention() {
        return f();
    }
    let single = SINGLE.get_or_init(|| rayon::ThreadPoolBuilder::new().num_threads(1).thread_name(|_| "strata-single".into()).build().ok());
    match single {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

/// Whether the last step ran on a single worker because the machine was busy.
pub fn is_contended() -> bool {
    CONTENTION.busy.load(Ordering::Relaxed)
}
