//! Masks, as Keras carries them between layers: a `(batch, steps)` tensor
//! of 0 and 1 beside a value (1: the step counts), made by `Embedding(mask_zero)`
//! and `Masking`, passed on by the layers that support masking and read by
//! the recurrent layers, attention, average pooling and the losses.

use strata_core::{fmt_shape, Error, Result, Tensor};

/// A mask's values as booleans (nonzero: the step counts; for ids, nonzero: not padding).
pub(crate) fn values(mask: &Tensor) -> Vec<bool> {
    mask.to_vec().iter().map(|&v| v != 0.0).collect()
}

/// A mask from booleans.
pub(crate) fn from_bools(keep: &[bool], shape: &[usize]) -> Result<Tensor> {
    Tensor::new(keep.iter().map(|&k| f32::from(u8::from(k))).collect(), shape)
}

/// Checks that `mask` marks the `(batch, steps)` of a sequence `x` and returns its values.
pub(crate) fn steps_of(layer: &str, mask: &Tensor, x: &Tensor) -> Result<Vec<bool>> {
    if mask.rank() != 2 || mask.shape() != &x.shape()[..2.min(x.rank())] {
        return Err(Error::layer(layer, format!("the mask {} does not mark the (batch, steps) of its input {}", fmt_shape(mask.shape()), fmt_shape(x.shape()))));
    }
    Ok(values(mask))
}

/// The mask of a merge of masked inputs (Keras's `Merge.compute_mask`): the
/// steps any input keeps; `None` unless every input has a mask.
pub(crate) fn any(masks: &[Option<Tensor>]) -> Result<Option<Tensor>> {
    let Some(given) = masks.iter().map(Option::as_ref).collect::<Option<Vec<_>>>() else { return Ok(None) };
    let Some((first, rest)) = given.split_first() else { return Ok(None) };
    let mut keep = values(first);
    for m in rest {
        if m.shape() != first.shape() {
            return Err(Error::shape("mask", format!("the inputs' masks {} and {} differ in shape", fmt_shape(first.shape()), fmt_shape(m.shape()))));
        }
        keep.iter_mut().zip(values(m)).for_each(|(k, v)| *k |= v);
    }
    Ok(Some(from_bools(&keep, first.shape())?))
}

/// `x` with its masked steps zeroed: `x [batch, steps, ...]`, `keep` per `(batch, step)`.
pub(crate) fn zero_masked(x: &Tensor, keep: &[bool]) -> Result<Tensor> {
    let mut shape = vec![x.shape()[0], x.shape()[1]];
    shape.extend(std::iter::repeat_n(1, x.rank() - 2));
    x.mul(&from_bools(keep, &shape)?)
}
