//! Times the Dense benchmark network's matrix products (784-512-512-10 at
//! batch 128) on the thread pool, in each layout the dense op uses:
//! `cargo run --release -p strata-core --example gemm_shapes`.

mod timing;

use strata_core::kernels::matmul::Gemm;

fn main() {
    let shapes = [
        ("forward      x·W    128x512x512", Gemm { m: 128, k: 512, n: 512, trans_a: false, trans_b: false }),
        ("input grad   dY·Wᵀ  128x512x512", Gemm { m: 128, k: 512, n: 512, trans_a: false, trans_b: true }),
        ("kernel grad  xᵀ·dY  512x128x512", Gemm { m: 512, k: 128, n: 512, trans_a: true, trans_b: false }),
        ("kernel grad  xᵀ·dY  784x128x512", Gemm { m: 784, k: 128, n: 512, trans_a: true, trans_b: false }),
    ];
    for (name, g) in shapes {
        let (a, b) = (vec![0.5f32; g.m * g.k], vec![0.25f32; g.k * g.n]);
        let mut c = vec![0.0f32; g.m * g.n];
        let ms = timing::median_ms(41, || g.run(&a, &b, &mut c, false));
        println!("{name}: {ms:.3} ms, {:.1} GFLOP/s", 2.0 * (g.m * g.k * g.n) as f64 / ms / 1e6);
    }
}
