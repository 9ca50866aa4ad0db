//! Cross-entropy fused with softmax: computed from logits with the
//! log-sum-exp trick, so it neither overflows nor takes log(0).

use rayon::prelude::*;

use crate::autodiff::GradFn;
use crate::buffer::{self, Recycled};
use crate::kernels::elementwise::{softmax_cross_entropy_rows, Targets};
use crate::tensor::Tensor;

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 64;

/// Per-sample `-Σ targets · log_softmax(logits)` over the last axis.
/// `logits` and `targets` share a shape `[..., classes]`; the result drops the last axis.
pub(crate) fn softmax_cross_entropy(logits: &Tensor, targets: &Tensor) -> Tensor {
    let classes = *logits.shape().last().expect("rank checked");
    let (z, t) = (logits.data(), targets.data());
    let width = classes.max(1);
    let (loss, probs) = by_rows(&z, width, Targets::Values(&t));
    let shape = logits.shape()[..logits.rank() - 1].to_vec();
    let backward = move |inputs: &[Tensor], _: &[f32], g: &[f32]| {
        // d/dz = softmax(z) · Σt - t; d/dt = -log_softmax(z).
        let t = inputs[1].data();
        let mut gz = buffer::take(probs.len());
        let by_row = gz.par_chunks_mut(width).zip(probs.par_chunks(width).zip(t.par_chunks(width))).zip(g.par_iter());
        by_row.with_min_len(ROWS_PER_TASK).for_each(|((gz, (p, tr)), &g)| {
            let t_sum: f32 = tr.iter().sum();
            gz.iter_mut().zip(p).zip(tr).for_each(|((gz, &p), &t)| *gz = g * (p * t_sum - t));
        });
        let gt = inputs[1].requires_grad().then(|| probs.iter().enumerate().map(|(i, p)| -g[i / classes] * p.ln()).collect());
        vec![Some(gz), gt]
    };
    Tensor::from_op(loss, shape, GradFn::host("softmax_cross_entropy", vec![logits.clone(), targets.clone()], backward))
}

/// Per-row `-log_softmax(logits)[label]` of `[rows, classes]` logits and
/// labels below `classes`: [`softmax_cross_entropy`]'s numbers with one-hot
/// targets, without them.
pub(crate) fn sparse_softmax_cross_entropy(logits: &Tensor, labels: &[usize]) -> Tensor {
    let (rows, width) = (logits.shape()[0], logits.shape()[1].max(1));
    let (loss, probs) = by_rows(&logits.data(), width, Targets::Labels(labels));
    let labels = labels.to_vec();
    let backward = move |_: &[Tensor], _: &[f32], g: &[f32]| {
        // d/dz = softmax(z) - one_hot(label).
        let mut gz = buffer::take(probs.len());
        let by_row = gz.par_chunks_mut(width).zip(probs.par_chunks(width)).zip(labels.par_iter().zip(g.par_iter()));
        by_row.with_min_len(ROWS_PER_TASK).for_each(|((gz, p), (&label, &g))| {
            gz.iter_mut().zip(p).for_each(|(gz, &p)| *gz = g * p);
            gz[label] = g * (p[label] - 1.0);
        });
        vec![Some(gz)]
    };
    Tensor::from_op(loss, vec![rows], GradFn::host("sparse_softmax_cross_entropy", vec![logits.clone()], backward))
}

/// Each row's loss and softmax, for the logits `z` (rows `width` wide) and
/// their targets, [`ROWS_PER_TASK`] rows to a task: each row's numbers are
/// the same on any thread count.
fn by_rows(z: &[f32], width: usize, targets: Targets) -> (Vec<f32>, Recycled) {
    let mut loss = vec![0.0f32; z.len() / width];
    let mut probs = buffer::take(z.len());
    let tasks = probs.par_chunks_mut(ROWS_PER_TASK * width).zip(loss.par_chunks_mut(ROWS_PER_TASK)).zip(z.par_chunks(ROWS_PER_TASK * width));
    tasks.enumerate().for_each(|(i, ((p, loss), z))| softmax_cross_entropy_rows(z, targets.from_row(i * ROWS_PER_TASK, width), p, loss));
    (loss, Recycled(probs))
}
