//! Data-parallel training across processes: every process (rank) holds the
//! whole model, trains on its share of each global batch, and the ranks
//! sum their gradients before the optimizer, so that N processes train the
//! model one process would with the same global batch.
//!
//! Under `mpirun` (with the `mpi` feature, `mpi::init`) `fit` does this on
//! its own; [`LocalGroup`] runs ranks as threads of one process, which the
//! tests use to check that N ranks equal one without MPI.
//!
//! What `fit` does when a model trains on more than one rank:
//! - at the start, every rank's model config, data, options and optimizer
//!   step are compared (a mismatch is refused, naming the rank) and rank 0's
//!   weights, shuffling state and random streams are copied to the others;
//! - each global batch (the same on every rank) is split into consecutive
//!   shares, rank r taking rows `B·r/N .. B·(r+1)/N`;
//! - gradients are scaled by each share's part of the batch and summed
//!   across ranks in rank order ([`all_reduce_sum`]), before any other
//!   gradient stage (clipping sees the global gradient);
//! - `BatchNormalization` computes its batch statistics over the global
//!   batch (Keras's `synchronized=True`); dropout and the random
//!   augmentations draw for the global batch and keep their rows, so the
//!   ranks together draw what one process would;
//! - losses and metrics are computed over the global batch (predictions are
//!   gathered), so every rank logs what one process would; only rank 0
//!   prints and runs callbacks that write files or serve pages.

mod data_parallel;
mod local;
#[cfg(feature = "mpi")]
pub mod mpi;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use strata_core::{Error, Gradients, Result, Tensor};

pub(crate) use data_parallel::DataParallel;
pub use local::LocalGroup;

/// The operations data-parallel training needs from a group of ranks. Every
/// rank must make the same calls in the same order, with the same lengths.
pub trait Collective: Send + Sync {
    /// This rank, `0..size()`.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// Every rank's `data` (all of one length), concatenated in rank order.
    fn all_gather(&self, data: &[f32]) -> Result<Vec<f32>>;
    /// [`Collective::all_gather`] for 64-bit integers (fingerprints, counts).
    fn all_gather_u64(&self, data: &[u64]) -> Result<Vec<u64>>;
    /// Sends chunk k of `data` (`data.len() / size()` values each) to rank k;
    /// returns the chunks this rank received, in rank order.
    fn all_to_all(&self, data: &[f32]) -> Result<Vec<f32>>;
    /// Overwrites `data` with rank 0's (the same length on every rank).
    fn broadcast(&self, data: &mut [f32]) -> Result<()>;
    /// [`Collective::broadcast`] for 64-bit integers (random states).
    fn broadcast_u64(&self, data: &mut [u64]) -> Result<()>;
    /// Ends every rank of the run now (after an error on this one), with `code`.
    fn abort(&self, code: i32) -> !;
}

static DEFAULT: OnceLock<Arc<dyn Collective>> = OnceLock::new();

/// Makes `collective` the group every model trains on unless given its own
/// ([`crate::model::Model::set_collective`]); `mpi::init` calls it. Fails if one was set already.
pub fn set_default(collective: Arc<dyn Collective>) -> Result<()> {
    DEFAULT.set(collective).map_err(|_| Error::State("a default group of ranks is already set".into()))
}

/// The group set by [`set_default`], if any.
pub fn default_group() -> Option<Arc<dyn Collective>> {
    DEFAULT.get().cloned()
}

/// This process's rank in the default group (0 when there is none).
pub fn rank() -> usize {
    DEFAULT.get().map_or(0, |c| c.rank())
}

/// The number of ranks in the default group (1 when there is none).
pub fn size() -> usize {
    DEFAULT.get().map_or(1, |c| c.size())
}

/// Whether this process is rank 0 of the default group (or alone): the one
/// that prints and writes files.
pub fn is_primary() -> bool {
    rank() == 0
}

/// The element-wise sum of every rank's `data` (all of one length), the
/// same bits on every rank: each rank sums one slice of the vector over the
/// ranks in rank order (0, 1, ..., N-1), then the slices are gathered. Each
/// rank sends and receives about twice the vector, as a ring all-reduce does.
pub fn all_reduce_sum(c: &dyn Collective, data: &[f32]) -> Result<Vec<f32>> {
    let n = c.size();
    if n == 1 {
        return Ok(data.to_vec());
    }
    let chunk = data.len().div_ceil(n).max(1);
    let mut padded = data.to_vec();
    padded.resize(chunk * n, 0.0);
    let received = c.all_to_all(&padded)?;
    let mut mine = vec![0.0f32; chunk];
    for from in received.chunks_exact(chunk) {
        mine.iter_mut().zip(from).for_each(|(m, v)| *m += v);
    }
    let mut all = c.all_gather(&mine)?;
    all.truncate(data.len());
    Ok(all)
}

/// Rows `offset .. offset + len` of `rows` split among `size` ranks, for `rank`.
pub fn share(rows: usize, size: usize, rank: usize) -> (usize, usize) {
    let start = rows * rank / size;
    (start, rows * (rank + 1) / size - start)
}

/// This rank's place in the global batch of the training step running on
/// this thread.
#[derive(Clone)]
pub struct Shard {
    /// The ranks training together.
    pub collective: Arc<dyn Collective>,
    /// The first row of the global batch this rank trains on.
    pub offset: usize,
    /// How many rows this rank trains on.
    pub rows: usize,
    /// The global batch's rows.
    pub global_rows: usize,
}

thread_local! {
    static CURRENT: RefCell<Option<Shard>> = const { RefCell::new(None) };
}

/// The shard of the training step running on this thread, if it is one rank of several.
pub fn current() -> Option<Shard> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Runs `f` with `shard` as this thread's [`current`] shard.
pub(crate) fn with_shard<R>(shard: Shard, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Shard>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| *c.borrow_mut() = self.0.take());
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.borrow_mut().replace(shard)));
    f()
}

/// Nanoseconds spent summing gradients across ranks, and how many times.
static REDUCE_NANOS: AtomicU64 = AtomicU64::new(0);
static REDUCE_CALLS: AtomicU64 = AtomicU64::new(0);

/// Seconds this process spent summing gradients across ranks, and the
/// number of steps that did (for the all-reduce's share of a step).
pub fn gradient_reduce_time() -> (f64, u64) {
    (REDUCE_NANOS.load(Ordering::Relaxed) as f64 * 1e-9, REDUCE_CALLS.load(Ordering::Relaxed))
}

impl Shard {
    /// This rank's part of the global batch.
    fn part(&self) -> f32 {
        self.rows as f32 / self.global_rows as f32
    }

    /// Replaces the gradients of `params` (this rank's, of the loss over
    /// its rows) by the gradient of the loss over the global batch: each
    /// scaled by this rank's part of the batch, then summed across ranks.
    pub fn all_reduce_gradients(&self, params: &[Tensor], grads: &mut Gradients) -> Result<()> {
        let started = Instant::now();
        let part = self.part();
        let mut flat = Vec::with_capacity(params.iter().map(|p| p.numel()).sum());
        for p in params {
            match grads.get(p) {
                Some(g) => flat.extend(g.to_vec().iter().map(|v| v * part)),
                None => flat.resize(flat.len() + p.numel(), 0.0),
            }
        }
        let summed = all_reduce_sum(self.collective.as_ref(), &flat)?;
        let mut at = 0;
        for p in params {
            let n = p.numel();
            grads.set(p, Tensor::new(summed[at..at + n].to_vec(), p.shape())?)?;
            at += n;
        }
        REDUCE_NANOS.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        REDUCE_CALLS.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Every rank's rows of `t` (this rank's share of a batch), in batch
    /// order: the global batch's tensor.
    pub fn gather_rows(&self, t: &Tensor) -> Result<Tensor> {
        let c = self.collective.as_ref();
        let per_row = t.numel() / self.rows.max(1);
        let widest = self.global_rows.div_ceil(c.size());
        let mut padded = t.to_vec();
        padded.resize(widest * per_row, 0.0);
        let all = c.all_gather(&padded)?;
        let mut rows = Vec::with_capacity(self.global_rows * per_row);
        for (rank, block) in all.chunks_exact(widest * per_row).enumerate() {
            rows.extend_from_slice(&block[..share(self.global_rows, c.size(), rank).1 * per_row]);
        }
        let mut shape = t.shape().to_vec();
        shape[0] = self.global_rows;
        Tensor::new(rows, &shape)
    }

    /// The mean over the global batch of a value each rank computed as a
    /// mean over its rows.
    pub fn global_mean(&self, local: f64) -> Result<f64> {
        let all = self.collective.all_gather(&[(local * self.rows as f64) as f32])?;
        Ok(all.iter().map(|&v| v as f64).sum::<f64>() / self.global_rows as f64)
    }

    /// `t` summed across ranks, as an op. Every rank's loss depends on the
    /// sum, so its gradient gathers every rank's output gradient. Each rank
    /// differentiates the mean loss over its own rows, which the gradient
    /// stage later weighs by the rank's part of the batch; so the output
    /// gradients are summed weighted by each rank's part, and divided by
    /// this rank's: what that weighing then turns into the global gradient.
    pub fn sum_across(&self, t: &Tensor) -> Result<Tensor> {
        let c = self.collective.clone();
        let part = self.part();
        let value = all_reduce_sum(c.as_ref(), &t.to_vec())?;
        let backward: strata_core::BackwardFn = Box::new(move |_inputs: &[Tensor], y: &Tensor, g: &Tensor| {
            let weighted: Vec<f32> = g.to_vec().iter().map(|v| v * part).collect();
            // A backward closure cannot fail; a group that fails here has
            // lost a rank, and MPI ends the run (LocalGroup names the rank).
            let sum = all_reduce_sum(c.as_ref(), &weighted).unwrap_or_else(|e| panic!("summing a gradient across ranks: {e}"));
            vec![Some(Tensor::new(sum.iter().map(|v| v / part).collect(), y.shape()).expect("the gradient has the output's shape"))]
        });
        Tensor::custom_op("sum_across_ranks", std::slice::from_ref(t), value, t.shape(), backward)
    }
}
