//! Cross-entropy fused with softmax: computed from logits with the
//! log-sum-exp trick, so it neither overflows nor takes log(0).

use rayon::prelude::*;

use crate::autodiff::GradFn;
use crate::buffer::{self, Recycled};
use crate::kernels::elementwise::softmax_cross_entropy_rows;
use crate::tensor::Tensor;

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 64;

/// Per-sample `-Σ targets · log_softmax(logits)` over the last axis.
/// `logits` and `targets` share a shape `[..., classes]`; the result drops the last axis.
pub(crate) fn softmax_cross_entropy(logits: &Tensor, targets: &Tensor) -> Tensor {
    let classes = *logits.shape().last().expect("rank checked");
    let (z, t) = (logits.data(), targets.data());
    let width = classes.max(1);
    let rows = z.len() / width;
    let mut loss = vec![0.0f32; rows];
    let mut probs = buffer::take(z.len());
    // Rows are independent: each row's numbers are the same on any thread count.
    let block = ROWS_PER_TASK * width;
    let by_rows = probs.par_chunks_mut(block).zip(loss.par_chunks_mut(ROWS_PER_TASK)).zip(z.par_chunks(block).zip(t.par_chunks(block)));
    by_rows.for_each(|((p, loss), (z, t))| softmax_cross_entropy_rows(z, t, p, loss));
    let (probs, shape) = (Recycled(probs), logits.shape()[..logits.rank() - 1].to_vec());
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
