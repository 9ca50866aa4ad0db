//! `evaluate` and `predict`, and the target checks they share with `fit`.

use strata_core::{no_grad, Error, Result, Tensor};

use super::callbacks::Logs;
use super::fit::{check_arrays, check_batch_size, Feed};
use super::functional::Model;
use super::train_step::{regularization_penalty, StepLogs};
use crate::data::dataset::Dataset;

/// The most samples `predict` runs through the model at once when every
/// layer computes each sample apart: a larger batch goes in parts of this
/// many, whose activations stay in the caches from one layer to the next
/// (the headline CNN asked for batches of 1,000 on a Zen 5: 75,000
/// samples/s whole, 107,000 in parts of 128; parts of 64 and 256 did a
/// little less).
const PREDICT_PART: usize = 128;

impl Model {
    /// Whether every layer is one of Strata's own, each of which computes
    /// every sample apart from the others in inference, so that a batch can
    /// be predicted in parts. A layer of the user's might look across the
    /// batch: then `predict` runs the batches as asked.
    fn samples_apart(&self) -> bool {
        self.layers().iter().all(|l| crate::layers::registry::is_built_in(l.class_name()))
    }

    /// Fails before any training if `targets` cannot be those of this model's losses.
    pub(super) fn check_targets(&self, targets: &[Tensor]) -> Result<()> {
        let Some(c) = &self.compiled else { return Ok(()) };
        for (i, (y, out)) in targets.iter().zip(self.output_shapes()).enumerate() {
            if let Some(loss) = c.loss(i) {
                loss.check_targets(y, &out)?;
            }
        }
        Ok(())
    }

    pub(super) fn reset_metrics(&mut self) {
        if let Some(c) = self.compiled.as_mut() {
            c.metrics.iter_mut().flatten().for_each(|m| m.reset());
        }
    }

    /// Loss and metrics on `x`, `y`, in batches of `batch_size`, without training.
    pub fn evaluate(&mut self, x: impl Into<Feed>, y: impl Into<Feed>, batch_size: usize) -> Result<Logs> {
        strata_core::threads::join_from_main();
        check_batch_size(batch_size)?;
        let (x, y) = self.arrays(x.into(), y.into())?;
        check_arrays(&x, &y)?;
        self.check_targets(&y)?;
        self.evaluate_dataset(&Dataset::from_many(x, y)?.batch_size(batch_size).shuffle(false).checked())
    }

    /// Loss and metrics over a [`Dataset`], in its batches and order, without training.
    pub fn evaluate_dataset(&mut self, data: &Dataset) -> Result<Logs> {
        strata_core::threads::join_from_main();
        strata_core::warn_if_unoptimized();
        if !self.is_built() {
            self.build_chain(&data.input_shape())?;
        }
        if self.compiled.is_none() {
            return Err(Error::State("the model must be compiled before evaluate()".into()));
        }
        if data.is_empty() {
            return Err(Error::argument("evaluate", "no samples to evaluate on: a loss or accuracy over none is undefined"));
        }
        self.reset_metrics();
        let _no_grad = no_grad();
        let mut logs = StepLogs::default();
        // The weights do not change while evaluating: their penalty is computed once.
        let penalty = match regularization_penalty(&self.all_weights())? {
            Some(p) => p.item()?,
            None => 0.0,
        };
        for batch in data.clone().shuffle(false).batches((0..data.len()).collect())? {
            let batch = batch?;
            // Each batch on a worker of the pool, so its parallel loops need
            // no hand-off to the pool and back; the batches themselves are
            // read here (a dataset's reading thread may need the workers).
            let (model, logs) = (&mut *self, &mut logs);
            strata_core::threads::on_worker(move || {
                // On the worker: whether ops record the graph is per thread.
                let _no_grad = no_grad();
                if !data.is_checked() {
                    if batch.inputs.iter().any(|x| !x.all_finite()) {
                        return Err(Error::NotFinite { what: "an input value in the evaluated data".into() });
                    }
                    model.check_targets(&batch.targets)?;
                }
                let (predictions, masks) = model.call_with_masks(&batch.inputs, false)?;
                let mut loss = model.compute_loss_unpenalised(&batch.targets, &predictions, &masks, batch.sample_weight.as_ref())?;
                loss.total = loss.total.add_scalar(penalty);
                model.log_losses(&loss, batch.len(), logs)?;
                model.update_metrics_masked(&batch.targets, &predictions, &masks, batch.sample_weight.as_ref())
            })?;
        }
        for (name, value) in self.metric_results() {
            logs.set(&name, value);
        }
        let logs = logs.logs();
        self.reset_metrics();
        Ok(logs)
    }

    /// The model's outputs for `x`, computed in batches of `batch_size` (a one-output model).
    pub fn predict(&mut self, x: impl Into<Feed>, batch_size: usize) -> Result<Tensor> {
        let mut out = self.predict_many(x, batch_size)?;
        match out.len() {
            1 => Ok(out.remove(0)),
            n => Err(Error::argument("predict", format!("model '{}' has {n} outputs: use predict_many", self.name()))),
        }
    }

    /// One tensor per output for `x` (one array per input), computed in batches of `batch_size`.
    pub fn predict_many(&mut self, x: impl Into<Feed>, batch_size: usize) -> Result<Vec<Tensor>> {
        strata_core::threads::join_from_main();
        strata_core::warn_if_unoptimized();
        check_batch_size(batch_size)?;
        let x = self.input_arrays(x.into())?;
        check_arrays(&x, &[])?;
        let n = x[0].shape()[0];
        let shapes = self.output_shapes();
        let mut out: Vec<Vec<f32>> = shapes.iter().map(|s| Vec::with_capacity(n * s.iter().product::<usize>())).collect();
        let indices: Vec<usize> = (0..n).collect();
        let part = if batch_size > PREDICT_PART && self.samples_apart() { PREDICT_PART } else { batch_size };
        // On a worker of the pool: each layer's parallel loop then shares its
        // work without a hand-off to the pool and back (several per batch,
        // which a small batch's latency feels).
        let (model, x, outputs) = (&mut *self, &x, &mut out);
        strata_core::threads::on_pool(move || {
            // On the worker: whether ops record the graph is per thread.
            let _no_grad = no_grad();
            for batch in indices.chunks(part) {
                let inputs = x.iter().map(|t| t.gather_rows(batch)).collect::<Result<Vec<_>>>()?;
                for (o, y) in outputs.iter_mut().zip(model.call_many(&inputs, false)?) {
                    o.extend_from_slice(&y.data());
                }
            }
            Ok::<(), Error>(())
        })?;
        out.into_iter().zip(shapes).map(|(o, s)| Tensor::new(o, &[&[n][..], &s].concat())).collect()
    }
}
