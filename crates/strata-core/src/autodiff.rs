//! Reverse-mode automatic differentiation over the dynamic graph that ops
//! record as they run. Each op builds its output and, beside it, the closure
//! that sends the output's gradient back to its inputs; `backward()` sorts
//! the graph topologically and walks it in reverse, summing the gradients of
//! a tensor used more than once before passing them on.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

use std::sync::Arc;
use std::time::Instant;

use crate::error::{fmt_shape, Error, Result};
use crate::profile::{self, Phase};
use crate::tensor::Tensor;

/// Gradient of each input of an op (`None` where an input needs none).
pub type InputGrads = Vec<Option<Vec<f32>>>;

/// Backward closure: `(inputs, output values, output gradient) -> gradient per input`.
/// The output's values are passed in (rather than captured) so an op can use
/// them (relu's mask, softmax's probabilities) without keeping a copy.
pub type BackwardFn = Box<dyn Fn(&[Tensor], &[f32], &[f32]) -> InputGrads + Send + Sync>;

/// The record an op leaves on its output: its inputs and how to differentiate it.
pub struct GradFn {
    pub(crate) name: &'static str,
    pub(crate) inputs: Vec<Tensor>,
    pub(crate) backward: BackwardFn,
    /// The profiling scope (layer) the op ran in, when profiling.
    scope: Option<Arc<str>>,
}

impl GradFn {
    pub(crate) fn new(name: &'static str, inputs: Vec<Tensor>, backward: BackwardFn) -> Self {
        GradFn { name, inputs, backward, scope: profile::current_scope() }
    }
}

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether ops on this thread currently record the graph.
pub fn is_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// While alive, ops on this thread record no graph (inference, metrics).
pub struct NoGradGuard {
    previous: bool,
}

/// Stops graph recording until the returned guard is dropped.
pub fn no_grad() -> NoGradGuard {
    let previous = GRAD_ENABLED.with(|g| g.replace(false));
    NoGradGuard { previous }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

/// Gradients of a scalar with respect to the trainable leaves it depends on.
#[derive(Clone, Default)]
pub struct Gradients {
    by_id: HashMap<usize, Vec<f32>>,
}

impl Gradients {
    /// The gradient for `t`, shaped like `t`, if `t` influenced the result.
    pub fn get(&self, t: &Tensor) -> Option<&[f32]> {
        self.by_id.get(&t.id()).map(|g| g.as_slice())
    }
    /// The gradient for `t` as a tensor.
    pub fn tensor(&self, t: &Tensor) -> Option<Tensor> {
        self.get(t).map(|g| Tensor::new(g.to_vec(), t.shape()).expect("gradient matches its tensor"))
    }
    /// Mutable access, for gradient clipping before an optimizer step.
    pub fn get_mut(&mut self, t: &Tensor) -> Option<&mut Vec<f32>> {
        self.by_id.get_mut(&t.id())
    }
    /// Applies `f` to every gradient (clipping, scaling).
    pub fn for_each_mut(&mut self, mut f: impl FnMut(&mut [f32])) {
        self.by_id.values_mut().for_each(|g| f(g));
    }
    /// The L2 norm of all gradients together.
    pub fn global_norm(&self) -> f32 {
        self.by_id.values().flat_map(|g| g.iter()).map(|&v| v as f64 * v as f64).sum::<f64>().sqrt() as f32
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

/// Nodes reachable from `root` through tensors that require gradients,
/// ordered so that every tensor comes after all tensors it was computed from.
fn topological_order(root: &Tensor) -> Vec<Tensor> {
    let mut order = Vec::new();
    let mut visited = HashSet::new();
    // Iterative DFS: (tensor, children already pushed?)
    let mut stack = vec![(root.clone(), false)];
    while let Some((t, expanded)) = stack.pop() {
        if expanded {
            order.push(t);
            continue;
        }
        if !visited.insert(t.id()) {
            continue;
        }
        stack.push((t.clone(), true));
        if let Some(f) = &t.0.grad_fn {
            for input in &f.inputs {
                if input.requires_grad() && !visited.contains(&input.id()) {
                    stack.push((input.clone(), false));
                }
            }
        }
    }
    order
}

impl Tensor {
    /// Backpropagates from this one-element tensor (usually a loss) and
    /// returns the gradients of every trainable leaf it depends on.
    pub fn backward(&self) -> Result<Gradients> {
        if self.numel() != 1 {
            return Err(Error::shape("backward", format!("needs a one-element (scalar) tensor, got shape {}", fmt_shape(self.shape()))));
        }
        let mut result = Gradients::default();
        if !self.requires_grad() {
            return Ok(result);
        }
        let order = topological_order(self);
        let mut pending: HashMap<usize, Vec<f32>> = HashMap::new();
        pending.insert(self.id(), vec![1.0]);
        for t in order.iter().rev() {
            let Some(grad) = pending.remove(&t.id()) else { continue };
            let Some(f) = &t.0.grad_fn else {
                result.by_id.insert(t.id(), grad);
                continue;
            };
            let started = f.scope.as_ref().map(|_| Instant::now());
            let input_grads = (f.backward)(&f.inputs, &t.data(), &grad);
            if let (Some(scope), Some(started)) = (&f.scope, started) {
                profile::record(scope, Phase::Backward, started.elapsed());
            }
            crate::buffer::give(grad);
            debug_assert_eq!(input_grads.len(), f.inputs.len(), "op {} returned the wrong number of gradients", f.name);
            for (input, g) in f.inputs.iter().zip(input_grads) {
                let Some(g) = g else { continue };
                if !input.requires_grad() {
                    continue;
                }
                debug_assert_eq!(g.len(), input.numel(), "op {} returned a gradient of the wrong size", f.name);
                match pending.get_mut(&input.id()) {
                    Some(acc) => {
                        acc.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
                        crate::buffer::give(g);
                    }
                    None => {
                        pending.insert(input.id(), g);
                    }
                }
            }
        }
        Ok(result)
    }

    /// The name of the op that produced this tensor, if it was recorded.
    pub fn op_name(&self) -> Option<&'static str> {
        self.0.grad_fn.as_ref().map(|f| f.name)
    }
}
