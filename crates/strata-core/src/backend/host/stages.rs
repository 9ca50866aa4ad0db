//! Stages of work over a recurrent op's parts, run in lockstep by a team of
//! threads: each stage runs every part once (the parts at once, on up to one
//! thread each), and the next stage starts when every part of this one is
//! done. A recurrent op's steps are such stages, one after the other, and
//! each is short (tens of microseconds): where a parallel loop per step
//! hands its work to the other threads and waits for them to pick it up
//! (microseconds, each time), the team's threads stay in the loop and meet
//! at a counter.
//!
//! No thread waits for a part that no thread has claimed: a thread that
//! finds every part of a stage claimed waits only for the threads running
//! them, and a thread that finds parts unclaimed runs them itself. So if the
//! other threads are busy elsewhere and join late, or never, the first runs
//! every part (as a serial loop would); a part never depends on which thread
//! runs it, so the results are the same bits either way. Each thread first
//! tries the parts it ran the stage before, so a part's data stays in one
//! core's cache.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Spins before a waiting thread starts yielding its core.
const SPINS: usize = 1 << 12;

/// Runs `work(part, stage)` for every stage in `0..stages` and every part,
/// a stage after every part of the one before has finished.
pub(super) fn run_stages<P: Send>(parts: &mut [P], stages: usize, work: impl Fn(&mut P, usize) + Sync) {
    let threads = crate::threads::num_threads().min(parts.len());
    if threads < 2 {
        for stage in 0..stages {
            parts.iter_mut().for_each(|p| work(p, stage));
        }
        return;
    }
    let team = Team {
        parts: parts.as_mut_ptr(),
        count: parts.len(),
        claimed: (0..parts.len()).map(|_| AtomicUsize::new(0)).collect(),
        finished: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
        _parts: std::marker::PhantomData,
    };
    rayon::scope(|scope| {
        for member in 1..threads {
            let (team, work) = (&team, &work);
            scope.spawn(move |_| team.run(member * team.count / threads, stages, work));
        }
        team.run(0, stages, &work);
    });
}

/// The parts and the counters the team's threads meet at.
struct Team<'a, P> {
    parts: *mut P,
    count: usize,
    /// Per part, how many stages have been claimed (a thread claims stage
    /// `s` by moving it from `s` to `s + 1`).
    claimed: Vec<AtomicUsize>,
    /// Parts finished, over all stages: stage `s` is done at `(s + 1)·count`.
    finished: AtomicUsize,
    /// Set when a part's work panicked, so the others stop waiting.
    failed: AtomicBool,
    _parts: std::marker::PhantomData<&'a mut [P]>,
}

// SAFETY: a part is reached only by the one thread that claimed it for the
// current stage (see `Team::run`), and `P: Send`.
unsafe impl<P: Send> Sync for Team<'_, P> {}

/// Marks the team failed if the work it guards panics.
struct Guard<'a>(&'a AtomicBool);

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Release);
        }
    }
}

impl<P: Send> Team<'_, P> {
    /// One thread's share: from the stage the team is at, claims and runs
    /// the unclaimed parts (from `first` on), then waits for the stage to end.
    fn run(&self, first: usize, stages: usize, work: &(impl Fn(&mut P, usize) + Sync)) {
        let mut stage = self.finished.load(Ordering::Acquire) / self.count;
        while stage < stages {
            for i in (0..self.count).map(|k| (first + k) % self.count) {
                if self.claimed[i].compare_exchange(stage, stage + 1, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                    let guard = Guard(&self.failed);
                    // SAFETY: `i < count`, and this thread alone claimed part
                    // `i` for this stage; the part's previous stage finished
                    // (every part of it did) before this one could be claimed,
                    // and its `finished` increment (release) was read (acquire)
                    // before the claim, so its writes are seen here.
                    work(unsafe { &mut *self.parts.add(i) }, stage);
                    drop(guard);
                    self.finished.fetch_add(1, Ordering::Release);
                }
            }
            let end = (stage + 1) * self.count;
            let mut spins = 0;
            while self.finished.load(Ordering::Acquire) < end {
                if self.failed.load(Ordering::Acquire) {
                    return;
                }
                spins += 1;
                if spins < SPINS {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            stage += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_every_stage_in_order() {
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                // Each part writes the stage it ran to its slot of a board
                // and notes the lowest and highest slot it saw: at stage `s`
                // every slot holds `s` (written at the stage before) or `s + 1`
                // (already written at this one), never less or more.
                let board: Vec<AtomicUsize> = (0..5).map(|_| AtomicUsize::new(0)).collect();
                let mut parts: Vec<(usize, Vec<(usize, usize)>)> = (0..5).map(|i| (i, Vec::new())).collect();
                run_stages(&mut parts, 40, |(i, seen), stage| {
                    let slots = board.iter().map(|b| b.load(Ordering::Relaxed));
                    seen.push((slots.clone().min().unwrap(), slots.max().unwrap()));
                    board[*i].store(stage + 1, Ordering::Relaxed);
                });
                for (_, seen) in &parts {
                    assert_eq!(seen.len(), 40, "{threads} threads");
                    for (stage, &(low, high)) in seen.iter().enumerate() {
                        assert!(low >= stage && high <= stage + 1, "{threads} threads, stage {stage}: slots {low}..={high}");
                    }
                }
            });
        }
    }

    #[test]
    fn a_panicking_part_reaches_the_caller_and_nobody_hangs() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let caught = pool.install(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut parts: Vec<usize> = (0..4).collect();
                run_stages(&mut parts, 10, |p, stage| {
                    if stage == 3 && *p == 1 {
                        panic!("part 1 failed at stage 3");
                    }
                });
            }))
        });
        assert!(caught.is_err());
    }
}
