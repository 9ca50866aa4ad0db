//! One training step, and the pieces it is made of, public so that a step
//! of one's own (Keras's overridden `train_step`: a GAN's two updates, a
//! custom loss) can reuse them and keep `fit`'s progress bar, history,
//! callbacks and checkpoints:
//!
//! ```text
//! predictions = model.call_many(inputs, training)
//! loss        = model.compute_loss(targets, predictions, sample_weight)   (+ penalties)
//! gradients   = loss.total.backward()
//! model.apply_gradients(gradients)      gradient stages (clipping, all-reduce) -> optimizer -> constraints
//! model.update_metrics(targets, predictions, sample_weight)
//! ```

use strata_core::profile::{self, Phase};
use strata_core::backend::Update;
use strata_core::{Error, Gradients, Result, Tensor};

use super::functional::Model;
use crate::data::dataset::Batch;
use crate::layers::Weight;
use crate::metrics::Mean;

/// A training step in place of the default one: `model.set_train_step(MyStep { .. })`.
/// It is `Any`, so a step taken back with `Model::take_train_step` can be
/// downcast to get at what it holds (a GAN's generator).
pub trait TrainStep: std::any::Any + Send {
    /// One update on `batch`. Values reported with `logs.mean(..)` are
    /// shown and recorded as their mean over the epoch so far.
    fn train_step(&mut self, model: &mut Model, batch: &Batch, logs: &mut StepLogs) -> Result<()>;
}

/// What a step reports: running means over the epoch, and values shown as they are.
#[derive(Default)]
pub struct StepLogs {
    means: Vec<(String, Mean)>,
    values: Vec<(String, f64)>,
}

impl StepLogs {
    /// Adds `value` with `weight` (usually the batch's size) to the running mean logged as `name`.
    pub fn mean(&mut self, name: &str, value: f64, weight: f64) {
        match self.means.iter_mut().find(|(n, _)| n == name) {
            Some((_, m)) => m.add(value, weight),
            None => {
                let mut m = Mean::default();
                m.add(value, weight);
                self.means.push((name.to_string(), m));
            }
        }
    }
    /// Logs `value` as `name`, as it is (a metric that keeps its own running state).
    pub fn set(&mut self, name: &str, value: f64) {
        match self.values.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => self.values.push((name.to_string(), value)),
        }
    }
    /// The logs so far: means first, then values, in the order first reported.
    pub fn logs(&self) -> super::callbacks::Logs {
        let mut logs = super::callbacks::Logs::default();
        for (n, m) in &self.means {
            logs.set(n, m.result());
        }
        for (n, v) in &self.values {
            logs.set(n, *v);
        }
        logs
    }
    /// The mean logged as `name` so far.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.means.iter().find(|(n, _)| n == name).map(|(_, m)| m.result()).or_else(|| self.values.iter().find(|(n, _)| n == name).map(|(_, v)| *v))
    }
}

/// Something done to the gradients between the backward pass and the
/// optimizer, in the order added (clipping, an all-reduce across processes).
pub trait GradientStage: Send {
    /// Reads or changes `grads`, the gradients of `weights` (the trainable weights, in model order).
    fn process(&mut self, weights: &[Tensor], grads: &mut Gradients) -> Result<()>;
}

/// The training loss of a batch: the total to differentiate, and each output's part.
pub struct LossParts {
    /// `Σ loss_weight · loss` over the outputs, plus the weights' penalties.
    pub total: Tensor,
    /// Each output's loss (`None` for an output without one), before weighting.
    pub per_output: Vec<Option<Tensor>>,
}

impl Model {
    /// The compiled losses of `predictions` against `targets`, weighted and
    /// summed, plus the regularizers' penalties (as Keras's `compute_loss`).
    pub fn compute_loss(&self, targets: &[Tensor], predictions: &[Tensor], sample_weight: Option<&Tensor>) -> Result<LossParts> {
        self.compute_loss_masked(targets, predictions, &[], sample_weight)
    }

    /// [`Model::compute_loss`] for outputs that carry masks (from
    /// [`Model::call_with_masks`]; an empty list or `None`: no mask): each
    /// loss is the mean over the positions its output's mask keeps, as Keras's.
    pub fn compute_loss_masked(&self, targets: &[Tensor], predictions: &[Tensor], masks: &[Option<Tensor>], sample_weight: Option<&Tensor>) -> Result<LossParts> {
        let mut loss = self.compute_loss_unpenalised(targets, predictions, masks, sample_weight)?;
        if let Some(penalty) = regularization_penalty(&self.all_weights())? {
            loss.total = loss.total.add(&penalty)?;
        }
        Ok(loss)
    }

    /// [`Model::compute_loss`] without the regularizers' penalties.
    pub(crate) fn compute_loss_unpenalised(&self, targets: &[Tensor], predictions: &[Tensor], masks: &[Option<Tensor>], sample_weight: Option<&Tensor>) -> Result<LossParts> {
        let c = self.compiled.as_ref().ok_or_else(|| Error::State("the model must be compiled before training: call compile(optimizer, loss, metrics)".into()))?;
        if targets.len() != predictions.len() {
            return Err(Error::argument("targets", format!("{} target arrays for {} outputs ({})", targets.len(), predictions.len(), self.output_names().join(", "))));
        }
        let mut total: Option<Tensor> = None;
        let mut per_output = Vec::with_capacity(predictions.len());
        for (i, (y, p)) in targets.iter().zip(predictions).enumerate() {
            let Some(loss) = c.loss(i) else {
                per_output.push(None);
                continue;
            };
            let value = match masks.get(i).and_then(Option::as_ref) {
                Some(mask) => loss.call_masked(y, p, sample_weight, mask)?,
                None => loss.call_weighted(y, p, sample_weight)?,
            };
            let weight = c.loss_weights.get(i).copied().unwrap_or(1.0);
            let weighted = if weight == 1.0 { value.clone() } else { value.scale(weight) };
            total = Some(match total {
                Some(t) => t.add(&weighted)?,
                None => weighted,
            });
            per_output.push(Some(value));
        }
        let total = total.ok_or_else(|| Error::State("no output of the model has a loss".into()))?;
        Ok(LossParts { total, per_output })
    }

    /// Runs the gradient stages, then the optimizer on every trainable weight,
    /// then the weights' constraints.
    pub fn apply_gradients(&mut self, grads: &Gradients) -> Result<()> {
        let weights = self.all_weights();
        let params: Vec<Tensor> = weights.iter().filter(|w| w.trainable).map(|w| w.tensor.clone()).collect();
        let mut staged;
        let shard = crate::distributed::current();
        let grads = if self.gradient_stages.is_empty() && shard.is_none() {
            grads
        } else {
            staged = grads.clone();
            // One rank of several: the global batch's gradient first, so that
            // the stages (clipping) see what one process would.
            if let Some(shard) = &shard {
                shard.all_reduce_gradients(&params, &mut staged)?;
            }
            for stage in self.gradient_stages.iter_mut() {
                stage.process(&params, &mut staged)?;
            }
            &staged
        };
        let compiled = self.compiled.as_mut().ok_or_else(|| Error::State("the model must be compiled before training".into()))?;
        if params.is_empty() {
            // Every layer frozen: nothing to update (Keras warns and trains on).
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| eprintln!("warning: model '{}' has no trainable weights (every layer frozen?): training changes nothing", self.base.name));
            return Ok(());
        }
        profile::scoped("optimizer", Phase::Update, || compiled.optimizer.apply(&params, grads))?;
        apply_constraints(&weights)
    }

    /// Adds `stage` to the gradient stages `apply_gradients` runs before the optimizer.
    pub fn add_gradient_stage(&mut self, stage: impl GradientStage + 'static) {
        self.gradient_stages.push(Box::new(stage));
    }

    /// Updates the compiled metrics with one batch.
    pub fn update_metrics(&mut self, targets: &[Tensor], predictions: &[Tensor], sample_weight: Option<&Tensor>) -> Result<()> {
        self.update_metrics_masked(targets, predictions, &[], sample_weight)
    }

    /// [`Model::update_metrics`] for outputs that carry masks: each metric
    /// counts only the positions its output's mask keeps, as Keras's.
    pub fn update_metrics_masked(&mut self, targets: &[Tensor], predictions: &[Tensor], masks: &[Option<Tensor>], sample_weight: Option<&Tensor>) -> Result<()> {
        let Some(c) = self.compiled.as_mut() else { return Ok(()) };
        let weights = sample_weight.map(|w| w.to_vec());
        for (i, ((metrics, y), p)) in c.metrics.iter_mut().zip(targets).zip(predictions).enumerate() {
            let mask = masks.get(i).and_then(Option::as_ref);
            let rows = row_weights(p, weights.as_deref(), mask)?;
            for m in metrics.iter_mut() {
                m.update(y, p, rows.as_deref().or(weights.as_deref()))?;
            }
        }
        Ok(())
    }

    /// The compiled metrics' names and values, named as Keras logs them
    /// (`accuracy`; with several outputs, `out2_accuracy`).
    pub fn metric_results(&self) -> Vec<(String, f64)> {
        let Some(c) = &self.compiled else { return Vec::new() };
        let names = self.output_names();
        let several = c.metrics.len() > 1;
        c.metrics
            .iter()
            .enumerate()
            .flat_map(|(i, ms)| {
                let prefix = if several { format!("{}_", names.get(i).map(String::as_str).unwrap_or("output")) } else { String::new() };
                ms.iter().map(move |m| (format!("{prefix}{}", m.name()), m.result()))
            })
            .collect()
    }

    /// The default training step: forward, losses, backward, gradient stages,
    /// optimizer, constraints, metrics. Logs `loss` (and `{output}_loss` per
    /// output when there are several) and the compiled metrics.
    pub fn default_train_step(&mut self, batch: &Batch, logs: &mut StepLogs) -> Result<()> {
        let (predictions, masks) = self.call_with_masks(&batch.inputs, true)?;
        let loss = profile::scoped("loss", Phase::Forward, || self.compute_loss_masked(&batch.targets, &predictions, &masks, batch.sample_weight.as_ref()))?;
        let grads = loss.total.backward()?;
        self.apply_gradients(&grads)?;
        match crate::distributed::current() {
            // One rank of several: metrics and losses of the global batch, as one process logs them.
            Some(shard) => {
                let gather = |ts: &[Tensor]| ts.iter().map(|t| shard.gather_rows(t)).collect::<Result<Vec<_>>>();
                let (targets, predictions) = (gather(&batch.targets)?, gather(&predictions)?);
                let masks = masks.iter().map(|m| m.as_ref().map(|m| shard.gather_rows(m)).transpose()).collect::<Result<Vec<_>>>()?;
                let weights = batch.sample_weight.as_ref().map(|w| shard.gather_rows(w)).transpose()?;
                self.update_metrics_masked(&targets, &predictions, &masks, weights.as_ref())?;
                self.log_global_losses(&loss, &shard, logs)?;
            }
            None => {
                self.update_metrics_masked(&batch.targets, &predictions, &masks, batch.sample_weight.as_ref())?;
                self.log_losses(&loss, batch.len(), logs)?;
            }
        }
        for (name, value) in self.metric_results() {
            logs.set(&name, value);
        }
        Ok(())
    }

    /// Adds a batch's losses to the running means.
    pub(crate) fn log_losses(&self, loss: &LossParts, batch: usize, logs: &mut StepLogs) -> Result<()> {
        self.log_losses_as(loss, batch, logs, Ok)
    }

    /// Adds the global batch's losses to the running means, on one rank of several.
    fn log_global_losses(&self, loss: &LossParts, shard: &crate::distributed::Shard, logs: &mut StepLogs) -> Result<()> {
        self.log_losses_as(loss, shard.global_rows, logs, |v| shard.global_mean(v))
    }

    /// Adds `value(loss)` of each loss, over `batch` samples, to the running means.
    fn log_losses_as(&self, loss: &LossParts, batch: usize, logs: &mut StepLogs, value: impl Fn(f64) -> Result<f64>) -> Result<()> {
        logs.mean("loss", value(loss.total.item()? as f64)?, batch as f64);
        if loss.per_output.len() > 1 {
            for (name, part) in self.output_names().iter().zip(&loss.per_output) {
                if let Some(v) = part {
                    logs.mean(&format!("{name}_loss"), value(v.item()? as f64)?, batch as f64);
                }
            }
        }
        Ok(())
    }

    /// Runs the model's training step (its own, or the default) on one batch.
    pub(crate) fn run_train_step(&mut self, batch: &Batch, logs: &mut StepLogs) -> Result<()> {
        match self.train_step.take() {
            Some(mut step) => {
                let result = step.train_step(self, batch, logs);
                self.train_step = Some(step);
                result
            }
            None => self.default_train_step(batch, logs),
        }
    }
}

/// With a mask on the output `p`, one weight per row of `p` (its positions
/// but the last axis, as the metrics count them): the mask times the
/// sample's weight (Keras's `apply_mask` with `reduction="sum"`). Without
/// one, `None`: the metrics use the sample weights as they are.
fn row_weights(p: &Tensor, sample_weight: Option<&[f32]>, mask: Option<&Tensor>) -> Result<Option<Vec<f32>>> {
    let Some(mask) = mask else { return Ok(None) };
    let rows = p.numel() / p.shape().last().copied().unwrap_or(1).max(1);
    let batch = p.shape().first().copied().unwrap_or(1).max(1);
    let keep = mask.to_vec();
    if keep.is_empty() || !rows.is_multiple_of(keep.len()) || !keep.len().is_multiple_of(batch) {
        return Err(Error::shape("mask", format!("the output's mask {} does not match its values {}", strata_core::fmt_shape(mask.shape()), strata_core::fmt_shape(p.shape()))));
    }
    let (per_entry, per_sample) = (rows / keep.len(), rows / batch);
    Ok(Some((0..rows).map(|r| keep[r / per_entry] * sample_weight.and_then(|w| w.get(r / per_sample)).copied().unwrap_or(1.0)).collect()))
}

/// The sum of the weights' regularizer penalties (Keras adds them to the
/// loss it trains on and reports), or `None` when no weight has one.
pub(crate) fn regularization_penalty(weights: &[Weight]) -> Result<Option<Tensor>> {
    let mut total: Option<Tensor> = None;
    // As Keras: the penalties of trainable weights only (a frozen layer's do not count).
    for w in weights.iter().filter(|w| w.trainable) {
        if let Some(r) = w.regularizer {
            let p = r.penalty(&w.tensor)?;
            total = Some(match total {
                Some(t) => t.add(&p)?,
                None => p,
            });
        }
    }
    Ok(total)
}

/// Projects every constrained weight after an optimizer update, as Keras does.
fn apply_constraints(weights: &[Weight]) -> Result<()> {
    for w in weights.iter().filter(|w| w.trainable) {
        if let Some(c) = &w.constraint {
            let projected = c.project(&w.tensor)?;
            w.tensor.backend().update(Update::Assign, &w.tensor, &[], &projected)?;
        }
    }
    Ok(())
}
