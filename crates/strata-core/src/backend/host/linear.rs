//! The dense layer's op, `x · W + b`, with relu optionally fused: one matrix
//! product and one pass over the output, instead of three ops.

use crate::autodiff::{GradFn, HostGrads};
use crate::buffer;
use crate::kernels::elementwise::{relu_mask, sum_rows};
use crate::kernels::matmul::Gemm;
use crate::tensor::Tensor;

/// `[m, k] · [k, n] + [n]`, then relu if `relu`.
pub(crate) fn linear(x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, relu: bool) -> Tensor {
    let (m, k, n) = (x.shape()[0], x.shape()[1], kernel.shape()[1]);
    let mut out = buffer::take(m * n);
    if let Some(b) = bias {
        let b = b.data();
        out.chunks_exact_mut(n).for_each(|row| row.copy_from_slice(&b));
    }
    Gemm { m, k, n, trans_a: false, trans_b: false }.run(&x.data(), &kernel.data(), &mut out, bias.is_some());
    if relu {
        out.iter_mut().for_each(|v| *v = v.max(0.0));
    }
    let mut inputs = vec![x.clone(), kernel.clone()];
    inputs.extend(bias.cloned());
    let backward = move |inputs: &[Tensor], y: &[f32], dy_out: &[f32]| {
        let masked = relu.then(|| relu_mask(dy_out, y));
        let dy = masked.as_deref().unwrap_or(dy_out);
        let (x, kernel) = (&inputs[0], &inputs[1]);
        let dx = x.requires_grad().then(|| {
            let mut dx = buffer::take(m * k);
            Gemm { m, k: n, n: k, trans_a: false, trans_b: true }.run(dy, &kernel.data(), &mut dx, false);
            dx
        });
        let dk = kernel.requires_grad().then(|| {
            let mut dk = buffer::take(k * n);
            Gemm { m: k, k: m, n, trans_a: true, trans_b: false }.run(&x.data(), dy, &mut dk, false);
            dk
        });
        with_bias_grad(vec![dx, dk], inputs, dy_out, masked, n)
    };
    Tensor::from_op(out, vec![m, n], GradFn::host(if relu { "linear_relu" } else { "linear" }, inputs, backward))
}

/// Appends the bias gradient (column sums of the output gradient, `units`
/// wide; the relu-masked copy when there is one) when the op has a bias input,
/// then recycles that copy: the shared tail of `linear`'s and `conv2d`'s backward passes.
pub(super) fn with_bias_grad(mut grads: HostGrads, inputs: &[Tensor], dy_out: &[f32], masked: Option<Vec<f32>>, units: usize) -> HostGrads {
    let dy = masked.as_deref().unwrap_or(dy_out);
    if let Some(b) = inputs.get(2) {
        grads.push(b.requires_grad().then(|| sum_rows(dy, units)));
    }
    if let Some(mask) = masked {
        buffer::give(mask);
    }
    grads
}
