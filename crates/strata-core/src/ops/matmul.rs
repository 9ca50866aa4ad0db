//! Matrix products: of two 2-D tensors, and batched over a leading axis.

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

    /// `[b, m, k] x [b, k, n] -> [b, m, n]`: one product per batch entry.
    pub fn bmm(&self, other: &Tensor) -> Result<Tensor> {
        let (a, b) = (self.shape(), other.shape());
        if a.len() != 3 || b.len() != 3 || a[0] != b[0] || a[2] != b[1] {
            return Err(Error::shape("bmm", format!("cannot multiply {} by {}: need [batch, m, k] x [batch, k, n]", fmt_shape(a), fmt_shape(b))));
        }
        let (batch, m, k, n) = (a[0], a[1], a[2], b[2]);
        let mut out = crate::buffer::take(batch * m * n);
        {
            let (x, y) = (self.data(), other.data());
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
        Ok(Tensor::from_op(out, vec![batch, m, n], GradFn::new("bmm", vec![self.clone(), other.clone()], Box::new(backward))))
    }

    /// Swaps two axes (negative counts from the end).
    pub fn transpose(&self, a: isize, b: isize) -> Result<Tensor> {
        let (a, b) = (super::resolve_axis("transpose", a, self.shape())?, super::resolve_axis("transpose", b, self.shape())?);
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }
}
