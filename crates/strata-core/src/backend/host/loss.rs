//! Cross-entropy fused with softmax: computed from logits with the
//! log-sum-exp trick, so it neither overflows nor takes log(0).

use crate::autodiff::GradFn;
use crate::tensor::Tensor;

/// Per-sample `-Σ targets · log_softmax(logits)` over the last axis.
/// `logits` and `targets` share a shape `[..., classes]`; the result drops the last axis.
pub(crate) fn softmax_cross_entropy(logits: &Tensor, targets: &Tensor) -> Tensor {
    let classes = *logits.shape().last().expect("rank checked");
    let (z, t) = (logits.data(), targets.data());
    let rows = z.len() / classes.max(1);
    let mut loss = vec![0.0f32; rows];
    let mut probs = vec![0.0f32; z.len()];
    for r in 0..rows {
        let (zr, tr) = (&z[r * classes..(r + 1) * classes], &t[r * classes..(r + 1) * classes]);
        let max = zr.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let total: f32 = zr.iter().map(|&v| (v - max).exp()).sum();
        let log_total = total.ln();
        loss[r] = zr.iter().zip(tr).map(|(&v, &tv)| -tv * (v - max - log_total)).sum();
        for (p, &v) in probs[r * classes..(r + 1) * classes].iter_mut().zip(zr) {
            *p = (v - max).exp() / total;
        }
    }
    let shape = logits.shape()[..logits.rank() - 1].to_vec();
    let backward = move |inputs: &[Tensor], _: &[f32], g: &[f32]| {
        // d/dz = softmax(z) · Σt - t; d/dt = -log_softmax(z).
        let t = inputs[1].data();
        let mut gz = vec![0.0; probs.len()];
        for r in 0..rows {
            let tr = &t[r * classes..(r + 1) * classes];
            let t_sum: f32 = tr.iter().sum();
            for c in 0..classes {
                let i = r * classes + c;
                gz[i] = g[r] * (probs[i] * t_sum - tr[c]);
            }
        }
        let gt = inputs[1].requires_grad().then(|| probs.iter().enumerate().map(|(i, p)| -g[i / classes] * p.ln()).collect());
        vec![Some(gz), gt]
    };
    Tensor::from_op(loss, shape, GradFn::host("softmax_cross_entropy", vec![logits.clone(), targets.clone()], backward))
}

