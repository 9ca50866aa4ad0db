//! Convolution with few filters (a generator's last layer: 64 channels to
//! one), computed straight from the images. The im2col path would lay out
//! `kh * kw * c` values per output pixel (for a 7x7 kernel over 64 channels,
//! 3,136: 12 KB per pixel, 10 MB per 28x28 image) only to multiply them by
//! one or two columns. Here each filter's kernel row is read as one
//! contiguous run of `kw * c` values against the same run of the image row.

use rayon::prelude::*;

use crate::buffer;
use crate::kernels::elementwise::relu_mask;
use crate::kernels::thin::{by_filter, forward_image, input_grad_image, kernel_grad_image};
use crate::kernels::window::Window;
use crate::tensor::Tensor;

use super::super::linear::with_bias_grad;
use super::im2col::{sum_partials, KERNEL_GRAD_BLOCKS};
use super::Conv;

/// Filters up to this many take this path (on either backend).
pub(crate) const MAX_FILTERS: usize = 4;

/// The convolution over window `g` (relu fused when `relu`), for kernels of few filters.
pub(crate) fn run(g: Window, relu: bool, x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>) -> Tensor {
    let Conv { g, f, relu, tracked } = Conv::new(g, relu, x, kernel, bias);
    let kt = by_filter(&kernel.data(), &g, f);
    let bias_values = bias.map(|b| b.to_vec()).unwrap_or_default();
    let out_len = g.out_pixels() * f;
    let mut out = buffer::take(g.n * out_len);
    {
        let xd = x.data();
        out.par_chunks_mut(out_len).enumerate().for_each(|(i, out)| {
            forward_image(&xd[i * g.image_len()..(i + 1) * g.image_len()], &kt, &bias_values, &g, f, out);
            if relu {
                out.iter_mut().for_each(|v| *v = v.max(0.0));
            }
        });
    }
    if !tracked {
        return Tensor::constant(out, vec![g.n, g.oh, g.ow, f]);
    }
    let backward = move |inputs: &[Tensor], y: &[f32], dy_out: &[f32]| {
        let masked = relu.then(|| relu_mask(dy_out, y));
        let dy = masked.as_deref().unwrap_or(dy_out);
        let (x, kernel) = (&inputs[0], &inputs[1]);
        let dx = x.requires_grad().then(|| {
            let mut dx = buffer::take(g.n * g.image_len());
            dx.par_chunks_mut(g.image_len()).enumerate().for_each(|(i, dx)| input_grad_image(&dy[i * out_len..(i + 1) * out_len], &kt, &g, f, dx));
            dx
        });
        let dk = kernel.requires_grad().then(|| {
            let xd = x.data();
            let block = g.n.div_ceil(KERNEL_GRAD_BLOCKS).max(1);
            let dkt = sum_partials(g.n.div_ceil(block), kt.len(), |b, part| {
                part.fill(0.0);
                for i in b * block..((b + 1) * block).min(g.n) {
                    kernel_grad_image(&xd[i * g.image_len()..(i + 1) * g.image_len()], &dy[i * out_len..(i + 1) * out_len], &g, f, part);
                }
            });
            // Back to Keras's (kh, kw, c, f).
            let taps = g.kh * g.kw * g.c;
            (0..taps * f).map(|i| dkt[(i % f) * taps + i / f]).collect()
        });
        with_bias_grad(vec![dx, dk], inputs, dy_out, masked, f)
    };
    super::node(if relu { "conv2d_relu" } else { "conv2d" }, out, vec![g.n, g.oh, g.ow, f], x, kernel, bias, backward)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::window::Padding;
    use crate::rng::Rng;

    /// Few-filter convolutions give the im2col path's values and gradients
    /// (strides, both paddings, fused relu, one to four filters).
    #[test]
    fn agrees_with_im2col() {
        let mut r = Rng::new(5);
        let mut random = |shape: &[usize]| Tensor::variable((0..shape.iter().product()).map(|_| r.normal()).collect(), shape).unwrap();
        for (h, w, c, k, s, padding, f, relu) in [(9, 8, 5, 3, 1, Padding::Same, 1, false), (7, 10, 3, 4, 2, Padding::Valid, 2, true), (6, 6, 64, 7, 1, Padding::Same, 1, false), (5, 9, 2, 2, 3, Padding::Same, 4, true)] {
            let (x, kernel, bias) = (random(&[3, h, w, c]), random(&[k, k, c, f]), random(&[f]));
            let g = Window::new([3, h, w, c], (k, k), (s, s), padding).unwrap();
            let probe = |y: &Tensor| {
                let r: Vec<f32> = (0..y.numel()).map(|i| (i % 7) as f32 - 3.0).collect();
                y.mul(&Tensor::new(r, y.shape()).unwrap()).unwrap().sum().backward().unwrap()
            };
            let (a, b) = (run(g, relu, &x, &kernel, Some(&bias)), super::super::im2col::run(g, relu, &x, &kernel, Some(&bias)));
            let close = |p: &[f32], q: &[f32], what: &str| p.iter().zip(q).for_each(|(p, q)| assert!((p - q).abs() <= 1e-4 * q.abs().max(1.0), "{what}: {p} vs {q}"));
            close(&a.to_vec(), &b.to_vec(), "values");
            let (ga, gb) = (probe(&a), probe(&b));
            for (t, what) in [(&x, "dx"), (&kernel, "dkernel"), (&bias, "dbias")] {
                close(&ga.get(t).unwrap().to_vec(), &gb.get(t).unwrap().to_vec(), what);
            }
        }
    }
}
