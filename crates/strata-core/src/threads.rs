//! One thread pool for the whole process (rayon's global pool). Its size is
//! the machine's core count unless set by [`set_num_threads`] or the
//! `STRATA_THREADS` environment variable. Idle workers sleep rather than spin,
//! so Strata stays fast on a machine that is busy with other work.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::autodiff::enable_grad;
use crate::error::{Error, Result};

/// Sizes the pool. Must be called before the first op runs; later calls
/// that ask for the size the pool already has succeed, others fail.
pub fn set_num_threads(n: usize) -> Result<()> {
    build_pool(n, false)
}

/// Sizes the pool from `n`, else `STRATA_THREADS`, else the core count,
/// with the calling thread as one of its workers (from two threads up), and
/// reads `STRATA_ADAPTIVE_THREADS` as [`init_from_env`] does. For a
/// program's main thread, which then runs the model: its parallel loops
/// split their work with the other workers directly, where a thread outside
/// the pool hands every loop to the pool and sleeps until it is done (the
/// wake-up costs about 20 µs on a virtual machine, much of one image's
/// inference). Other threads' loops still run on the other workers. The
/// thread must live as long as the program; with one thread the pool is
/// built without it (its only worker could be busy elsewhere while another
/// thread waits for a loop). Strata calls this itself the first time the
/// main thread runs a training step or an inference, unless the pool was
/// built before.
pub fn init_on_main(n: Option<usize>) -> Result<()> {
    read_adaptive_env();
    let n = match n.or(env_threads()?) {
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    build_pool(n, n >= 2)
}

/// Puts the program's main thread in the pool as [`init_on_main`] does, the
/// first time it runs a training step or an inference, when nothing has
/// built the pool yet: so a program that never calls `init_on_main` (the
/// headline example, most library users) gets the same speed as the CLI
/// (1.22x the headline CNN's training, main thread outside the pool). Only
/// the thread Rust names `main`, which lives as long as the program.
/// `fit`, `evaluate` and `predict` call it before their first parallel loop
/// (which would build the pool without the main thread).
///
/// The main thread then takes pool work only while it runs Strata (or other
/// rayon calls): a program whose main thread later blocks (joining threads,
/// an event loop) while other threads run parallel loops has one worker
/// fewer meanwhile, and a `rayon::broadcast` from another thread waits for
/// it. Such a program calls [`set_num_threads`] first, which builds the pool
/// without the main thread.
pub fn join_from_main() {
    static TRIED: AtomicBool = AtomicBool::new(false);
    if TRIED.load(Ordering::Relaxed) {
        return;
    }
    if std::thread::current().name() == Some("main") && !TRIED.swap(true, Ordering::Relaxed) {
        match env_threads() {
            Err(e) => eprintln!("warning: {e}; the thread pool keeps its default size"),
            // Fails when the pool was built already (then it is left as it is).
            Ok(n) => drop(init_on_main(n)),
        }
    }
}

fn build_pool(n: usize, with_caller: bool) -> Result<()> {
    if n == 0 {
        return Err(Error::argument("threads", "the thread count must be at least 1, got 0"));
    }
    let builder = rayon::ThreadPoolBuilder::new().num_threads(n);
    let built = if with_caller { builder.use_current_thread() } else { builder }.build_global();
    match built {
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
    read_adaptive_env();
    match env_threads()? {
        Some(n) => set_num_threads(n),
        None => Ok(()),
    }
}

fn read_adaptive_env() {
    if std::env::var("STRATA_ADAPTIVE_THREADS").is_ok_and(|v| v.trim() == "0") {
        set_adaptive(false);
    }
}

/// `STRATA_THREADS`, when it is set.
fn env_threads() -> Result<Option<usize>> {
    match std::env::var("STRATA_THREADS") {
        Ok(v) => v.trim().parse::<usize>().map(Some).map_err(|_| {
            Error::argument("STRATA_THREADS", format!("expected a positive integer, got {v:?}"))
        }),
        Err(_) => Ok(None),
    }
}

/// The number of threads kernels may use.
pub fn num_threads() -> usize {
    rayon::current_num_threads()
}

/// Whether other programs keep the cores busy. It is judged from CPU time:
/// what the cores this process may run on spent busy (`/proc/stat`'s per-CPU
/// lines) less what this process itself used (`/proc/self/stat`), averaged
/// over about [`WINDOW_SECS`]. Counting time, not runnable tasks, keeps this
/// process's own threads (a dashboard's server, a dataset's reading thread)
/// and the brief wake-ups of other programs (a browser drawing a chart) from
/// reading as contention. Linux only; elsewhere never busy.
struct Contention {
    last: Option<Sample>,
    /// Other programs' use of the allowed cores, in cores, averaged.
    others: f64,
    /// Whether `others` holds a measurement yet.
    primed: bool,
    busy: bool,
}

/// Cumulative CPU ticks at one instant.
#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    /// Busy ticks of the allowed cores (nice time only when this process is niced).
    busy: u64,
    /// This process's user and system ticks.
    own: u64,
}

static CONTENTION: Mutex<Contention> = Mutex::new(Contention { last: None, others: 0.0, primed: false, busy: false });
static BUSY: AtomicBool = AtomicBool::new(false);
static ADAPTIVE: AtomicBool = AtomicBool::new(true);
static SINGLE: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
static ALLOWED: OnceLock<Option<Vec<usize>>> = OnceLock::new();

/// Turns the busy-machine fallback on or off (on by default; `STRATA_ADAPTIVE_THREADS=0` turns it off).
pub fn set_adaptive(on: bool) {
    ADAPTIVE.store(on, Ordering::Relaxed);
}

/// How often the two files are read: reading them costs ~20-40 µs, and the
/// kernel counts in ticks of 10 ms, so shorter intervals only add noise.
const SAMPLE_SECS: f64 = 0.1;
/// The span other programs' use is averaged over: long enough that a page
/// redrawing or a burst of connections does not flip the mode, short enough
/// that a program that takes a core is noticed within half a second.
const WINDOW_SECS: f64 = 0.4;
/// Kernel ticks per second (`USER_HZ`, 100 on every Linux architecture Strata runs on).
const TICKS_PER_SEC: f64 = 100.0;

/// The CPUs this process may run on, from `Cpus_allowed_list` (`0-3,8`).
fn allowed_cpus() -> Option<Vec<usize>> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let list = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?;
    let mut cpus = Vec::new();
    for part in list.trim().split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
        cpus.extend(a..=b);
    }
    Some(cpus)
}

fn sample() -> Option<Sample> {
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which may itself hold spaces: state is
    // field 3, utime and stime 14 and 15, nice 19.
    let fields: Vec<&str> = own.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<i64>().ok());
    let own_ticks = (field(14)? + field(15)?) as u64;
    let niced = field(19)? > 0;
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let allowed = ALLOWED.get_or_init(allowed_cpus).as_deref();
    let mut busy = 0;
    for line in stat.lines().take_while(|l| l.starts_with("cpu")) {
        let mut parts = line.split_whitespace();
        let Some(cpu) = parts.next().and_then(|name| name.strip_prefix("cpu")) else { continue };
        let counted = match (cpu.parse::<usize>(), allowed) {
            (Ok(n), Some(allowed)) => allowed.contains(&n),
            (Ok(_), None) => false,
            (Err(_), allowed) => allowed.is_none(),
        };
        if !counted {
            continue;
        }
        let t: Vec<u64> = parts.map(|p| p.parse().unwrap_or(0)).collect();
        // user nice system idle iowait irq softirq steal
        let tick = |i: usize| t.get(i).copied().unwrap_or(0);
        busy += tick(0) + tick(2) + tick(5) + tick(6) + tick(7) + if niced { tick(1) } else { 0 };
    }
    Some(Sample { at: Instant::now(), busy, own: own_ticks })
}

impl Contention {
    /// Folds in a new sample when the last is at least [`SAMPLE_SECS`] old.
    fn update(&mut self, threads: usize) {
        if self.last.is_some_and(|s| s.at.elapsed().as_secs_f64() < SAMPLE_SECS) {
            return;
        }
        let Some(now) = sample() else { return };
        let Some(last) = self.last.replace(now) else { return };
        let secs = now.at.duration_since(last.at).as_secs_f64();
        let busy = now.busy.saturating_sub(last.busy) as f64;
        let own = now.own.saturating_sub(last.own) as f64;
        let others = ((busy - own) / TICKS_PER_SEC / secs).max(0.0);
        // The first interval stands alone, so a run that starts beside a
        // busy program reacts after one interval.
        let weight = if self.primed { (secs / WINDOW_SECS).min(1.0) } else { 1.0 };
        self.primed = true;
        self.others += weight * (others - self.others);
        // With other work on the cores a second worker mostly waits for a
        // preempted sibling at every join; one worker is faster. One other
        // busy program on two cores takes about two thirds of a core beside
        // two workers and a whole one beside one; hysteresis keeps a single
        // burst from flipping the mode.
        let spare = threads.saturating_sub(1) as f64;
        self.busy = if self.busy { self.others > 0.3 * spare } else { self.others >= 0.5 * spare };
    }
}

fn update_contention() -> bool {
    // The training loop is the one caller; never wait for a lock here.
    if let Ok(mut c) = CONTENTION.try_lock() {
        c.update(num_threads());
        BUSY.store(c.busy, Ordering::Relaxed);
    }
    BUSY.load(Ordering::Relaxed)
}

/// Runs one unit of work (a training step) on all threads, or, while other
/// programs keep the cores busy, on a single worker. On all threads the
/// other workers are kept looking for work through the step and
/// `LINGER` (2 ms) after it ([`keep_awake`]).
///
/// The step runs on a worker of the pool when the calling thread is not
/// one: a thread other than the main thread, a main thread whose pool was
/// built before Strata could add it, or any program on one thread (whose
/// pool is built without the caller). From outside the pool each of a
/// step's parallel loops (dozens for the headline CNN) would be handed to
/// the pool while the caller sleeps, a hand-off and a wake-up per loop: on
/// one thread that made the headline CNN's training 2.5x slower than on two.
///
/// A worker waiting inside one step's parallel loop may take up another
/// thread's whole step meanwhile (two models trained on two threads), in
/// the middle of the first one's backward pass, which records no graph: so
/// the step turns graph recording on for itself ([`enable_grad`]).
pub fn run_step<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    join_from_main();
    if !ADAPTIVE.load(Ordering::Relaxed) || num_threads() < 2 || !update_contention() {
        let step = || {
            let (_step, _grad) = (Step::start(), enable_grad());
            f()
        };
        return on_worker(step);
    }
    let single = SINGLE.get_or_init(|| rayon::ThreadPoolBuilder::new().num_threads(1).thread_name(|_| "strata-single".into()).build().ok());
    match single {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

/// How long the other workers keep looking for work after the last call to
/// [`keep_awake`]: longer than the gap between two training steps (the next
/// batch, the metrics, the callbacks), short enough to cost little after the last.
const LINGER: Duration = Duration::from_millis(2);

/// How many workers are being kept awake, how many steps are running, and
/// when [`keep_awake`] was last called or a step ended (microseconds from `EPOCH`).
static AWAKE: AtomicUsize = AtomicUsize::new(0);
static STEPS: AtomicUsize = AtomicUsize::new(0);
static LAST_CALL: AtomicU64 = AtomicU64::new(0);
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// A running training step: the workers stay awake while it runs.
struct Step;

impl Step {
    fn start() -> Step {
        STEPS.fetch_add(1, Ordering::AcqRel);
        keep_awake();
        Step
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        LAST_CALL.store(micros_now(), Ordering::Relaxed);
        STEPS.fetch_sub(1, Ordering::AcqRel);
    }
}

fn micros_now() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// Keeps the pool's other workers looking for work, not asleep, while a
/// training step runs ([`run_step`]) and until `LINGER` (2 ms) after the last
/// call or step. An idle rayon worker yields its core a
/// few dozen times (about 30 µs here) and then sleeps, and waking it costs
/// tens of microseconds on a virtual machine, more than some parallel loops
/// take: on the project's 2-core VM the headline CNN's first convolution
/// (53 µs forward) took 72 µs after 10-40 µs of serial work on the calling
/// thread and 138 µs after 80 µs or more, when the sleeping worker never
/// joined in (a probe timing it after a busy gap). A training step's serial
/// stretches (the loss, the metrics, the next batch) are that long. So each
/// other worker runs a job that takes pool work as it appears
/// (`rayon::yield_now`) and otherwise yields its core, until the steps stop.
pub fn keep_awake() {
    LAST_CALL.store(micros_now(), Ordering::Relaxed);
    // The calling thread's own copy returns at once: it is the one doing the
    // serial work. A new round starts only once every worker of the last has
    // left its loop (a round started while some still ran would nest in them).
    let caller = rayon::current_thread_index();
    let others = num_threads() - caller.is_some() as usize;
    if num_threads() < 2 || AWAKE.compare_exchange(0, others, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return;
    }
    let linger = LINGER.as_micros() as u64;
    rayon::spawn_broadcast(move |ctx| {
        if Some(ctx.index()) == caller {
            return;
        }
        while STEPS.load(Ordering::Acquire) > 0 || micros_now().saturating_sub(LAST_CALL.load(Ordering::Relaxed)) < linger {
            if rayon::yield_now() != Some(rayon::Yield::Executed) {
                // Other programs' threads get the core (spinning instead made
                // training beside a busy core 2x slower with the fallback off).
                std::thread::yield_now();
            }
        }
        AWAKE.fetch_sub(1, Ordering::AcqRel);
    });
}

/// Runs `f` on a worker of the pool (in place when called from one). Called
/// from outside the pool, every parallel loop inside `f` would hand its
/// whole loop to the pool and sleep until it is done, a hand-off and a
/// wake-up per loop; run on a worker, the loops split their work with the
/// other workers directly. For many short loops in a row (one image's
/// inference).
///
/// The caller waits for `f` yielding its core, then, after `YIELD` (500 µs),
/// parked: rayon's own wait puts the caller to sleep at once, and waking a
/// sleeping thread costs about 20 µs on a virtual machine, as much as half
/// of one image's inference. Yielding, not spinning, leaves the caller's
/// core to the workers (on two cores a spinning caller made one image 30%
/// slower than a yielding one).
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    join_from_main();
    if rayon::current_thread_index().is_some() {
        return f();
    }
    let result = Mutex::new(None);
    let done = AtomicBool::new(false);
    let caller = std::thread::current();
    rayon::in_place_scope(|scope| {
        scope.spawn(|_| {
            // Set even when `f` panics (the scope then carries the panic on).
            let _done = Done(&done, &caller);
            let value = f();
            *result.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
        });
        let started = Instant::now();
        while !done.load(Ordering::Acquire) {
            if started.elapsed() < YIELD {
                std::thread::yield_now();
            } else {
                std::thread::park_timeout(Duration::from_millis(1));
            }
        }
    });
    result.into_inner().unwrap_or_else(|e| e.into_inner()).expect("the pool ran the job to its end")
}

/// Runs `f` on a worker of the pool (in place when called from one), the
/// caller asleep meanwhile (rayon's own wait, as `install`): for work long
/// enough that waking the caller costs little (a training step, a batch's
/// evaluation), where [`on_pool`]'s yielding caller kept a second core busy
/// (0.5 s of system time in a 1.2 s one-thread training run, against 0.05).
pub fn on_worker<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match rayon::current_thread_index() {
        Some(_) => f(),
        None => rayon::scope(|_| f()),
    }
}

/// How long [`on_pool`]'s caller yields before it parks.
const YIELD: Duration = Duration::from_micros(500);

/// Marks a job done and wakes its caller, when dropped.
struct Done<'a>(&'a AtomicBool, &'a std::thread::Thread);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
        self.1.unpark();
    }
}

/// Whether the last step ran on a single worker because the machine was busy.
pub fn is_contended() -> bool {
    BUSY.load(Ordering::Relaxed)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Feeds samples for `secs` while `load` runs, returning the averaged
    /// use of others and the verdict for a two-worker pool.
    fn watch(secs: f64) -> Contention {
        let mut c = Contention { last: None, others: 0.0, primed: false, busy: false };
        let start = Instant::now();
        while start.elapsed().as_secs_f64() < secs {
            c.update(2);
            std::thread::sleep(Duration::from_millis(20));
        }
        c
    }

    #[test]
    fn counts_other_programs_not_this_one() {
        assert!(sample().is_some(), "/proc/stat and /proc/self/stat should be readable on Linux");
        // What other programs already take: the test reads the change it makes against it.
        let before = watch(1.0).others;
        // A thread of this process spinning on a core is this process's own work.
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let spin = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        };
        let own = watch(1.5);
        stop.store(true, Ordering::Relaxed);
        spin.join().unwrap();
        assert!(own.others < before + 0.4, "this process's own busy thread read as another program ({:.2} cores, {before:.2} before)", own.others);
        if before > 0.25 {
            eprintln!("skipped the other-program half: other programs already use {before:.2} cores");
            return;
        }
        assert!(!own.busy, "this process's own busy thread read as another program ({:.2} cores)", own.others);
        // Another program spinning on a core is contention.
        let Ok(mut hog) = std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn() else {
            eprintln!("skipped the other-program half: no sh to spin");
            return;
        };
        let other = watch(1.5);
        hog.kill().ok();
        hog.wait().ok();
        eprintln!("others' use: {:.2} cores with a thread of this process spinning, {:.2} with another program spinning", own.others, other.others);
        assert!(other.busy, "a program spinning on a core was not noticed ({:.2} cores)", other.others);
        assert!(other.others > 0.5 && other.others < 1.6, "others {:.2} cores", other.others);
    }

    #[test]
    fn on_pool_runs_on_a_worker_and_in_place_on_one() {
        assert_eq!(rayon::current_thread_index(), None, "tests run outside the pool");
        let inside = on_pool(|| (rayon::current_thread_index(), on_pool(rayon::current_thread_index)));
        assert!(inside.0.is_some() && inside.0 == inside.1, "{inside:?}");
    }

    #[test]
    fn on_pool_waits_out_a_long_job_and_carries_a_panic() {
        // Longer than the yield: the caller parks, and the job wakes it.
        let slept = on_pool(|| {
            std::thread::sleep(Duration::from_millis(30));
            rayon::current_thread_index()
        });
        assert!(slept.is_some());
        let caught = std::panic::catch_unwind(|| on_pool(|| -> usize { panic!("in the job") }));
        let message = caught.expect_err("the job's panic reaches the caller");
        assert_eq!(message.downcast_ref::<&str>(), Some(&"in the job"));
        // The pool still works after it.
        assert_eq!(on_pool(|| 7), 7);
    }

    #[test]
    fn workers_kept_awake_take_the_work_and_stop_after_the_steps() {
        // Steps from outside the pool and from inside it give their loops' results.
        let sum = |n: u64| run_step(|| {
            use rayon::prelude::*;
            (0..n).into_par_iter().sum::<u64>()
        });
        assert_eq!(sum(10_000), 49_995_000);
        assert_eq!(rayon::scope(|_| sum(1_000)), 499_500);
        // The kept-awake jobs end soon after the last step, on any pool size.
        let start = Instant::now();
        while AWAKE.load(Ordering::Acquire) > 0 && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(AWAKE.load(Ordering::Acquire), 0, "workers still kept awake {:?} after the last step", start.elapsed());
    }
}
