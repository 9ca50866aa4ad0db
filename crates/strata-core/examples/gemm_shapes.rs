use std::time::Instant;
use strata_core::kernels::matmul::Gemm;
fn main() {
    let shapes = [("fwd 128x512x512", Gemm { m: 128, k: 512, n: 512, trans_a: false, trans_b: false }),
                  ("dx  128x512x512 tb", Gemm { m: 128, k: 512, n: 512, trans_a: false, trans_b: true }),
                  ("dk  512x128x512 ta", Gemm { m: 512, k: 128, n: 512, trans_a: true, trans_b: false }),
                  ("dk  784x128x512 ta", Gemm { m: 784, k: 128, n: 512, trans_a: true, trans_b: false })];
    for (name, g) in shapes {
        let a = vec![0.5f32; g.m * g.k]; let b = vec![0.25f32; g.k * g.n]; let mut c = vec![0.0f32; g.m * g.n];
        let mut t: Vec<f64> = (0..41).map(|_| { let s = Instant::now(); g.run(&a, &b, &mut c, false); s.elapsed().as_secs_f64() }).collect();
        t.sort_by(f64::total_cmp);
        println!("{name}: {:.3} ms, {:.1} GFLOP/s", t[20] * 1e3, 2.0 * (g.m * g.k * g.n) as f64 / t[20] / 1e9);
    }
}
