//! `Model`: any network of layers, as Keras's functional `Model(inputs,
//! outputs)`. A [`super::Sequential`] is one too, a chain built from the
//! first input shape it sees; training, evaluation, callbacks and saving
//! work on every `Model`.

use std::collections::HashMap;

use serde_json::{json, Value};
use strata_core::backend::Update;
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::callbacks::History;
use super::compile::{Compile, Compiled, IntoLoss, IntoOptimizer};
use super::graph::{Apply, Input, SymbolicTensor};
use super::plan::Graph;
use super::train_step::{GradientStage, TrainStep};
use crate::layers::{LayerBase, LayerRef, Weight};
use crate::optimizers::Optimizer;

/// A model: layers wired from inputs to outputs.
///
/// Each layer is applied to the symbolic output of the one before, from an
/// [`Input`] (Keras's functional API):
///
/// ```
/// use strata::prelude::*;
///
/// # fn main() -> strata::Result<()> {
/// let x = Input::new([3]);
/// let h = Dense::new(4).activation("relu").apply(&x)?;
/// let y = Dense::new(2).activation("softmax").apply(&h)?;
/// let mut model = Model::new(&[x], &[y])?;
/// assert_eq!(model.count_params(), (3 * 4 + 4) + (4 * 2 + 2));
///
/// let p = model.predict(&Tensor::zeros(&[5, 3]), 32)?;
/// assert_eq!(p.shape(), [5, 2]);
/// # Ok(()) }
/// ```
///
/// Any graph works: several inputs, layers shared between branches, merges:
///
/// ```
/// use strata::prelude::*;
/// # fn main() -> strata::Result<()> {
/// let a = Input::named([4], "a");
/// let b = Input::named([4], "b");
/// let shared = LayerRef::new(Dense::new(3));
/// let sum = Add::new().apply([&shared.apply(&a)?, &shared.apply(&b)?])?;
/// let out = Dense::new(1).named("out").apply(&sum)?;
/// let model = Model::with_seed(&[a, b], &[out], 0)?;
/// assert_eq!(model.count_params(), 3 * 4 + 3 + 3 + 1);
/// # Ok(()) }
/// ```
pub struct Model {
    /// The model's name (and, used as a layer, its declared input shape).
    pub(crate) base: LayerBase,
    /// A Sequential's layers form a chain built from the first input shape seen.
    pub(crate) sequential: bool,
    pub(crate) layers: Vec<LayerRef>,
    pub(crate) graph: Option<Graph>,
    pub(crate) compiled: Option<Compiled>,
    seed: u64,
    /// Draws the order of samples in each epoch.
    pub(crate) shuffle_rng: Rng,
    /// Every epoch trained so far, across `fit` calls and checkpoints.
    pub(crate) history: History,
    /// A training step in place of the default one (see [`TrainStep`]).
    pub(crate) train_step: Option<Box<dyn TrainStep>>,
    /// Run on the gradients before the optimizer (see [`GradientStage`]).
    pub(crate) gradient_stages: Vec<Box<dyn GradientStage>>,
    /// The ranks this model trains with (default: `distributed::default_group`).
    pub(crate) collective: Option<std::sync::Arc<dyn crate::distributed::Collective>>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(if self.sequential { "Sequential" } else { "Model" })
            .field("name", &self.base.name)
            .field("layers", &self.layers)
            .field("input_shape", &self.input_shape())
            .field("compiled", &self.compiled.is_some())
            .field("epochs_trained", &self.epochs_trained())
            .finish()
    }
}

impl Model {
    /// A model from `inputs` (made by [`Input`]) to `outputs`, its weights
    /// drawn from a seed taken from the clock.
    pub fn new(inputs: &[SymbolicTensor], outputs: &[SymbolicTensor]) -> Result<Model> {
        Model::with_seed(inputs, outputs, Rng::from_entropy().next_u64())
    }

    /// A model from `inputs` to `outputs` whose initial weights (layer `i`
    /// from its own stream of `seed`) and shuffling are fixed by `seed`.
    /// Layers built before (shared with another model) keep their weights.
    pub fn with_seed(inputs: &[SymbolicTensor], outputs: &[SymbolicTensor], seed: u64) -> Result<Model> {
        let mut model = Model::empty(seed, false);
        model.set_graph(inputs, outputs)?;
        Ok(model)
    }

    pub(crate) fn empty(seed: u64, sequential: bool) -> Model {
        Model {
            base: LayerBase::new(if sequential { "Sequential" } else { "Functional" }),
            sequential,
            layers: Vec::new(),
            graph: None,
            compiled: None,
            seed,
            shuffle_rng: Rng::new(seed ^ 0x5348_5546_464C_4521),
            history: History::default(),
            train_step: None,
            gradient_stages: Vec::new(),
            collective: None,
        }
    }

    pub(crate) fn set_graph(&mut self, inputs: &[SymbolicTensor], outputs: &[SymbolicTensor]) -> Result<()> {
        let (graph, layers) = Graph::new(inputs, outputs, self.seed)?;
        self.layers = layers;
        self.graph = Some(graph);
        Ok(())
    }

    /// Builds a Sequential's chain for samples of `input_shape` (no batch axis).
    pub(crate) fn build_chain(&mut self, input_shape: &[usize]) -> Result<()> {
        if self.layers.is_empty() {
            return Err(self.no_layers());
        }
        if let Some(declared) = self.layers[0].declared_input_shape() {
            if declared != input_shape {
                return Err(Error::layer(
                    self.layers[0].name(),
                    format!("declared input_shape={} but the data has samples of shape {}", fmt_shape(&declared), fmt_shape(input_shape)),
                ));
            }
        }
        let input = Input::new(input_shape.to_vec());
        let mut h = input.clone();
        for layer in &self.layers {
            h = layer.apply(&h)?;
        }
        let (graph, _) = Graph::new(&[input], &[h], self.seed)?;
        self.graph = Some(graph);
        Ok(())
    }

    pub(crate) fn no_layers(&self) -> Error {
        Error::State(format!("model '{}' has no layers: add some before building or training it", self.base.name))
    }

    /// Builds a Sequential from its first layer's declared `input_shape`, if not built yet.
    pub fn build_from_declared(&mut self) -> Result<()> {
        if self.is_built() {
            return Ok(());
        }
        if self.layers.is_empty() {
            return Err(self.no_layers());
        }
        match self.layers[0].declared_input_shape() {
            Some(shape) => self.build_chain(&shape),
            None => Err(Error::State(format!("model '{}' is not built: give the first layer an input_shape, or call build()/fit() first", self.base.name))),
        }
    }

    /// Builds a Sequential for a batch of `inputs` if needed (a functional model is built already).
    pub fn build_for(&mut self, inputs: &[Tensor]) -> Result<()> {
        if self.is_built() {
            return Ok(());
        }
        match inputs {
            [x] if x.rank() > 0 => self.build_chain(&x.shape()[1..]),
            [_] => Err(Error::shape("input", "x must have a batch axis")),
            _ => Err(Error::argument("inputs", format!("model '{}' takes one input, got {}", self.base.name, inputs.len()))),
        }
    }

    /// The seed this model was made with.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// The model's name.
    pub fn name(&self) -> &str {
        &self.base.name
    }
    /// Renames the model (Keras's `name=`).
    pub fn set_name(&mut self, name: &str) {
        self.base.name = name.to_string();
    }
    /// Whether the layers' weights exist yet.
    pub fn is_built(&self) -> bool {
        self.graph.is_some()
    }
    /// The layers in the order Keras's `model.layers` lists them (a
    /// Functional model's by depth from the outputs), which keys the weights
    /// of `.keras` files.
    pub(crate) fn layers_in_keras_order(&self) -> Vec<LayerRef> {
        match (&self.graph, self.sequential) {
            (Some(g), false) => g.keras_layer_order(),
            _ => self.layers.clone(),
        }
    }
    /// The layers, in the order they run (Keras's `model.layers`, inputs left out).
    pub fn layers(&self) -> &[LayerRef] {
        &self.layers
    }
    /// The layer named `name` (Keras's `get_layer`).
    pub fn get_layer(&self, name: &str) -> Result<LayerRef> {
        self.layers.iter().find(|l| l.name() == name).cloned().ok_or_else(|| {
            let names: Vec<String> = self.layers.iter().map(|l| l.name()).collect();
            Error::argument("layer", format!("model '{}' has no layer named '{name}' (its layers: {})", self.base.name, names.join(", ")))
        })
    }
    /// The model's symbolic inputs, to define another model on them (feature extraction).
    pub fn inputs(&self) -> Vec<SymbolicTensor> {
        self.graph.as_ref().map(|g| g.inputs.clone()).unwrap_or_default()
    }
    /// The model's symbolic outputs.
    pub fn outputs(&self) -> Vec<SymbolicTensor> {
        self.graph.as_ref().map(|g| g.outputs.clone()).unwrap_or_default()
    }
    /// The symbolic output of the layer named `name` (its first call), to build
    /// a model whose outputs are this one's inner activations:
    /// `Model::with_seed(&m.inputs(), &[m.layer_output("conv2d_1")?], 0)`.
    pub fn layer_output(&self, name: &str) -> Result<SymbolicTensor> {
        let g = self.graph.as_ref().ok_or_else(|| Error::State(format!("model '{}' is not built", self.base.name)))?;
        Ok(g.layer_output(&self.get_layer(name)?, 0).expect("every layer of a built model is called and has an output"))
    }
    /// Names of the inputs (the keys of named inputs in `fit` and `.npz` files).
    pub fn input_names(&self) -> Vec<String> {
        self.graph.as_ref().map(|g| g.input_names.clone()).unwrap_or_default()
    }
    /// Names of the outputs (their layers' names; keys of losses, metrics and predictions).
    pub fn output_names(&self) -> Vec<String> {
        self.graph.as_ref().map(|g| g.output_names.clone()).unwrap_or_default()
    }
    /// The shape of each input sample (no batch axis), once built.
    pub fn input_shapes(&self) -> Vec<Vec<usize>> {
        self.graph.as_ref().map(|g| g.inputs.iter().filter_map(|t| g.shape_of(t).map(|s| s.to_vec())).collect()).unwrap_or_default()
    }
    /// The shape of each output sample (no batch axis), once built.
    pub fn output_shapes(&self) -> Vec<Vec<usize>> {
        self.graph.as_ref().map(|g| g.outputs.iter().filter_map(|t| g.shape_of(t).map(|s| s.to_vec())).collect()).unwrap_or_default()
    }
    /// The input shape of a one-input model (no batch axis), once built.
    pub fn input_shape(&self) -> Option<&[usize]> {
        let g = self.graph.as_ref()?;
        g.shape_of(g.inputs.first()?)
    }
    /// The output shape of a one-output model (no batch axis), once built.
    pub fn output_shape(&self) -> Option<&[usize]> {
        let g = self.graph.as_ref()?;
        g.shape_of(g.outputs.first()?)
    }
    /// The output shape (no batch axis) of layer `i` of [`Model::layers`], once built.
    pub fn layer_output_shape(&self, i: usize) -> Option<Vec<usize>> {
        let g = self.graph.as_ref()?;
        g.shape_of(&g.layer_output(self.layers.get(i)?, 0)?).map(|s| s.to_vec())
    }

    /// Runs a one-input, one-output model on a batch. Records the graph unless inside `no_grad`.
    pub fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        let mut out = self.call_many(std::slice::from_ref(x), training)?;
        match out.len() {
            1 => Ok(out.remove(0)),
            n => Err(Error::argument("call", format!("model '{}' has {n} outputs: use call_many", self.base.name))),
        }
    }

    /// Runs the model on one batch per input and returns one batch per output.
    pub fn call_many(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        let g = self.graph.as_ref().ok_or_else(|| Error::State(format!("model '{}' is not built: call build() or fit() first", self.base.name)))?;
        g.run(inputs, training)
    }

    /// [`Model::call_many`], also giving each output's mask, if the layers
    /// made one and passed it on (`Embedding(mask_zero)` or `Masking`, then
    /// layers that support masking): `(batch, steps)`, 1 where the step
    /// counts. The default training step weighs the loss and the metrics by
    /// these masks, as Keras does.
    pub fn call_with_masks(&self, inputs: &[Tensor], training: bool) -> Result<(Vec<Tensor>, Vec<Option<Tensor>>)> {
        let g = self.graph.as_ref().ok_or_else(|| Error::State(format!("model '{}' is not built: call build() or fit() first", self.base.name)))?;
        g.run_masked(inputs, training)
    }

    /// Every weight as (`layer_name/weight_name`, tensor), in layer order.
    pub fn named_weights(&self) -> Vec<(String, Tensor)> {
        self.weights_by_path().into_iter().map(|w| (w.name, w.tensor)).collect()
    }
    /// [`Model::all_weights`], each named by its path (`layer_name/weight_name`).
    fn weights_by_path(&self) -> Vec<Weight> {
        let named = self.layers.iter().flat_map(|l| {
            let name = l.name();
            l.weights().into_iter().map(move |w| Weight { name: format!("{name}/{}", w.name), ..w })
        });
        once_each(named)
    }
    /// Every weight with its options (regularizer, constraint, trainable), in
    /// layer order, under its layer's own name for it (the training step's
    /// list, so no paths are formatted). A weight reached twice (a layer called
    /// directly and inside a nested model) is listed once.
    pub(crate) fn all_weights(&self) -> Vec<Weight> {
        once_each(self.layers.iter().flat_map(|l| l.weights()))
    }
    /// The tensors the optimizer updates.
    pub fn trainable_weights(&self) -> Vec<Tensor> {
        self.all_weights().into_iter().filter(|w| w.trainable).map(|w| w.tensor).collect()
    }
    /// Total number of weight values.
    pub fn count_params(&self) -> usize {
        self.all_weights().iter().map(|w| w.tensor.numel()).sum()
    }
    /// Replaces weight values by name (`conv2d/kernel`); every given name must exist with the same shape.
    pub fn set_weights_by_name(&self, values: &HashMap<String, Tensor>) -> Result<()> {
        let named: HashMap<String, Tensor> = self.named_weights().into_iter().collect();
        for (name, value) in values {
            let w = named.get(name).ok_or_else(|| Error::argument("weights", format!("model '{}' has no weight named '{name}'", self.base.name)))?;
            if w.shape() != value.shape() {
                return Err(Error::argument("weights", format!("'{name}' has shape {}, got {}", fmt_shape(w.shape()), fmt_shape(value.shape()))));
            }
            w.backend().update(Update::Assign, w, &[], value)?;
        }
        Ok(())
    }
    /// A copy of every weight, in `named_weights` order (Keras's `get_weights()`).
    pub fn get_weights(&self) -> Vec<Tensor> {
        self.named_weights().iter().map(|(_, t)| t.detach()).collect()
    }
    /// Sets every weight from `values`, in [`Model::get_weights`] order (Keras's
    /// `set_weights(list)`); the error names the first weight whose shape differs.
    pub fn set_weights(&self, values: &[Tensor]) -> Result<()> {
        assign_in_order(&self.base.name, &self.named_weights(), values)
    }

    /// Chooses the optimizer, one loss for every output and metrics, by value or by Keras name:
    /// `model.compile("adam", "categorical_crossentropy", &["accuracy"])`.
    pub fn compile(&mut self, optimizer: impl IntoOptimizer, loss: impl IntoLoss, metrics: &[&str]) -> Result<()> {
        self.compile_with(Compile::new(optimizer).loss(loss).metrics(metrics))
    }
    /// Compiles with losses, loss weights and metrics per output (see [`Compile`]).
    pub fn compile_with(&mut self, compile: Compile) -> Result<()> {
        // An unbuilt Sequential has one output, named after its last layer.
        let outputs = if self.is_built() { self.output_names() } else { vec![self.layers.last().map(|l| l.name()).unwrap_or_else(|| "output".into())] };
        self.compiled = Some(compile.resolve(&outputs)?);
        Ok(())
    }
    /// Replaces the training step `fit` runs (Keras's overridden `train_step`);
    /// the progress bar, history, callbacks and checkpoints stay.
    pub fn set_train_step(&mut self, step: impl TrainStep + 'static) {
        self.train_step = Some(Box::new(step));
    }
    /// Takes back the training step set by [`Model::set_train_step`] (the default step runs again).
    pub fn take_train_step(&mut self) -> Option<Box<dyn TrainStep>> {
        self.train_step.take()
    }
    /// Every epoch trained so far, including those before a checkpoint was resumed.
    pub fn history(&self) -> &History {
        &self.history
    }
    /// Number of epochs trained so far (where `fit` resumes by default).
    pub fn epochs_trained(&self) -> usize {
        self.history.epoch.last().map(|e| e + 1).unwrap_or(0)
    }
    /// The compiled loss of the first output, if compiled.
    pub fn loss(&self) -> Option<&dyn crate::losses::Loss> {
        self.compiled.as_ref().and_then(|c| c.loss(0))
    }
    /// Trains data-parallel with `group` (one rank of several: `fit` then
    /// trains this rank's share of each batch; see [`crate::distributed`]).
    /// Without one, the default group is used when set (under `mpirun`).
    pub fn set_collective(&mut self, group: std::sync::Arc<dyn crate::distributed::Collective>) {
        self.collective = Some(group);
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
    /// Every random stream its layers draw from while training, named
    /// `layer/stream` (`dropout/seed_generator`), for checkpoints.
    pub fn random_streams(&self) -> Vec<(String, [u64; 4])> {
        self.layers.iter().flat_map(|l| {
            let name = l.name();
            l.lock().random_streams().into_iter().map(move |(s, state)| (format!("{name}/{s}"), state))
        }).collect()
    }
    /// Restores streams saved from [`Model::random_streams`].
    pub fn set_random_streams(&self, streams: &[(String, [u64; 4])]) -> Result<()> {
        for layer in &self.layers {
            let prefix = format!("{}/", layer.name());
            let mine: Vec<(String, [u64; 4])> = streams.iter().filter_map(|(n, s)| n.strip_prefix(&prefix).map(|rest| (rest.to_string(), *s))).collect();
            layer.lock().set_random_streams(&mine)?;
        }
        Ok(())
    }
    /// Keras's `model.get_config()` for a Sequential model (the layer list).
    pub fn config(&self) -> Value {
        let layers: Vec<Value> = self.layers.iter().map(|l| json!({ "module": "keras.layers", "class_name": l.class_name(), "config": l.config() })).collect();
        json!({ "name": self.base.name, "trainable": self.base.trainable, "dtype": "float32", "layers": layers })
    }
}

/// `weights` without repeats of a tensor (the first one stays).
fn once_each(weights: impl Iterator<Item = Weight>) -> Vec<Weight> {
    let mut seen = std::collections::HashSet::new();
    weights.filter(|w| seen.insert(w.tensor.id())).collect()
}

/// A model used as a layer of another model (a Sequential block inside a
/// functional model): its weights are named by their path inside it
/// (`block/dense/kernel` in the outer model), as Keras names them.
pub(crate) struct ModelLayer(pub Model);

impl crate::layers::Layer for ModelLayer {
    fn class_name(&self) -> &'static str {
        if self.0.sequential { "Sequential" } else { "Functional" }
    }
    fn base(&self) -> &LayerBase {
        &self.0.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.0.base
    }
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        Ok(self.build_many(&[input_shape.to_vec()], rng)?.remove(0))
    }
    fn build_many(&mut self, input_shapes: &[Vec<usize>], rng: &mut Rng) -> Result<Vec<Vec<usize>>> {
        if !self.0.is_built() {
            // Its weights come from the outer model's stream for it.
            self.0.seed = rng.next_u64();
            match input_shapes {
                [one] => self.0.build_chain(one)?,
                _ => return Err(Error::layer(self.0.name(), format!("a Sequential takes one input, got {}", input_shapes.len()))),
            }
        }
        if self.0.input_shapes() != input_shapes {
            let shapes = |s: &[Vec<usize>]| s.iter().map(|s| fmt_shape(s)).collect::<Vec<_>>().join(", ");
            return Err(Error::layer(self.0.name(), format!("takes inputs {}, got {}", shapes(&self.0.input_shapes()), shapes(input_shapes))));
        }
        Ok(self.0.output_shapes())
    }
    fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        Model::call(&self.0, x, training)
    }
    fn call_many(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        Model::call_many(&self.0, inputs, training)
    }
    fn call_masked(&self, inputs: &[Tensor], masks: &[Option<Tensor>], training: bool) -> Result<Vec<Tensor>> {
        Ok(self.call_and_mask(inputs, masks, training)?.0)
    }
    fn compute_mask(&self, inputs: &[Tensor], masks: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        // Inner layers may make masks from values (Embedding, Masking): run the graph without recording.
        let _no_grad = strata_core::no_grad();
        Ok(self.call_and_mask(inputs, masks, false)?.1)
    }
    fn call_and_mask(&self, inputs: &[Tensor], masks: &[Option<Tensor>], training: bool) -> Result<(Vec<Tensor>, Vec<Option<Tensor>>)> {
        // Keras: the masks the inputs carry go into the inner graph, and its outputs' masks come out.
        let g = self.0.graph.as_ref().ok_or_else(|| Error::State(format!("model '{}' is not built", self.0.base.name)))?;
        g.run_with_masks(inputs, masks, training)
    }
    fn num_outputs(&self) -> usize {
        if self.0.sequential { 1 } else { self.0.output_names().len() }
    }
    fn weights(&self) -> Vec<Weight> {
        self.0.weights_by_path()
    }
    fn sublayers(&self) -> Vec<LayerRef> {
        self.0.layers_in_keras_order()
    }
    fn config(&self) -> Value {
        self.0.to_json()["config"].clone()
    }
    fn own_config(&self) -> Value {
        self.config()
    }
    fn random_streams(&self) -> Vec<(String, [u64; 4])> {
        self.0.random_streams()
    }
    fn set_random_streams(&self, streams: &[(String, [u64; 4])]) -> Result<()> {
        self.0.set_random_streams(streams)
    }
}

/// Writes `values` into `weights` in order, after checking the count and every shape.
pub(crate) fn assign_in_order(owner: &str, weights: &[(String, Tensor)], values: &[Tensor]) -> Result<()> {
    if weights.len() != values.len() {
        return Err(Error::argument("set_weights", format!("'{owner}' has {} weights, got {} arrays", weights.len(), values.len())));
    }
    if let Some(((name, w), v)) = weights.iter().zip(values).find(|((_, w), v)| w.shape() != v.shape()) {
        return Err(Error::argument("set_weights", format!("weight '{name}' of '{owner}' has shape {}, got an array of shape {}", fmt_shape(w.shape()), fmt_shape(v.shape()))));
    }
    for ((_, w), v) in weights.iter().zip(values) {
        w.backend().update(Update::Assign, w, &[], v)?;
    }
    Ok(())
}
