//! Ranks as threads of one process: the same data-parallel training as
//! under `mpirun`, without MPI, for tests and for checking that a model
//! trains the same on N ranks as on one.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use strata_core::{Error, Result};

use super::Collective;

/// A group of ranks that are threads of this process.
///
/// ```
/// use strata::distributed::{all_reduce_sum, LocalGroup};
///
/// let sums = LocalGroup::run(3, |group| all_reduce_sum(group.as_ref(), &[group.rank() as f32, 1.0]).unwrap());
/// assert!(sums.iter().all(|s| s == &[3.0, 3.0]));
/// ```
pub struct LocalGroup;

impl LocalGroup {
    /// Runs `f` on `n` threads, one per rank, each given its rank's group;
    /// returns what each returned, in rank order. A rank that returns or
    /// panics while others wait for it makes their calls fail, naming it.
    pub fn run<T: Send>(n: usize, f: impl Fn(Arc<dyn Collective>) -> T + Sync) -> Vec<T> {
        let exchange = Arc::new(Exchange { size: n.max(1), state: Mutex::new(State::default()), changed: Condvar::new() });
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n.max(1))
                .map(|rank| {
                    let member = Arc::new(Member { rank, calls: Mutex::new(0), exchange: exchange.clone() });
                    let f = &f;
                    scope.spawn(move || {
                        let _leave = Leave(member.clone());
                        f(member)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        })
    }
}

/// How long a rank waits for the others before its call fails.
const PATIENCE: Duration = Duration::from_secs(120);

struct Exchange {
    size: usize,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Call number -> each rank's contribution, and how many ranks have read it.
    rounds: HashMap<u64, (Vec<Option<Arc<Vec<u64>>>>, usize)>,
    /// Ranks whose thread has ended.
    left: Vec<usize>,
}

struct Member {
    rank: usize,
    calls: Mutex<u64>,
    exchange: Arc<Exchange>,
}

/// Marks a rank as gone when its thread ends, however it ends.
struct Leave(Arc<Member>);

impl Drop for Leave {
    fn drop(&mut self) {
        let ex = &self.0.exchange;
        ex.state.lock().unwrap_or_else(|e| e.into_inner()).left.push(self.0.rank);
        ex.changed.notify_all();
    }
}

impl Member {
    /// Every rank's `data` for this rank's next call, in rank order.
    fn exchange(&self, data: Vec<u64>) -> Result<Vec<Arc<Vec<u64>>>> {
        let call = {
            let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
            *calls += 1;
            *calls
        };
        let ex = &self.exchange;
        let mut state = ex.state.lock().unwrap_or_else(|e| e.into_inner());
        state.rounds.entry(call).or_insert_with(|| (vec![None; ex.size], 0)).0[self.rank] = Some(Arc::new(data));
        ex.changed.notify_all();
        let started = Instant::now();
        loop {
            let (slots, _) = &state.rounds[&call];
            if slots.iter().all(Option::is_some) {
                break;
            }
            let missing: Vec<usize> = (0..ex.size).filter(|&r| slots[r].is_none()).collect();
            if let Some(gone) = missing.iter().find(|r| state.left.contains(r)) {
                return Err(Error::State(format!("rank {}: rank {gone} left the group before collective call {call}", self.rank)));
            }
            if started.elapsed() > PATIENCE {
                return Err(Error::State(format!("rank {}: waited {} s for rank(s) {missing:?} at collective call {call}", self.rank, PATIENCE.as_secs())));
            }
            state = ex.changed.wait_timeout(state, Duration::from_millis(200)).unwrap_or_else(|e| e.into_inner()).0;
        }
        let round = state.rounds.get_mut(&call).expect("present");
        let all: Vec<Arc<Vec<u64>>> = round.0.iter().map(|s| s.clone().expect("filled")).collect();
        round.1 += 1;
        if round.1 == ex.size {
            state.rounds.remove(&call);
        }
        Ok(all)
    }

    fn floats(&self, data: &[f32]) -> Result<Vec<Vec<f32>>> {
        let all = self.exchange(data.iter().map(|v| v.to_bits() as u64).collect())?;
        Ok(all.iter().map(|v| v.iter().map(|&b| f32::from_bits(b as u32)).collect()).collect())
    }
}

impl Collective for Member {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.exchange.size
    }
    fn all_gather(&self, data: &[f32]) -> Result<Vec<f32>> {
        Ok(self.floats(data)?.concat())
    }
    fn all_gather_u64(&self, data: &[u64]) -> Result<Vec<u64>> {
        Ok(self.exchange(data.to_vec())?.iter().flat_map(|v| v.iter().copied()).collect())
    }
    fn all_to_all(&self, data: &[f32]) -> Result<Vec<f32>> {
        let chunk = data.len() / self.size();
        Ok(self.floats(data)?.iter().flat_map(|from| from[self.rank * chunk..(self.rank + 1) * chunk].to_vec()).collect())
    }
    fn broadcast(&self, data: &mut [f32]) -> Result<()> {
        let all = self.floats(data)?;
        data.copy_from_slice(&all[0]);
        Ok(())
    }
    fn broadcast_u64(&self, data: &mut [u64]) -> Result<()> {
        let all = self.exchange(data.to_vec())?;
        data.copy_from_slice(&all[0]);
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        panic!("rank {} aborted the group (code {code})", self.rank)
    }
}
