//! What `fit` does on each rank when a model trains on several (see the
//! module's documentation): the start-up checks and copies, and the split
//! of each global batch.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use strata_core::backend::Update;
use strata_core::{Error, Result};

use super::{share, Collective, Shard};
use crate::data::dataset::{Batch, Dataset};
use crate::model::Model;

/// One rank's part in data-parallel training.
pub(crate) struct DataParallel {
    pub(crate) group: Arc<dyn Collective>,
}

/// What every rank must agree on before training, in the order checked.
const AGREED: [&str; 4] = ["model", "training data", "training options", "optimizer state"];

fn fingerprint(value: impl Hash) -> u64 {
    // DefaultHasher::new() has fixed keys: the same value hashes the same in every process of one binary.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// The data's size and shapes and the values of its first, middle and last samples.
fn data_fingerprint(train: &Dataset) -> Result<u64> {
    let n = train.len();
    let rows = vec![0, n / 2, n.saturating_sub(1)];
    let probe = train.clone().batch_size(3).batches(rows)?.next().transpose()?;
    let mut values: Vec<u32> = Vec::new();
    if let Some(b) = probe {
        for t in b.inputs.iter().chain(&b.targets) {
            values.extend(t.to_vec().iter().map(|v| v.to_bits()));
        }
    }
    Ok(fingerprint((n, train.input_shapes(), train.target_shape(), values)))
}

impl DataParallel {
    /// The model's group of ranks (its own, else the default), when it has more than one.
    pub(crate) fn for_model(model: &Model) -> Option<DataParallel> {
        let group = model.collective.clone().or_else(super::default_group)?;
        (group.size() > 1).then_some(DataParallel { group })
    }

    pub(crate) fn rank(&self) -> usize {
        self.group.rank()
    }

    /// Refuses batches some rank would get no row of and ranks that were
    /// started differently, then gives every rank rank 0's weights,
    /// shuffling state and random streams.
    pub(crate) fn start(&self, model: &mut Model, train: &Dataset, epochs: (usize, usize)) -> Result<()> {
        let (n, batch, samples) = (self.group.size(), train.get_batch_size(), train.len());
        let last = samples % batch;
        if batch < n || (last != 0 && last < n) {
            return Err(Error::argument(
                "batch_size",
                format!("{n} ranks need at least {n} samples in every batch: a batch size of {batch} over {samples} samples leaves a batch of {}; choose a batch size whose every batch has {n} or more", if batch < n { batch } else { last }),
            ));
        }
        let ours = [
            fingerprint(model.to_json().to_string()),
            data_fingerprint(train)?,
            fingerprint((batch, epochs, train.is_shuffled())),
            model.optimizer().map_or(0, |o| o.iterations()),
        ];
        let all = self.group.all_gather_u64(&ours)?;
        for (rank, theirs) in all.chunks_exact(ours.len()).enumerate().skip(1) {
            if let Some(i) = (0..ours.len()).find(|&i| theirs[i] != all[i]) {
                return Err(Error::argument("ranks", format!("rank {rank} differs from rank 0 in its {}: every rank must run the same command on the same files", AGREED[i])));
            }
        }
        let weights = model.all_weights();
        let mut values: Vec<f32> = weights.iter().flat_map(|w| w.tensor.to_vec()).collect();
        self.group.broadcast(&mut values)?;
        let mut at = 0;
        for w in &weights {
            let k = w.tensor.numel();
            let value = strata_core::Tensor::new(values[at..at + k].to_vec(), w.tensor.shape())?;
            w.tensor.backend().update(Update::Assign, &w.tensor, &[], &value)?;
            at += k;
        }
        let streams = model.random_streams();
        let mut states: Vec<u64> = model.shuffle_rng.state().to_vec();
        states.extend(streams.iter().flat_map(|(_, s)| *s));
        self.group.broadcast_u64(&mut states)?;
        model.shuffle_rng = strata_core::Rng::from_state(states[..4].try_into().expect("four words"));
        let restored: Vec<(String, [u64; 4])> = streams.iter().zip(states[4..].chunks_exact(4)).map(|((name, _), s)| (name.clone(), s.try_into().expect("four words"))).collect();
        model.set_random_streams(&restored)
    }

    /// Whether any rank says yes.
    pub(crate) fn any(&self, yes: bool) -> Result<bool> {
        Ok(self.group.all_gather_u64(&[yes as u64])?.contains(&1))
    }

    /// This rank's rows of a global `batch`, and its place in the batch.
    pub(crate) fn shard(&self, batch: &Batch) -> Result<(Batch, Shard)> {
        let global_rows = batch.len();
        let (offset, rows) = share(global_rows, self.group.size(), self.group.rank());
        let cut = |t: &strata_core::Tensor| t.narrow(0, offset, rows);
        let mine = Batch {
            inputs: batch.inputs.iter().map(cut).collect::<Result<_>>()?,
            targets: batch.targets.iter().map(cut).collect::<Result<_>>()?,
            sample_weight: batch.sample_weight.as_ref().map(cut).transpose()?,
        };
        Ok((mine, Shard { collective: self.group.clone(), offset, rows, global_rows }))
    }
}
