//! Matrix product of two 2-D tensors.

use crate::autodiff::GradFn;
use crate::error::{fmt_shape, Error, Result};
use crate::kernels::matmul::Gemm;
use crate::tensor::Tensor;

impl Tensor {
    /// `[m, k] x [k, n] -> [m, n]`.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        let (a, b) = (self.shape(), other.shape());
        if a.len() != 2 || b.len() != 2 || a[1] != b[0] {
            return Err(Error::shape("matmul", format!("cannot multiply {} by {}: need [m, k] x [k, n]", fmt_shape(a), fmt_shape(b))));
        }
        let (m, k, n) = (a[0], a[1], b[1]);
        let mut out = crate::buffer::take(m * n);
        Gemm { m, k, n, trans_a: false, trans_b: false }.run(&self.data(), &other.data(), &mut out, false);
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
        Ok(Tensor::from_op(out, vec![m, n], GradFn::new("matmul", vec![self.clone(), other.clone()], Box::new(backward))))
    }
}
