//! Moving elements by an index map: output element `i` is input element
//! `map[i]`, or a zero. Forward and backward share the map.

use crate::autodiff::GradFn;
use crate::tensor::Tensor;

/// Marks an output element that is a padding zero.
pub(crate) use crate::backend::ZERO_INDEX as ZERO;

/// Output element `i` is input element `map[i]` (or zero for [`ZERO`]);
/// the gradient of an input element sums those of the outputs taken from it.
pub(crate) fn index_map(op: &'static str, x: &Tensor, shape: Vec<usize>, map: Vec<usize>) -> Tensor {
    let data = {
        let x = x.data();
        map.iter().map(|&i| if i == ZERO { 0.0 } else { x[i] }).collect()
    };
    let n = x.numel();
    let backward = move |_: &[Tensor], _: &[f32], g: &[f32]| {
        let mut gx = vec![0.0; n];
        for (&i, &gi) in map.iter().zip(g) {
            if i != ZERO {
                gx[i] += gi;
            }
        }
        vec![Some(gx)]
    };
    Tensor::from_op(data, shape, GradFn::host(op, vec![x.clone()], backward))
}
