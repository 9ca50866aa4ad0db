//! Matrix products: of two 2-D tensors, and batched over a leading axis.

use crate::autodiff::GradFn;
use crate::kernels::matmul::Gemm;
use crate::tensor::Tensor;

/// `[m, k] x [k, n] -> [m, n]`.
pub(crate) fn matmul(a: &Tensor, b: &Tensor) -> Tensor {
    let (m, k, n) = (a.shape()[0], a.shape()[1], b.shape()[1]);
    let mut out = crate::buffer::take(m * n);
    Gemm { m, k, n, trans_a: false, trans_b: false }.run(&a.data(), &b.data(), &mut out, false);
    let backward = move |inputs: &[Tensor], _: &[f32], g: &[f32]| {
        let (a, b) = (&inputs[0], &inputs[1]);
        let ga = a.requires_grad().then(|| {
            // dA = dC · Bᵀ
            let mut ga = crate::buffer::take(m * k);
            Gemm { m, k: n, n: k, trans_a: false, trans_b: true }.run(g, &b.data(), &mut ga, false);
            ga
        });
        let gb = b.requires_grad().then(|| {
            // dB = Aᵀ · dC
            let mut gb = crate::buffer::take(k * n);
            Gemm { m: k, k: m, n, trans_a: true, trans_b: false }.run(&a.data(), g, &mut gb, false);
            gb
        });
        vec![ga, gb]
    };
    Tensor::from_op(out, vec![m, n], GradFn::host("matmul", vec![a.clone(), b.clone()], backward))
}

/// `[b, m, k] x [b, k, n] -> [b, m, n]`: one product per batch entry.
pub(crate) fn bmm(a: &Tensor, b: &Tensor) -> Tensor {
    let (batch, m, k, n) = (a.shape()[0], a.shape()[1], a.shape()[2], b.shape()[2]);
    let mut out = crate::buffer::take(batch * m * n);
    {
        let (x, y) = (a.data(), b.data());
        for i in 0..batch {
            Gemm { m, k, n, trans_a: false, trans_b: false }.run(&x[i * m * k..(i + 1) * m * k], &y[i * k * n..(i + 1) * k * n], &mut out[i * m * n..(i + 1) * m * n], false);
        }
    }
    let backward = move |inputs: &[Tensor], _: &[f32], g: &[f32]| {
        let (a, b) = (&inputs[0], &inputs[1]);
        let ga = a.requires_grad().then(|| {
            let (mut ga, y) = (crate::buffer::take(batch * m * k), b.data());
            for i in 0..batch {
                Gemm { m, k: n, n: k, trans_a: false, trans_b: true }.run(&g[i * m * n..(i + 1) * m * n], &y[i * k * n..(i + 1) * k * n], &mut ga[i * m * k..(i + 1) * m * k], false);
            }
            ga
        });
        let gb = b.requires_grad().then(|| {
            let (mut gb, x) = (crate::buffer::take(batch * k * n), a.data());
            for i in 0..batch {
                Gemm { m: k, k: m, n, trans_a: true, trans_b: false }.run(&x[i * m * k..(i + 1) * m * k], &g[i * m * n..(i + 1) * m * n], &mut gb[i * k * n..(i + 1) * k * n], false);
            }
            gb
        });
        vec![ga, gb]
    };
    Tensor::from_op(out, vec![batch, m, n], GradFn::host("bmm", vec![a.clone(), b.clone()], backward))
}

