//! From symbolic inputs and outputs to something that runs: the layer calls
//! in dependency order, checked (every input used, every output reachable,
//! names unique), the layers built from the model's seed, and a plan of steps
//! over numbered value slots. A relu `Conv2D` whose only reader is a tiling
//! `MaxPooling2D` becomes one fused step (a rewrite of the plan; same values).

use std::collections::HashMap;
use std::sync::Arc;

use strata_core::profile::{self, Phase};
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::graph::{Call, InputSpec, Origin, SymbolicTensor};
use crate::layers::{default_name, LayerRef};

/// The stream layer `i` of a model draws its initial weights from.
pub(crate) fn layer_rng(seed: u64, i: usize) -> Rng {
    Rng::new(seed.wrapping_add((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}

/// One step of the plan: a layer call reading and writing value slots.
pub(crate) struct Step {
    pub layer: LayerRef,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    /// A tiling max pool fused into this (relu `Conv2D`) step: the pooling layer's name and pool size.
    pub pool: Option<(String, (usize, usize))>,
}

/// A built model graph.
pub(crate) struct Graph {
    pub inputs: Vec<SymbolicTensor>,
    pub outputs: Vec<SymbolicTensor>,
    /// Unique names of the inputs (Keras's input layer names) and of the outputs (their layers').
    pub input_names: Vec<String>,
    /// The type each input is cast to.
    pub input_dtypes: Vec<strata_core::DType>,
    pub output_names: Vec<String>,
    /// Every layer call in run order, as defined (before fusion): for the summary and the config.
    pub calls: Vec<Arc<Call>>,
    /// The slots of each call's outputs, by the call's address.
    call_slots: HashMap<usize, Vec<usize>>,
    /// The shape of each slot's value (no batch axis).
    pub shapes: Vec<Vec<usize>>,
    pub steps: Vec<Step>,
    /// For each slot, the last step reading it (`usize::MAX` for model outputs).
    pub last_use: Vec<usize>,
}

fn call_key(call: &Arc<Call>) -> usize {
    Arc::as_ptr(call) as usize
}

/// The calls `outputs` depend on, each after the calls it reads from, and the inputs they reach.
fn calls_in_order(outputs: &[SymbolicTensor]) -> (Vec<Arc<Call>>, Vec<Arc<InputSpec>>) {
    let (mut calls, mut reached) = (Vec::new(), Vec::<Arc<InputSpec>>::new());
    let mut seen = std::collections::HashSet::new();
    // Iterative DFS over tensors: (tensor, its call's inputs already pushed?)
    let mut stack: Vec<(SymbolicTensor, bool)> = outputs.iter().rev().map(|t| (t.clone(), false)).collect();
    while let Some((t, expanded)) = stack.pop() {
        match &t.0.origin {
            Origin::Input(spec) => {
                if !reached.iter().any(|r| Arc::ptr_eq(r, spec)) {
                    reached.push(spec.clone());
                }
            }
            Origin::Call(call, _) => {
                let id = call_key(call);
                if expanded {
                    calls.push(call.clone());
                    continue;
                }
                if !seen.insert(id) {
                    continue;
                }
                stack.push((t.clone(), true));
                stack.extend(call.inputs.iter().rev().map(|i| (i.clone(), false)));
            }
        }
    }
    (calls, reached)
}

/// Names for `items` that are unique: a repeated default name gets Keras's
/// `_1`, `_2` suffix; a repeated chosen name is an error naming `what`.
fn unique_names(what: &str, names: Vec<(String, bool)>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for (name, is_default) in names {
        let taken = |n: &str, out: &[String]| out.iter().any(|o| o == n);
        if !taken(&name, &out) {
            out.push(name);
        } else if is_default {
            let k = (1..).find(|k| !taken(&format!("{name}_{k}"), &out)).expect("a free suffix exists");
            out.push(format!("{name}_{k}"));
        } else {
            return Err(Error::argument("model", format!("two {what}s are named '{name}': names must be unique within a model")));
        }
    }
    Ok(out)
}

impl Graph {
    /// Checks the graph from `inputs` to `outputs`, builds its layers (layer
    /// `i` of the returned list from stream `i` of `seed`) and plans its steps.
    pub fn new(inputs: &[SymbolicTensor], outputs: &[SymbolicTensor], seed: u64) -> Result<(Graph, Vec<LayerRef>)> {
        if inputs.is_empty() || outputs.is_empty() {
            return Err(Error::argument("model", "needs at least one input and one output"));
        }
        let mut specs = Vec::new();
        for t in inputs {
            let spec = t.input_spec().ok_or_else(|| Error::argument("model", format!("inputs must come from Input(), but one is the output of layer '{}'", t.describe())))?;
            if specs.iter().any(|s| Arc::ptr_eq(s, spec)) {
                return Err(Error::argument("model", format!("input '{}' is listed twice", spec.name)));
            }
            specs.push(spec.clone());
        }
        let (calls, reached) = calls_in_order(outputs);
        if let Some(stray) = reached.iter().find(|r| !specs.iter().any(|s| Arc::ptr_eq(s, r))) {
            return Err(Error::argument("model", format!("the outputs depend on input '{}', which is not among the model's inputs", stray.name)));
        }
        if let Some(unused) = specs.iter().find(|s| !reached.iter().any(|r| Arc::ptr_eq(r, s))) {
            return Err(Error::argument("model", format!("input '{}' is not connected to any output", unused.name)));
        }
        let input_names = unique_names("input", specs.iter().map(|s| (s.name.clone(), s.name == "input_layer")).collect())?;
        // Distinct layers in order of first call; repeated default names are suffixed.
        let mut layers: Vec<LayerRef> = Vec::new();
        for call in &calls {
            if !layers.iter().any(|l| l.same(&call.layer)) {
                layers.push(call.layer.clone());
            }
        }
        let wanted = layers.iter().map(|l| {
            let (name, built) = (l.name(), l.is_built());
            let is_default = !built && name == default_name(l.class_name());
            (name, is_default)
        });
        let names = unique_names("layer", input_names.iter().map(|n| (n.clone(), false)).chain(wanted).collect())?;
        for (l, name) in layers.iter().zip(&names[input_names.len()..]) {
            if l.name() != *name {
                l.lock().set_name(name.clone());
            }
        }
        let mut graph = Graph {
            inputs: inputs.to_vec(),
            outputs: outputs.to_vec(),
            input_names,
            input_dtypes: specs.iter().map(|s| s.dtype).collect(),
            output_names: Vec::new(),
            calls: calls.clone(),
            call_slots: HashMap::new(),
            shapes: specs.iter().map(|s| s.shape.clone()).collect(),
            steps: Vec::new(),
            last_use: Vec::new(),
        };
        for call in &calls {
            graph.build_call(call, &layers, seed)?;
        }
        let output_name = |t: &SymbolicTensor| match inputs.iter().position(|x| x.same(t)) {
            Some(k) => graph.input_names[k].clone(),
            None => t.describe(),
        };
        graph.output_names = unique_names("output", outputs.iter().map(|t| (output_name(t), true)).collect())?;
        graph.fuse_conv_pool();
        graph.last_use = vec![0; graph.shapes.len()];
        for (k, step) in graph.steps.iter().enumerate() {
            step.inputs.iter().for_each(|&s| graph.last_use[s] = k);
        }
        for t in outputs {
            let slot = graph.slot(t).expect("outputs are computed");
            graph.last_use[slot] = usize::MAX;
        }
        Ok((graph, layers))
    }

    /// Builds one call's layer for its inputs' shapes and gives its outputs slots.
    fn build_call(&mut self, call: &Arc<Call>, layers: &[LayerRef], seed: u64) -> Result<()> {
        let inputs: Vec<usize> = call.inputs.iter().map(|t| self.slot(t).expect("a call comes after the calls it reads")).collect();
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|&s| self.shapes[s].clone()).collect();
        let index = layers.iter().position(|l| l.same(&call.layer)).expect("every called layer is listed");
        if let Some(declared) = call.layer.declared_input_shape().filter(|_| shapes.len() == 1) {
            if declared != shapes[0] {
                return Err(Error::layer(call.layer.name(), format!("declared input_shape={} but receives samples of shape {}", fmt_shape(&declared), fmt_shape(&shapes[0]))));
            }
        }
        let out = call.layer.build(&shapes, &mut layer_rng(seed, index)).map_err(|e| {
            if call.inputs.len() < 2 {
                return e;
            }
            let from: Vec<String> = call.inputs.iter().zip(&shapes).map(|(t, s)| format!("'{}' {}", t.describe(), fmt_shape(s))).collect();
            Error::layer(call.layer.name(), format!("{e} (inputs from {})", from.join(" and ")))
        })?;
        if out.len() != call.layer.num_outputs() {
            return Err(Error::layer(call.layer.name(), format!("built {} outputs but declares {} (num_outputs)", out.len(), call.layer.num_outputs())));
        }
        let outputs: Vec<usize> = (0..out.len()).map(|i| self.shapes.len() + i).collect();
        self.shapes.extend(out);
        self.call_slots.insert(call_key(call), outputs.clone());
        self.steps.push(Step { layer: call.layer.clone(), inputs, outputs, pool: None });
        Ok(())
    }

    /// The value slot of a symbolic tensor of this graph: an input's position,
    /// or the slot its call gave that output.
    fn slot(&self, t: &SymbolicTensor) -> Option<usize> {
        match &t.0.origin {
            Origin::Input(spec) => self.inputs.iter().position(|x| x.input_spec().is_some_and(|s| Arc::ptr_eq(s, spec))),
            Origin::Call(call, i) => self.call_slots.get(&call_key(call))?.get(*i).copied(),
        }
    }

    /// How Keras refers to a tensor of this graph (`keras_history`, the
    /// summary's "Connected to"): the making layer's name (an input's own
    /// name), which of that layer's calls made it, and which output it is.
    pub fn reference(&self, t: &SymbolicTensor) -> (String, usize, usize) {
        match &t.0.origin {
            Origin::Input(_) => (self.slot(t).map(|k| self.input_names[k].clone()).unwrap_or_else(|| t.describe()), 0, 0),
            Origin::Call(c, index) => {
                let node = self.calls.iter().filter(|o| o.layer.same(&c.layer)).position(|o| Arc::ptr_eq(o, c)).unwrap_or(0);
                (c.layer.name(), node, *index)
            }
        }
    }

    /// Output `index` of the first call of `layer` in this graph.
    pub fn layer_output(&self, layer: &LayerRef, index: usize) -> Option<SymbolicTensor> {
        let call = self.calls.iter().find(|c| c.layer.same(layer))?;
        (index < self.call_slots.get(&call_key(call))?.len()).then(|| SymbolicTensor::of_call(call.clone(), index))
    }

    /// Rewrites a relu `Conv2D` step followed by a tiling `MaxPooling2D` that
    /// is the only reader of its output (which is no model output) as one step.
    fn fuse_conv_pool(&mut self) {
        let outputs: Vec<usize> = self.outputs.iter().filter_map(|t| self.slot(t)).collect();
        let mut k = 0;
        while k < self.steps.len() {
            let fusable = self.steps[k].outputs.len() == 1 && self.steps[k].layer.fuses_max_pool() && !outputs.contains(&self.steps[k].outputs[0]);
            if fusable {
                let slot = self.steps[k].outputs[0];
                let readers: Vec<usize> = (0..self.steps.len()).filter(|&j| self.steps[j].inputs.contains(&slot)).collect();
                if let [j] = readers[..] {
                    let pool = self.steps[j].layer.tiling_max_pool().filter(|_| self.steps[j].inputs.len() == 1);
                    if let Some(pool) = pool {
                        let pool_step = self.steps.remove(j);
                        self.steps[k].outputs = pool_step.outputs;
                        self.steps[k].pool = Some((pool_step.layer.name(), pool));
                    }
                }
            }
            k += 1;
        }
    }

    /// Runs the steps on `inputs` (one tensor per model input).
    pub fn run(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        Ok(self.run_masked(inputs, training)?.0)
    }

    /// [`Graph::run`], also giving each output's mask (Keras's `_keras_mask`:
    /// `(batch, steps)`, 1 where the step counts), carried from the layers
    /// that make masks through those that pass them on.
    pub fn run_masked(&self, inputs: &[Tensor], training: bool) -> Result<(Vec<Tensor>, Vec<Option<Tensor>>)> {
        self.run_with_masks(inputs, &[], training)
    }

    /// [`Graph::run_masked`] with masks given on the inputs (one per input,
    /// or none): a model called as a layer of another gets the masks its
    /// inputs carry there, as Keras's do.
    pub fn run_with_masks(&self, inputs: &[Tensor], input_masks: &[Option<Tensor>], training: bool) -> Result<(Vec<Tensor>, Vec<Option<Tensor>>)> {
        if inputs.len() != self.input_names.len() {
            return Err(Error::argument("inputs", format!("the model takes {} inputs ({}), got {}", self.input_names.len(), self.input_names.join(", "), inputs.len())));
        }
        let mut values: Vec<Option<Tensor>> = vec![None; self.shapes.len()];
        let mut masks: Vec<Option<Tensor>> = vec![None; self.shapes.len()];
        for ((slot, x), &dtype) in inputs.iter().enumerate().zip(&self.input_dtypes) {
            values[slot] = Some(if x.dtype() == dtype { x.clone() } else { x.cast(dtype) });
            masks[slot] = input_masks.get(slot).cloned().flatten();
        }
        for (k, step) in self.steps.iter().enumerate() {
            let args: Vec<Tensor> = step.inputs.iter().map(|&s| values[s].clone().expect("a step runs after the steps it reads")).collect();
            let arg_masks: Vec<Option<Tensor>> = step.inputs.iter().map(|&s| masks[s].clone()).collect();
            let layer = step.layer.lock();
            let name = layer.name();
            let (outs, out_masks) = match &step.pool {
                Some((pool_name, pool)) => {
                    let scope = format!("{name} + {pool_name}");
                    // A fused pool's mask is the convolution's: none (neither layer supports masking).
                    profile::scoped(&scope, Phase::Forward, || layer.call_max_pooled(&args[0], training, *pool)).map(|y| (vec![y], vec![None]))
                }
                None => profile::scoped(name, Phase::Forward, || layer.call_and_mask(&args, &arg_masks, training)),
            }
            .map_err(|e| e.in_layer(name))?;
            if outs.len() != step.outputs.len() {
                return Err(Error::layer(name, format!("returned {} outputs where it declared {}", outs.len(), step.outputs.len())));
            }
            for ((&s, y), m) in step.outputs.iter().zip(outs).zip(out_masks) {
                values[s] = Some(y);
                masks[s] = m;
            }
            for &s in &step.inputs {
                if self.last_use[s] == k {
                    values[s] = None;
                    masks[s] = None;
                }
            }
        }
        let slots: Vec<usize> = self.outputs.iter().map(|t| self.slot(t).expect("outputs are computed")).collect();
        let outputs = slots.iter().map(|&s| values[s].clone().expect("outputs are computed")).collect();
        Ok((outputs, slots.iter().map(|&s| masks[s].clone()).collect()))
    }

    /// The shape (no batch axis) of a symbolic tensor of this graph.
    pub fn shape_of(&self, t: &SymbolicTensor) -> Option<&[usize]> {
        self.slot(t).map(|s| self.shapes[s].as_slice())
    }
}

impl Graph {
    /// The layers in the order Keras's `Functional.layers` lists them: by
    /// depth from the outputs, deepest first, ties in the order a depth-first
    /// walk from the outputs first reaches them (Keras's `map_graph`). Keras
    /// keys a saved model's weights by this order, so `.keras` files follow it.
    pub(crate) fn keras_layer_order(&self) -> Vec<LayerRef> {
        let key = |l: &LayerRef| l.address();
        // A depth-first walk from the outputs: each layer's first visit, and the calls after their inputs.
        let (mut first_visit, mut post_order, mut seen) = (Vec::<LayerRef>::new(), Vec::<Arc<Call>>::new(), std::collections::HashSet::new());
        let mut stack: Vec<(Arc<Call>, bool)> = Vec::new();
        let push_origin = |t: &SymbolicTensor, stack: &mut Vec<(Arc<Call>, bool)>| {
            if let Origin::Call(call, _) = &t.0.origin {
                stack.push((call.clone(), false));
            }
        };
        for out in &self.outputs {
            push_origin(out, &mut stack);
            while let Some((call, expanded)) = stack.pop() {
                if expanded {
                    post_order.push(call);
                    continue;
                }
                if !seen.insert(call_key(&call)) {
                    continue;
                }
                if !first_visit.iter().any(|l| l.same(&call.layer)) {
                    first_visit.push(call.layer.clone());
                }
                stack.push((call.clone(), true));
                for input in call.inputs.iter().rev() {
                    push_origin(input, &mut stack);
                }
            }
        }
        // Depths: a call is one deeper than the deepest call reading it; a layer, its deepest call.
        let (mut call_depth, mut layer_depth) = (HashMap::<usize, usize>::new(), HashMap::<usize, usize>::new());
        for call in post_order.iter().rev() {
            let depth = call_depth.get(&call_key(call)).copied().unwrap_or(0).max(layer_depth.get(&key(&call.layer)).copied().unwrap_or(0));
            layer_depth.insert(key(&call.layer), depth);
            call_depth.insert(call_key(call), depth);
            for input in &call.inputs {
                if let Origin::Call(parent, _) = &input.0.origin {
                    let d = call_depth.entry(call_key(parent)).or_insert(0);
                    *d = (*d).max(depth + 1);
                }
            }
        }
        let mut order = first_visit;
        // Stable sort: deepest first, ties keep the first-visit order.
        order.sort_by_key(|l| std::cmp::Reverse(layer_depth.get(&key(l)).copied().unwrap_or(0)));
        order
    }
}
