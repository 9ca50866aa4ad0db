//! `Sequential`: a plain stack of layers, each feeding the next.

use std::collections::HashMap;

use serde_json::{json, Value};
use strata_core::profile::{self, Phase};
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::callbacks::History;
use crate::layers::{default_name, Layer};
use crate::losses::{self, Loss};
use crate::metrics::{self, Metric};
use crate::optimizers::{self, Optimizer};

/// What `compile` stores: how the model trains.
pub(crate) struct Compiled {
    pub optimizer: Box<dyn Optimizer>,
    pub loss: Box<dyn Loss>,
    pub metrics: Vec<Box<dyn Metric>>,
}

/// A linear stack of layers, as Keras's `Sequential`.
pub struct Sequential {
    name: String,
    pub(crate) layers: Vec<Box<dyn Layer>>,
    /// Input and output shape of each layer once built (batch axis excluded).
    pub(crate) shapes: Option<Vec<(Vec<usize>, Vec<usize>)>>,
    pub(crate) compiled: Option<Compiled>,
    seed: u64,
    /// Draws the order of samples in each epoch.
    pub(crate) shuffle_rng: Rng,
    /// Every epoch trained so far, across `fit` calls and checkpoints.
    pub(crate) history: History,
}

/// Anything `compile` accepts as an optimizer: an optimizer or its Keras name.
pub trait IntoOptimizer {
    fn into_optimizer(self) -> Result<Box<dyn Optimizer>>;
}
impl<T: Optimizer + 'static> IntoOptimizer for T {
    fn into_optimizer(self) -> Result<Box<dyn Optimizer>> {
        Ok(Box::new(self))
    }
}
impl IntoOptimizer for Box<dyn Optimizer> {
    fn into_optimizer(self) -> Result<Box<dyn Optimizer>> {
        Ok(self)
    }
}
impl IntoOptimizer for &str {
    fn into_optimizer(self) -> Result<Box<dyn Optimizer>> {
        optimizers::from_name(self)
    }
}

/// Anything `compile` accepts as a loss: a loss or its Keras name.
pub trait IntoLoss {
    fn into_loss(self) -> Result<Box<dyn Loss>>;
}
impl<T: Loss + 'static> IntoLoss for T {
    fn into_loss(self) -> Result<Box<dyn Loss>> {
        Ok(Box::new(self))
    }
}
impl IntoLoss for Box<dyn Loss> {
    fn into_loss(self) -> Result<Box<dyn Loss>> {
        Ok(self)
    }
}
impl IntoLoss for &str {
    fn into_loss(self) -> Result<Box<dyn Loss>> {
        losses::from_name(self)
    }
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let layers: Vec<String> = self.layers.iter().map(|l| format!("{} ({})", l.name(), l.class_name())).collect();
        f.debug_struct("Sequential")
            .field("name", &self.name)
            .field("layers", &layers)
            .field("input_shape", &self.input_shape())
            .field("compiled", &self.compiled.is_some())
            .field("epochs_trained", &self.epochs_trained())
            .finish()
    }
}

impl Default for Sequential {
    fn default() -> Self {
        Sequential::new()
    }
}

impl Sequential {
    /// An empty model whose random choices are seeded from the clock.
    pub fn new() -> Self {
        Sequential::with_seed(Rng::from_entropy().next_u64())
    }

    /// An empty model whose initial weights and shuffling are fixed by `seed`.
    pub fn with_seed(seed: u64) -> Self {
        Sequential {
            name: "sequential".to_string(),
            layers: Vec::new(),
            shapes: None,
            compiled: None,
            seed,
            shuffle_rng: Rng::new(seed ^ 0x5348_5546_464C_4521),
            history: History::default(),
        }
    }

    /// The seed this model was made with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renames the model (Keras's `name=`).
    pub fn set_name(&mut self, name: &str) {
        self.name = name.to_string();
    }

    /// Appends a layer. A layer left with its default name is renamed as Keras
    /// does (`dense`, `dense_1`, ...). Adding after the model was built fails.
    pub fn add(&mut self, layer: impl Layer + 'static) -> Result<()> {
        self.push(Box::new(layer))
    }

    /// [`Sequential::add`] for a boxed layer.
    pub fn push(&mut self, mut layer: Box<dyn Layer>) -> Result<()> {
        if self.shapes.is_some() {
            return Err(Error::State(format!("cannot add layer '{}' to model '{}' after it was built", layer.name(), self.name)));
        }
        let base = default_name(layer.class_name());
        let taken = |name: &str| self.layers.iter().any(|l| l.name() == name);
        if layer.name() == base && taken(&base) {
            let k = (1..).find(|k| !taken(&format!("{base}_{k}"))).expect("a free suffix exists");
            layer.set_name(format!("{base}_{k}"));
        }
        if self.layers.iter().any(|l| l.name() == layer.name()) {
            return Err(Error::layer(layer.name(), format!("model '{}' already has a layer with this name", self.name)));
        }
        self.layers.push(layer);
        Ok(())
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[Box<dyn Layer>] {
        &self.layers
    }

    /// Whether the weights exist yet.
    pub fn is_built(&self) -> bool {
        self.shapes.is_some()
    }

    /// Creates every layer's weights for samples of `input_shape` (no batch axis).
    /// Layer `i` draws its initial values from its own stream of the model's seed.
    pub fn build(&mut self, input_shape: &[usize]) -> Result<()> {
        if self.layers.is_empty() {
            return Err(self.no_layers());
        }
        if let Some(declared) = self.layers[0].declared_input_shape() {
            if declared != input_shape {
                return Err(Error::layer(
                    self.layers[0].name(),
                    format!("declared input_shape={} but the data has samples of shape {}", fmt_shape(declared), fmt_shape(input_shape)),
                ));
            }
        }
        let mut shapes = Vec::with_capacity(self.layers.len());
        let mut shape = input_shape.to_vec();
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let mut rng = Rng::new(self.seed.wrapping_add((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
            let out = layer.build(&shape, &mut rng).map_err(|e| e.in_layer(layer.name()))?;
            shapes.push((shape, out.clone()));
            shape = out;
        }
        self.shapes = Some(shapes);
        Ok(())
    }

    fn no_layers(&self) -> Error {
        Error::State(format!("model '{}' has no layers: add some before building or training it", self.name))
    }

    /// Builds from the first layer's declared `input_shape`, if not built yet.
    pub fn build_from_declared(&mut self) -> Result<()> {
        if self.is_built() {
            return Ok(());
        }
        if self.layers.is_empty() {
            return Err(self.no_layers());
        }
        let declared = self.layers.first().and_then(|l| l.declared_input_shape()).map(|s| s.to_vec());
        match declared {
            Some(shape) => self.build(&shape),
            None => Err(Error::State(format!("model '{}' is not built: give the first layer an input_shape, or call build()/fit() first", self.name))),
        }
    }

    /// Builds from a batch `x` if needed; fails if `x` does not fit the built model.
    pub(crate) fn ensure_built(&mut self, x: &Tensor) -> Result<()> {
        if x.rank() == 0 {
            return Err(Error::shape("input", "x must have a batch axis"));
        }
        if !self.is_built() {
            self.build(&x.shape()[1..])?;
        }
        Ok(())
    }

    /// The input shape the model was built for (no batch axis).
    pub fn input_shape(&self) -> Option<&[usize]> {
        self.shapes.as_ref().and_then(|s| s.first()).map(|(i, _)| i.as_slice())
    }

    /// The output shape of layer `i` (no batch axis), once built.
    pub fn layer_output_shape(&self, i: usize) -> Option<Vec<usize>> {
        self.shapes.as_ref().and_then(|s| s.get(i)).map(|(_, o)| o.clone())
    }

    /// The output shape of the model (no batch axis).
    pub fn output_shape(&self) -> Option<&[usize]> {
        self.shapes.as_ref().and_then(|s| s.last()).map(|(_, o)| o.as_slice())
    }

    /// Runs the layers on a batch. Records the graph unless inside `no_grad`.
    pub fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        if !self.is_built() {
            return Err(Error::State(format!("model '{}' is not built: call build() or fit() first", self.name)));
        }
        let mut h = x.clone();
        let mut layers = self.layers.iter().peekable();
        while let Some(layer) = layers.next() {
            // A relu Conv2D and the MaxPooling2D after it run as one op (same values, less memory traffic).
            let pool = layers.peek().filter(|_| layer.fuses_max_pool()).and_then(|next| Some((next.name(), next.tiling_max_pool()?)));
            if let Some((pool_name, pool)) = pool {
                let scope = format!("{} + {pool_name}", layer.name());
                h = profile::scoped(&scope, Phase::Forward, || layer.call_max_pooled(&h, training, pool)).map_err(|e| e.in_layer(layer.name()))?;
                layers.next();
                continue;
            }
            h = profile::scoped(layer.name(), Phase::Forward, || layer.call(&h, training)).map_err(|e| e.in_layer(layer.name()))?;
        }
        Ok(h)
    }

    /// Every weight as (`layer_name/weight_name`, tensor), in layer order.
    pub fn named_weights(&self) -> Vec<(String, Tensor)> {
        self.layers.iter().flat_map(|l| l.weights().into_iter().map(move |w| (format!("{}/{}", l.name(), w.name), w.tensor))).collect()
    }

    /// The tensors the optimizer updates.
    pub fn trainable_weights(&self) -> Vec<Tensor> {
        self.layers.iter().flat_map(|l| l.weights()).filter(|w| w.trainable).map(|w| w.tensor).collect()
    }

    /// Total number of weight values.
    pub fn count_params(&self) -> usize {
        self.layers.iter().flat_map(|l| l.weights()).map(|w| w.tensor.numel()).sum()
    }

    /// Replaces weight values by name (`conv2d/kernel`); every given name must exist with the same shape.
    pub fn set_weights(&self, values: &HashMap<String, Tensor>) -> Result<()> {
        let named: HashMap<String, Tensor> = self.named_weights().into_iter().collect();
        for (name, value) in values {
            let w = named.get(name).ok_or_else(|| Error::argument("weights", format!("model '{}' has no weight named '{name}'", self.name)))?;
            if w.shape() != value.shape() {
                return Err(Error::argument("weights", format!("'{name}' has shape {}, got {}", fmt_shape(w.shape()), fmt_shape(value.shape()))));
            }
            w.data_mut().copy_from_slice(&value.data());
        }
        Ok(())
    }

    /// Chooses the optimizer, the loss and the metrics, by value or by Keras name:
    /// `model.compile("adam", "categorical_crossentropy", &["accuracy"])`.
    pub fn compile(&mut self, optimizer: impl IntoOptimizer, loss: impl IntoLoss, metrics: &[&str]) -> Result<()> {
        let metrics = metrics.iter().map(|m| metrics::from_name(m)).collect::<Result<Vec<_>>>()?;
        self.compiled = Some(Compiled { optimizer: optimizer.into_optimizer()?, loss: loss.into_loss()?, metrics });
        Ok(())
    }

    /// Every epoch trained so far, including those before a checkpoint was resumed.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Number of epochs trained so far (where `fit` resumes by default).
    pub fn epochs_trained(&self) -> usize {
        self.history.epoch.last().map(|e| e + 1).unwrap_or(0)
    }

    /// The compiled loss, if compiled.
    pub fn loss(&self) -> Option<&dyn crate::losses::Loss> {
        self.compiled.as_ref().map(|c| c.loss.as_ref())
    }

    /// The optimizer chosen by `compile`.
    pub fn optimizer(&self) -> Option<&dyn Optimizer> {
        self.compiled.as_ref().map(|c| c.optimizer.as_ref())
    }

    /// The optimizer, to change its learning rate (schedules, callbacks).
    pub fn optimizer_mut(&mut self) -> Option<&mut (dyn Optimizer + 'static)> {
        match self.compiled.as_mut() {
            Some(c) => Some(c.optimizer.as_mut()),
            None => None,
        }
    }

    /// A copy of every weight's values, in `named_weights` order.
    pub fn get_weights(&self) -> Vec<Vec<f32>> {
        self.named_weights().iter().map(|(_, t)| t.to_vec()).collect()
    }

    /// Restores values from [`Sequential::get_weights`].
    pub fn restore_weights(&self, values: &[Vec<f32>]) -> Result<()> {
        let named = self.named_weights();
        if named.len() != values.len() || named.iter().zip(values).any(|((_, t), v)| t.numel() != v.len()) {
            return Err(Error::argument("weights", format!("{} arrays do not match model '{}' ({} weights)", values.len(), self.name, named.len())));
        }
        for ((_, t), v) in named.iter().zip(values) {
            t.data_mut().copy_from_slice(v);
        }
        Ok(())
    }

    /// Keras's `model.get_config()` for this model.
    pub fn config(&self) -> Value {
        let layers: Vec<Value> = self
            .layers
            .iter()
            .map(|l| json!({ "module": "keras.layers", "class_name": l.class_name(), "config": l.config() }))
            .collect();
        json!({ "name": self.name, "trainable": true, "dtype": "float32", "layers": layers })
    }
}
