//! Cross-entropy fused with softmax: computed from logits with the
//! log-sum-exp trick, so it neither overflows nor takes log(0).

use crate::autodiff::GradFn;
use crate::error::{fmt_shape, Error, Result};
use crate::tensor::Tensor;

/// Per-sample `-Σ targets · log_softmax(logits)` over the last axis.
/// `logits` and `targets` share a shape `[..., classes]`; the result drops the last axis.
pub fn softmax_cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if logits.shape() != targets.shape() || logits.rank() == 0 {
        return Err(Error::shape(
            "softmax_cross_entropy",
            format!("logits {} and targets {} must have the same shape [..., classes]", fmt_shape(logits.shape()), fmt_shape(targets.shape())),
        ));
    }
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
    Ok(Tensor::from_op(loss, shape, GradFn::new("softmax_cross_entropy", vec![logits.clone(), targets.clone()], Box::new(backward))))
}

/// Per-sample `-log_softmax(logits)[label]` for `logits` `[batch, classes]`
/// and integer class ids. Fails, naming the sample, on a label out of range.
pub fn sparse_softmax_cross_entropy(logits: &Tensor, labels: &[usize]) -> Result<Tensor> {
    let s = logits.shape();
    if s.len() != 2 || s[0] != labels.len() {
        return Err(Error::shape(
            "sparse_softmax_cross_entropy",
            format!("logits {} must be [batch, classes] with batch = {} labels", fmt_shape(s), labels.len()),
        ));
    }
    let classes = s[1];
    if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| l >= classes) {
        return Err(Error::argument("labels", format!("label {l} of sample {i} is out of range for {classes} classes (0..={})", classes.saturating_sub(1))));
    }
    let mut onehot = vec![0.0; labels.len() * classes];
    for (r, &l) in labels.iter().enumerate() {
        onehot[r * classes + l] = 1.0;
    }
    softmax_cross_entropy(logits, &Tensor::new(onehot, s)?)
}
