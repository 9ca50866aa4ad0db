//! Masked sequences through the fused cells. A masked step leaves a
//! recurrent layer's states as they were, so the states after step `t` of a
//! sequence are those after its kept steps up to `t`. Packing each
//! sequence's kept steps to its front makes one unmasked sequence for the
//! cells (the steps after the kept ones are never read back, so they give no
//! gradient); the states at every step are then gathered from the packed run.

use strata_core::{Result, Tensor};

/// Where each step of a masked batch `[batch, steps]` comes from and goes to.
pub(crate) struct Packing {
    batch: usize,
    steps: usize,
    /// For each `(row, j)` of the packed input: the flat `(row, step)` it reads.
    pack: Vec<usize>,
    /// For each `(row, step)`: the flat `(row, k)` of the packed states with
    /// the start state in front (`k` kept steps up to this one).
    unpack: Vec<usize>,
    /// For each row: the flat `(row, k)` after all its kept steps.
    last: Vec<usize>,
}

impl Packing {
    /// From the mask's values, `keep[row · steps + step]`.
    pub(crate) fn new(keep: &[bool], batch: usize, steps: usize) -> Packing {
        let (mut pack, mut unpack, mut last) = (Vec::with_capacity(batch * steps), Vec::with_capacity(batch * steps), Vec::with_capacity(batch));
        for (row, kept) in keep.chunks(steps).enumerate() {
            let positions: Vec<usize> = (0..steps).filter(|&s| kept[s]).collect();
            // The tail past the kept steps reads step 0: any step would do, as nothing reads its states.
            pack.extend((0..steps).map(|j| row * steps + positions.get(j).copied().unwrap_or(0)));
            let mut count = 0;
            for &k in kept {
                count += usize::from(k);
                unpack.push(row * (steps + 1) + count);
            }
            last.push(row * (steps + 1) + positions.len());
        }
        Packing { batch, steps, pack, unpack, last }
    }

    /// `x [batch, steps, features]` with each row's kept steps first.
    pub(crate) fn pack(&self, x: &Tensor) -> Result<Tensor> {
        let features = x.shape()[2] as isize;
        let rows = (self.batch * self.steps) as isize;
        x.reshape(&[rows, features])?.gather(0, &self.pack)?.reshape(&[self.batch as isize, self.steps as isize, features])
    }

    /// `[batch, steps + 1, units]`: `start [batch, units]`, then the packed run's `states`.
    fn with_start(&self, states: &Tensor, start: &Tensor) -> Result<Tensor> {
        let units = states.shape()[2] as isize;
        Tensor::concat(&[start.unsqueeze(1)?, states.clone()], 1)?.reshape(&[(self.batch * (self.steps + 1)) as isize, units])
    }

    /// Each step's state from the packed run's `states [batch, steps, units]`:
    /// that after the kept steps up to it (`start` before the first).
    pub(crate) fn unpack(&self, states: &Tensor, start: &Tensor) -> Result<Tensor> {
        let units = states.shape()[2] as isize;
        self.with_start(states, start)?.gather(0, &self.unpack)?.reshape(&[self.batch as isize, self.steps as isize, units])
    }

    /// The final state of each row: that after all its kept steps (`start` if none).
    pub(crate) fn last(&self, states: &Tensor, start: &Tensor) -> Result<Tensor> {
        self.with_start(states, start)?.gather(0, &self.last)
    }
}
