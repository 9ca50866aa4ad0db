//! Times the two convolution paths (im2col + GEMM, and direct tiles) on one
//! thread for the headline model's shapes, forward and both gradients:
//! `cargo run --release -p strata-core --example conv_kernels`.

mod timing;

use strata_core::kernels::conv::{col2im, im2col};
use strata_core::kernels::direct;
use strata_core::kernels::matmul::Gemm;
use strata_core::kernels::window::{Padding, Window};
use strata_core::kernels::winograd;

fn main() {
    for &(name, h, c, f) in &[("conv2d", 28, 1, 32), ("conv2d_1", 13, 32, 64), ("conv2d_2", 5, 64, 64)] {
        let n = 32;
        let g = Window::new([n, h, h, c], (3, 3), (1, 1), Padding::Valid).unwrap();
        let (p, k) = (g.out_pixels(), 9 * c);
        let x: Vec<f32> = (0..n * g.image_len()).map(|i| (i % 7) as f32 * 0.1).collect();
        let kernel: Vec<f32> = (0..k * f).map(|i| (i % 5) as f32 * 0.1).collect();
        let dy: Vec<f32> = (0..n * p * f).map(|i| (i % 3) as f32 * 0.1).collect();
        let mut cols = vec![0.0; n * p * k];
        let mut y = vec![0.0; n * p * f];
        let mut dk = vec![0.0; k * f];
        let mut dx = vec![0.0; x.len()];
        let gflop = 2.0 * (n * p * k * f) as f64 / 1e9;
        let gemm_fwd = timing::median_ms(15, || {
            for i in 0..n {
                let one = Window { n: 1, ..g };
                im2col(&x[i * g.image_len()..(i + 1) * g.image_len()], &one, &mut cols[..p * k]);
                Gemm { m: p, k, n: f, trans_a: false, trans_b: false }.run_serial(&cols[..p * k], &kernel, &mut y[i * p * f..(i + 1) * p * f], false);
            }
        });
        im2col(&x, &g, &mut cols);
        let gemm_dk = timing::median_ms(15, || Gemm { m: k, k: n * p, n: f, trans_a: true, trans_b: false }.run_serial(&cols, &dy, &mut dk, false));
        let gemm_dx = timing::median_ms(15, || {
            for i in 0..n {
                Gemm { m: p, k: f, n: k, trans_a: false, trans_b: true }.run_serial(&dy[i * p * f..(i + 1) * p * f], &kernel, &mut cols[..p * k], false);
                col2im(&cols[..p * k], &Window { n: 1, ..g }, &mut dx[i * g.image_len()..(i + 1) * g.image_len()]);
            }
        });
        let direct_fwd = timing::median_ms(15, || {
            for i in 0..n {
                direct::forward_image(&x[i * g.image_len()..], &kernel, f, &g, None, false, &mut y[i * p * f..(i + 1) * p * f]);
            }
        });
        let direct_dk = timing::median_ms(15, || {
            dk.fill(0.0);
            direct::kernel_grad(&x, &dy, f, &g, &mut dk);
        });
        let mut kt = vec![0.0; kernel.len()];
        let direct_dx = timing::median_ms(15, || {
            direct::transpose_taps(&kernel, c, f, &mut kt);
            dx.fill(0.0);
            for i in 0..n {
                direct::input_grad_image(&dy[i * p * f..(i + 1) * p * f], &kt, f, &g, &mut dx[i * g.image_len()..(i + 1) * g.image_len()]);
            }
        });
        // Winograd's forward pass, where it applies (the products' FLOPs are 2.25x fewer;
        // the rate below counts the direct convolution's, to compare times).
        let winograd_fwd = winograd::eligible(&g).then(|| {
            let mut u = vec![0.0; 16 * c * f];
            let mut scratch = winograd::Scratch::default();
            timing::median_ms(15, || {
                winograd::transform_kernel(&kernel, c, f, &mut u);
                for i in 0..n {
                    winograd::forward_image(&x[i * g.image_len()..], h, h, &g, &u, f, None, false, &mut scratch, &mut y[i * p * f..(i + 1) * p * f]);
                }
            })
        });
        let rate = |ms: f64| gflop / (ms / 1e3);
        if let Some(ms) = winograd_fwd {
            println!("{name:9} forward  winograd {ms:6.3} ms ({:5.1} GFLOP/s direct-equivalent)", rate(ms));
        }
        println!("{name:9} forward  gemm {gemm_fwd:6.3} ms ({:5.1} GFLOP/s)  direct {direct_fwd:6.3} ms ({:5.1})", rate(gemm_fwd), rate(direct_fwd));
        println!("{name:9} dkernel  gemm {gemm_dk:6.3} ms ({:5.1} GFLOP/s)  direct {direct_dk:6.3} ms ({:5.1})", rate(gemm_dk), rate(direct_dk));
        println!("{name:9} dinput   gemm {gemm_dx:6.3} ms ({:5.1} GFLOP/s)  direct {direct_dx:6.3} ms ({:5.1})", rate(gemm_dx), rate(direct_dx));
    }
}
