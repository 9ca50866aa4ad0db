//! Cross-entropy fused with softmax: computed from logits with the
//! log-sum-exp trick, so it neither overflows nor takes log(0).

use crate::error::{fmt_shape, Error, Result};
use crate::tensor::Tensor;

use super::same_device;

/// Per-sample `-Σ targets · log_softmax(logits)` over the last axis.
/// `logits` and `targets` share a shape `[..., classes]`; the result drops the last axis.
pub fn softmax_cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    same_device("softmax_cross_entropy", &[logits, targets])?;
    if logits.shape() != targets.shape() || logits.shape().last().is_none_or(|&c| c == 0) {
        return Err(Error::shape(
            "softmax_cross_entropy",
            format!("logits {} and targets {} must have the same shape [..., classes], with at least one class", fmt_shape(logits.shape()), fmt_shape(targets.shape())),
        ));
    }
    Ok(logits.backend().softmax_cross_entropy(logits, targets))
}

/// Per-sample `-log_softmax(logits)[label]` for `logits` `[batch, classes]`
/// and integer class ids: the same numbers as [`softmax_cross_entropy`]
/// with one-hot targets, without making them (a word model's batch of
/// 6,400 positions over 50,000 words would take 1.3 GB of them). Fails,
/// naming the sample, on a label out of range.
pub fn sparse_softmax_cross_entropy(logits: &Tensor, labels: &[usize]) -> Result<Tensor> {
    let s = logits.shape();
    if s.len() != 2 || s[0] != labels.len() {
        return Err(Error::shape(
            "sparse_softmax_cross_entropy",
            format!("logits {} must be [batch, classes] with batch = {} labels", fmt_shape(s), labels.len()),
        ));
    }
    if s[1] == 0 {
        return Err(Error::shape("sparse_softmax_cross_entropy", format!("logits {} have no classes", fmt_shape(s))));
    }
    check_labels(labels, s[1])?;
    Ok(logits.backend().sparse_softmax_cross_entropy(logits, labels))
}

/// Fails, naming the first sample, when a label is not below `classes`.
fn check_labels(labels: &[usize], classes: usize) -> Result<()> {
    match labels.iter().enumerate().find(|(_, &l)| l >= classes) {
        Some((i, &l)) => Err(Error::argument("labels", format!("label {l} of sample {i} is out of range for {classes} classes (0..={})", classes.saturating_sub(1)))),
        None => Ok(()),
    }
}

impl Tensor {
    /// Rows of `classes` zeros with a one at each label (Keras's
    /// `to_categorical`); fails, naming the sample, on a label out of range.
    pub fn one_hot(labels: &[usize], classes: usize) -> Result<Tensor> {
        check_labels(labels, classes)?;
        // Pooled: a fresh buffer of this size (a loss's targets at every
        // position of a sequence) costs page faults at every step.
        let mut onehot = crate::buffer::zeros(labels.len() * classes);
        for (r, &l) in labels.iter().enumerate() {
            onehot[r * classes + l] = 1.0;
        }
        Tensor::new(onehot, &[labels.len(), classes])
    }
}
