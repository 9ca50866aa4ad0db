//! 2-D max pooling of NHWC images.

use crate::autodiff::GradFn;
use crate::buffer;
use crate::kernels::pool::{avg_pool2d as avg_pool_kernel, avg_pool2d_backward, max_pool2d as pool_kernel, max_pool2d_backward};
use crate::kernels::window::Window;
use crate::tensor::Tensor;

/// Mean over the windows `g` (padding not counted): `[n, h, w, c] -> [n, oh, ow, c]`.
pub(crate) fn avg_pool2d(x: &Tensor, g: Window) -> Tensor {
    let mut out = buffer::take(g.n * g.out_pixels() * g.c);
    avg_pool_kernel(&x.data(), &g, &mut out);
    let backward = move |_: &[Tensor], _: &[f32], dy: &[f32]| {
        let mut dx = buffer::take(g.n * g.image_len());
        avg_pool2d_backward(dy, &g, &mut dx);
        vec![Some(dx)]
    };
    Tensor::from_op(out, vec![g.n, g.oh, g.ow, g.c], GradFn::host("avg_pool2d", vec![x.clone()], backward))
}

/// Max over the windows `g`: `[n, h, w, c] -> [n, oh, ow, c]`.
pub(crate) fn max_pool2d(x: &Tensor, g: Window) -> Tensor {
    let len = g.n * g.out_pixels() * g.c;
    let mut out = buffer::take(len);
    pool_kernel(&x.data(), &g, &mut out);
    let backward = move |inputs: &[Tensor], y: &[f32], dy: &[f32]| {
        let mut dx = buffer::take(g.n * g.image_len());
        max_pool2d_backward(&inputs[0].data(), y, dy, &g, &mut dx);
        vec![Some(dx)]
    };
    Tensor::from_op(out, vec![g.n, g.oh, g.ow, g.c], GradFn::host("max_pool2d", vec![x.clone()], backward))
}
