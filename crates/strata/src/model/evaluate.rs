//! `evaluate` and `predict`, and the loss and metric logs they share with `fit`.

use strata_core::{no_grad, Error, Result, Tensor};

use super::callbacks::Logs;
use super::fit::{check_batch_size, check_xy, regularization_penalty};
use super::sequential::Sequential;
use crate::data::dataset::{Batch, Dataset};
use crate::metrics::Mean;

impl Sequential {
    /// Fails before any training if `y` cannot be the targets of this model's loss.
    pub(super) fn check_targets(&self, y: &Tensor) -> Result<()> {
        let (Some(c), Some(out)) = (&self.compiled, self.output_shape()) else { return Ok(()) };
        c.loss.check_targets(y, out)
    }

    pub(super) fn reset_metrics(&mut self) {
        if let Some(c) = self.compiled.as_mut() {
            c.metrics.iter_mut().for_each(|m| m.reset());
        }
    }

    pub(super) fn logs(&self, loss: &Mean, prefix: &str) -> Logs {
        let mut logs = Logs::default();
        logs.set(&format!("{prefix}loss"), loss.result());
        if let Some(c) = &self.compiled {
            for m in &c.metrics {
                logs.set(&format!("{prefix}{}", m.name()), m.result());
            }
        }
        logs
    }

    /// Loss and metrics on `x`, `y`, in batches of `batch_size`, without training.
    pub fn evaluate(&mut self, x: &Tensor, y: &Tensor, batch_size: usize) -> Result<Logs> {
        check_batch_size(batch_size)?;
        check_xy(x, y)?;
        self.ensure_built(x)?;
        self.check_targets(y)?;
        self.evaluate_dataset(&Dataset::from_arrays(x.clone(), y.clone())?.batch_size(batch_size).shuffle(false).checked())
    }

    /// Loss and metrics over a [`Dataset`], in its batches and order, without training.
    pub fn evaluate_dataset(&mut self, data: &Dataset) -> Result<Logs> {
        if !self.is_built() {
            self.build(&data.input_shape())?;
        }
        self.reset_metrics();
        let _no_grad = no_grad();
        let mut loss_mean = Mean::default();
        // The weights do not change while evaluating: their penalty is computed once.
        let weights: Vec<_> = self.layers.iter().flat_map(|l| l.weights()).collect();
        let penalty = match regularization_penalty(&weights)? {
            Some(p) => p.item()?,
            None => 0.0,
        };
        for batch in data.clone().shuffle(false).batches((0..data.len()).collect())? {
            let Batch { x: xb, y: yb, sample_weight } = batch?;
            if !data.is_checked() {
                if !xb.all_finite() {
                    return Err(Error::NotFinite { what: "an input value in the evaluated data".into() });
                }
                self.check_targets(&yb)?;
            }
            let y_pred = self.call(&xb, false)?;
            let compiled = self.compiled.as_mut().ok_or_else(|| Error::State("the model must be compiled before evaluate()".into()))?;
            loss_mean.add((compiled.loss.call_weighted(&yb, &y_pred, sample_weight.as_ref())?.item()? + penalty) as f64, xb.shape()[0] as f64);
            let weights = sample_weight.map(|w| w.to_vec());
            for m in compiled.metrics.iter_mut() {
                m.update(&yb, &y_pred, weights.as_deref())?;
            }
        }
        let logs = self.logs(&loss_mean, "");
        self.reset_metrics();
        Ok(logs)
    }

    /// The model's outputs for `x`, computed in batches of `batch_size`.
    pub fn predict(&mut self, x: &Tensor, batch_size: usize) -> Result<Tensor> {
        check_batch_size(batch_size)?;
        self.ensure_built(x)?;
        let _no_grad = no_grad();
        let n = x.shape()[0];
        let out_shape = self.output_shape().map(|s| s.to_vec()).unwrap_or_default();
        let mut out = Vec::with_capacity(n * out_shape.iter().product::<usize>());
        let indices: Vec<usize> = (0..n).collect();
        for batch in indices.chunks(batch_size) {
            out.extend_from_slice(&self.call(&x.gather_rows(batch)?, false)?.data());
        }
        let mut shape = vec![n];
        shape.extend(out_shape);
        Tensor::new(out, &shape)
    }
}
