//! Reverse-mode automatic differentiation over the dynamic graph that ops
//! record as they run. Each op builds its output and, beside it, the closure
//! that sends the output's gradient back to its inputs; `backward()` sorts
//! the graph topologically and walks it in reverse, summing the gradients of
//! a tensor used more than once before passing them on. An op with several
//! outputs (split) is one node whose backward runs once, with every output's
//! gradient, so its cost follows the outputs, not outputs x input.
//!
//! Gradients are tensors: on the device of what they are the gradients of,
//! added by its backend. The walk itself never reads their numbers.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{fmt_shape, Error, Result};
use crate::profile::{self, Phase};
use crate::tensor::Tensor;

/// Gradient of each input of an op (`None` where an input needs none).
pub type InputGrads = Vec<Option<Tensor>>;

/// Gradients of an op's inputs as host values, shaped like the inputs (what
/// the host kernels compute; `GradFn::host` makes them tensors).
pub type HostGrads = Vec<Option<Vec<f32>>>;

/// Backward closure: `(inputs, output, output gradient) -> gradient per input`.
/// The output is passed in (rather than captured) so an op can use its
/// values (relu's mask, softmax's probabilities) without keeping a copy.
pub type BackwardFn = Box<dyn Fn(&[Tensor], &Tensor, &Tensor) -> InputGrads + Send + Sync>;

/// The record an op leaves on its output: its inputs and how to differentiate it.
pub struct GradFn {
    pub(crate) name: &'static str,
    pub(crate) inputs: Vec<Tensor>,
    pub(crate) backward: BackwardFn,
    /// The profiling scope (layer) the op ran in, when profiling.
    scope: Option<Arc<str>>,
}

impl GradFn {
    /// The record of an op whose backward pass works on tensors.
    pub fn new(name: &'static str, inputs: Vec<Tensor>, backward: BackwardFn) -> Self {
        GradFn { name, inputs, backward, scope: profile::current_scope() }
    }

    /// The record of an op whose backward pass is a host kernel over the
    /// output's values and gradient: `(inputs, y, dy) -> gradient per input`.
    pub(crate) fn host(name: &'static str, inputs: Vec<Tensor>, backward: impl Fn(&[Tensor], &[f32], &[f32]) -> HostGrads + Send + Sync + 'static) -> Self {
        let backward = move |inputs: &[Tensor], y: &Tensor, g: &Tensor| host_grads(inputs, backward(inputs, &y.data(), &g.data()));
        GradFn::new(name, inputs, Box::new(backward))
    }
}

/// Host gradients as tensors shaped like their inputs.
pub(crate) fn host_grads(inputs: &[Tensor], grads: HostGrads) -> InputGrads {
    grads.into_iter().zip(inputs).map(|(g, x)| g.map(|g| Tensor::constant(g, x.shape().to_vec()))).collect()
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// A fresh id for a tensor or a several-output op.
pub(crate) fn next_id() -> usize {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Backward closure of a several-output op: `(inputs, gradient of each
/// output, None where an output got none) -> gradient per input`.
pub type MultiBackwardFn = Box<dyn Fn(&[Tensor], &[Option<Tensor>]) -> InputGrads + Send + Sync>;

/// The record a several-output op shares among its outputs.
pub struct MultiOp {
    id: usize,
    pub(crate) name: &'static str,
    pub(crate) inputs: Vec<Tensor>,
    outputs: usize,
    backward: MultiBackwardFn,
    scope: Option<Arc<str>>,
}

impl MultiOp {
    pub(crate) fn new(name: &'static str, inputs: Vec<Tensor>, outputs: usize, backward: MultiBackwardFn) -> Self {
        MultiOp { id: next_id(), name, inputs, outputs, backward, scope: profile::current_scope() }
    }
}

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether ops on this thread currently record the graph.
pub fn is_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// While alive, ops on this thread record no graph (inference, metrics), or
/// record it ([`enable_grad`]); dropped, the thread's earlier setting returns.
pub struct NoGradGuard {
    previous: bool,
}

/// Stops graph recording until the returned guard is dropped.
pub fn no_grad() -> NoGradGuard {
    let previous = GRAD_ENABLED.with(|g| g.replace(false));
    NoGradGuard { previous }
}

/// Starts graph recording again until the returned guard is dropped (as
/// PyTorch's `enable_grad`): for a training step, which records whatever
/// the thread that runs it was doing.
pub fn enable_grad() -> NoGradGuard {
    let previous = GRAD_ENABLED.with(|g| g.replace(true));
    NoGradGuard { previous }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

/// Gradients of a scalar with respect to the trainable leaves it depends on:
/// one constant tensor per leaf, shaped like it, on its device.
#[derive(Clone, Default)]
pub struct Gradients {
    by_id: HashMap<usize, Tensor>,
}

impl Gradients {
    /// The gradient for `t`, shaped like `t`, if `t` influenced the result.
    pub fn get(&self, t: &Tensor) -> Option<&Tensor> {
        self.by_id.get(&t.id())
    }
    /// Sets (or replaces) the gradient for `t`: what a gradient stage does
    /// after clipping or averaging it. Fails unless `g` has `t`'s shape.
    pub fn set(&mut self, t: &Tensor, g: Tensor) -> Result<()> {
        if g.shape() != t.shape() {
            return Err(Error::shape("Gradients::set", format!("a gradient of shape {} cannot belong to a weight of shape {}", fmt_shape(g.shape()), fmt_shape(t.shape()))));
        }
        self.by_id.insert(t.id(), g);
        Ok(())
    }
    /// Replaces every gradient `g` by `f(g)` (clipping, scaling: tensor ops,
    /// so they run on the gradients' device). Fails, and changes nothing,
    /// if `f` changes a gradient's shape.
    pub fn map(&mut self, mut f: impl FnMut(&Tensor) -> Tensor) -> Result<()> {
        let _off = no_grad();
        let mapped: Vec<(usize, Tensor)> = self.by_id.iter().map(|(&id, g)| (id, f(g))).collect();
        for (id, new) in &mapped {
            let old = &self.by_id[id];
            if new.shape() != old.shape() {
                return Err(Error::shape("Gradients::map", format!("turned a gradient of shape {} into one of shape {}", fmt_shape(old.shape()), fmt_shape(new.shape()))));
            }
        }
        self.by_id.extend(mapped);
        Ok(())
    }
    /// The L2 norm of the gradients of `params` together, summed in the
    /// order of `params` (so the same weights give the same bits every run).
    pub fn global_norm(&self, params: &[Tensor]) -> f32 {
        let _off = no_grad();
        params.iter().filter_map(|p| self.get(p)).map(|g| g.sum_of_squares()).sum::<f64>().sqrt() as f32
    }
    /// Number of tensors with a gradient.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }
    /// Whether no gradient was computed.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// A step of the backward walk: a tensor, or a several-output op (which
/// comes after all of its outputs in the walk).
enum Vertex {
    Tensor(Tensor),
    Multi(Arc<MultiOp>),
}

impl Vertex {
    fn id(&self) -> usize {
        match self {
            Vertex::Tensor(t) => t.id(),
            Vertex::Multi(m) => m.id,
        }
    }
    /// What this vertex was computed from.
    fn sources(&self) -> Vec<Vertex> {
        match self {
            Vertex::Tensor(t) => match (&t.0.grad_fn, &t.0.part) {
                (Some(f), _) => f.inputs.iter().map(|i| Vertex::Tensor(i.clone())).collect(),
                (None, Some((op, _))) => vec![Vertex::Multi(op.clone())],
                (None, None) => Vec::new(),
            },
            Vertex::Multi(m) => m.inputs.iter().map(|i| Vertex::Tensor(i.clone())).collect(),
        }
    }
    fn needs_grad(&self) -> bool {
        match self {
            Vertex::Tensor(t) => t.requires_grad(),
            Vertex::Multi(_) => true,
        }
    }
}

/// Vertices reachable from `root` through tensors that require gradients,
/// ordered so that every vertex comes after all vertices it was computed from.
fn topological_order(root: &Tensor) -> Vec<Vertex> {
    let mut order = Vec::new();
    let mut visited = HashSet::new();
    // Iterative DFS: (vertex, sources already pushed?)
    let mut stack = vec![(Vertex::Tensor(root.clone()), false)];
    while let Some((v, expanded)) = stack.pop() {
        if expanded {
            order.push(v);
            continue;
        }
        if !visited.insert(v.id()) {
            continue;
        }
        let sources = v.sources();
        stack.push((v, true));
        for s in sources {
            if s.needs_grad() && !visited.contains(&s.id()) {
                stack.push((s, false));
            }
        }
    }
    order
}

/// Adds each input's gradient to what `pending` holds for it.
fn pass_on(name: &str, inputs: &[Tensor], input_grads: InputGrads, pending: &mut HashMap<usize, Tensor>) {
    debug_assert_eq!(input_grads.len(), inputs.len(), "op {name} returned the wrong number of gradients");
    for (input, g) in inputs.iter().zip(input_grads) {
        let Some(g) = g else { continue };
        if !input.requires_grad() {
            continue;
        }
        debug_assert_eq!(g.shape(), input.shape(), "op {name} returned a gradient of the wrong shape");
        let total = match pending.remove(&input.id()) {
            Some(acc) => acc.backend().accumulate(acc, &g),
            None => g,
        };
        pending.insert(input.id(), total);
    }
}

/// Times `f` under `scope` when profiling.
fn timed<R>(scope: &Option<Arc<str>>, f: impl FnOnce() -> R) -> R {
    let started = scope.as_ref().map(|_| Instant::now());
    let r = f();
    if let (Some(scope), Some(started)) = (scope, started) {
        profile::record(scope, Phase::Backward, started.elapsed());
    }
    r
}

impl Tensor {
    /// Backpropagates from this one-element tensor (usually a loss) and
    /// returns the gradients of every trainable leaf it depends on.
    pub fn backward(&self) -> Result<Gradients> {
        self.backward_keeping(&[])
    }

    /// As [`Tensor::backward`], and also keeps the gradients of the
    /// intermediate tensors `keep` (a layer's activations, for Grad-CAM;
    /// PyTorch's `retain_grad`): `gradients.get(&activation)`.
    pub fn backward_keeping(&self, keep: &[Tensor]) -> Result<Gradients> {
        if self.numel() != 1 {
            return Err(Error::shape("backward", format!("needs a one-element (scalar) tensor, got shape {}", fmt_shape(self.shape()))));
        }
        let mut result = Gradients::default();
        if !self.requires_grad() {
            return Ok(result);
        }
        let _off = no_grad();
        let order = topological_order(self);
        let mut pending: HashMap<usize, Tensor> = HashMap::new();
        let mut parts: HashMap<usize, Vec<Option<Tensor>>> = HashMap::new();
        pending.insert(self.id(), Tensor::full(self.shape(), 1.0));
        for v in order.iter().rev() {
            let t = match v {
                Vertex::Multi(m) => {
                    // No output got a gradient: nothing flows back through the op.
                    let Some(grads) = parts.remove(&m.id) else { continue };
                    let input_grads = timed(&m.scope, || (m.backward)(&m.inputs, &grads));
                    pass_on(m.name, &m.inputs, input_grads, &mut pending);
                    continue;
                }
                Vertex::Tensor(t) => t,
            };
            let Some(grad) = pending.remove(&t.id()) else { continue };
            if keep.iter().any(|k| k.id() == t.id()) {
                result.by_id.insert(t.id(), grad.clone());
            }
            if let Some((op, index)) = &t.0.part {
                parts.entry(op.id).or_insert_with(|| (0..op.outputs).map(|_| None).collect())[*index] = Some(grad);
                continue;
            }
            let Some(f) = &t.0.grad_fn else {
                result.by_id.insert(t.id(), grad);
                continue;
            };
            let input_grads = timed(&f.scope, || (f.backward)(&f.inputs, t, &grad));
            drop(grad);
            pass_on(f.name, &f.inputs, input_grads, &mut pending);
        }
        Ok(result)
    }

    /// The name of the op that produced this tensor, if it was recorded.
    pub fn op_name(&self) -> Option<&'static str> {
        self.0.grad_fn.as_ref().map(|f| f.name).or_else(|| self.0.part.as_ref().map(|(op, _)| op.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The global norm adds the gradients in the order of the weights given,
    /// whatever order the map holds them in: the same bits every time.
    #[test]
    fn global_norm_sums_in_the_weights_order() {
        let params: Vec<Tensor> = (0..40).map(|i| Tensor::variable(vec![1e-3 * i as f32, 1e3 / (i + 1) as f32, 0.1], &[3]).unwrap()).collect();
        let sequential = params.iter().map(|p| p.sum_of_squares()).sum::<f64>().sqrt() as f32;
        for order in [params.clone(), params.iter().rev().cloned().collect()] {
            let mut grads = Gradients::default();
            for p in &order {
                grads.by_id.insert(p.id(), p.detach());
            }
            assert_eq!(grads.global_norm(&params).to_bits(), sequential.to_bits());
        }
    }
}
