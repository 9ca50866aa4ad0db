use std::time::Instant;
use strata_core::kernels::matmul::Gemm;

fn time(label: &str, flops: f64, reps: usize, mut f: impl FnMut()) {
    for _ in 0..5 { f(); }
    let t = Instant::now();
    for _ in 0..reps { f(); }
    let s = t.elapsed().as_secs_f64() / reps as f64;
    println!("{label:50} {:8.1} us  {:6.1} GFLOP/s", s * 1e6, flops / s / 1e9);
}

fn main() {
    lstm_op();
    if std::env::args().any(|a| a == "--op") { return; }
    peak();
    let (m, k, n) = (64usize, 256usize, 1024usize);
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; m * n];
    let flops = 2.0 * (m * k * n) as f64;
    let g = Gemm { m, k, n, trans_a: false, trans_b: false };
    time("fwd 64x256x1024 run (pool)", flops, 200, || g.run(&a, &b, &mut c, true));
    time("fwd 64x256x1024 serial", flops, 200, || g.run_serial(&a, &b, &mut c, true));
    // Halves of B's columns, each thread one half.
    let half = n / 2;
    let b0: Vec<f32> = b.chunks(n).flat_map(|r| r[..half].to_vec()).collect();
    let b1: Vec<f32> = b.chunks(n).flat_map(|r| r[half..].to_vec()).collect();
    let mut c0 = vec![0.0f32; m * half];
    let mut c1 = vec![0.0f32; m * half];
    let gh = Gemm { m, k, n: half, trans_a: false, trans_b: false };
    time("fwd halves joined (rayon::join, serial each)", flops, 200, || {
        rayon::join(|| gh.run_serial(&a, &b0, &mut c0, true), || gh.run_serial(&a, &b1, &mut c1, true));
    });
    let bt: Vec<f32> = (0..n * k).map(|i| (i % 3) as f32 * 0.1).collect();
    let dz: Vec<f32> = (0..m * n).map(|i| (i % 11) as f32 * 0.1).collect();
    let mut dh = vec![0.0f32; m * k];
    let gb = Gemm { m, k: n, n: k, trans_a: false, trans_b: false };
    time("bwd 64x1024x256 run (pool)", flops, 200, || gb.run(&dz, &bt, &mut dh, false));
    time("bwd 64x1024x256 serial", flops, 200, || gb.run_serial(&dz, &bt, &mut dh, false));
    let a32 = &a[..32 * k];
    let mut c32 = vec![0.0f32; 32 * n];
    time("fwd 32x256x1024 serial", flops / 2.0, 200, || Gemm { m: 32, k, n, trans_a: false, trans_b: false }.run_serial(a32, &b, &mut c32, true));
    let mut dh32 = vec![0.0f32; 32 * k];
    time("bwd 32x1024x256 serial", flops / 2.0, 200, || Gemm { m: 32, k: n, n: k, trans_a: false, trans_b: false }.run_serial(&dz[..32 * n], &bt, &mut dh32, false));
    time("two row halves joined fwd", flops, 200, || {
        let (c_lo, c_hi) = c.split_at_mut(32 * n);
        rayon::join(|| Gemm { m: 32, k, n, trans_a: false, trans_b: false }.run_serial(&a[..32 * k], &b, c_lo, true), || Gemm { m: 32, k, n, trans_a: false, trans_b: false }.run_serial(&a[32 * k..], &b, c_hi, true));
    });
    let (m2, k2, n2) = (6400usize, 64usize, 1024usize);
    let a2: Vec<f32> = vec![0.1; m2 * k2];
    let b2: Vec<f32> = vec![0.1; k2 * n2];
    let mut c2 = vec![0.0f32; m2 * n2];
    time("proj 6400x64x1024 (pool)", 2.0 * (m2 * k2 * n2) as f64, 10, || Gemm { m: m2, k: k2, n: n2, trans_a: false, trans_b: false }.run(&a2, &b2, &mut c2, true));
    let hs: Vec<f32> = vec![0.1; 6400 * 256];
    let dzs: Vec<f32> = vec![0.1; 6400 * 1024];
    let mut du = vec![0.0f32; 256 * 1024];
    time("dU 256x6400x1024 (pool)", 2.0 * (256 * 6400 * 1024) as f64, 10, || Gemm { m: 256, k: 6400, n: 1024, trans_a: true, trans_b: false }.run(&hs, &dzs, &mut du, false));
    let big_a: Vec<f32> = vec![0.1; 1024 * 1024];
    let mut big_c = vec![0.0f32; 1024 * 1024];
    time("peak-ish 1024^3 (pool)", 2.0 * 1024f64.powi(3), 5, || Gemm { m: 1024, k: 1024, n: 1024, trans_a: false, trans_b: false }.run(&big_a, &big_a, &mut big_c, false));
}

#[target_feature(enable = "avx2,fma")]
unsafe fn fma_loop(n: usize) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_ps(0.0); 10];
    let x = _mm256_set1_ps(1.0000001);
    let y = _mm256_set1_ps(0.9999999);
    for _ in 0..n {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, x, y);
        }
    }
    let mut s = 0.0;
    for a in acc { let mut v = [0.0f32; 8]; _mm256_storeu_ps(v.as_mut_ptr(), a); s += v.iter().sum::<f32>(); }
    s
}

#[test]
fn unused() {}

pub fn peak() {
    let n = 50_000_000usize;
    let t = Instant::now();
    let s = unsafe { fma_loop(n) };
    let secs = t.elapsed().as_secs_f64();
    println!("one core FMA peak: {:.1} GFLOP/s ({s})", (n * 10 * 16) as f64 / secs / 1e9);
}

fn lstm_op() {
    use strata_core::{ops::RecurrentDropout, Rng, Tensor};
    let (b, t, d, h) = (64usize, 100usize, 64usize, 256usize);
    let mut r = Rng::new(1);
    let mut v = |n: usize, s: f32| (0..n).map(|_| r.normal() * s).collect::<Vec<f32>>();
    let x = Tensor::variable(v(b * t * d, 1.0), &[b, t, d]).unwrap();
    let k = Tensor::variable(v(d * 4 * h, 0.1), &[d, 4 * h]).unwrap();
    let u = Tensor::variable(v(h * 4 * h, 0.05), &[h, 4 * h]).unwrap();
    let bias = Tensor::variable(v(4 * h, 0.1), &[4 * h]).unwrap();
    let z = Tensor::zeros(&[b, h]);
    let none = RecurrentDropout::default();
    for _ in 0..2 {
        let y = x.lstm(&k, &u, &bias, &z, &z, &none).unwrap();
        y.sum().backward().unwrap();
    }
    let reps = 5;
    let (mut fwd, mut bwd) = (0.0, 0.0);
    for _ in 0..reps {
        let t0 = Instant::now();
        let y = x.lstm(&k, &u, &bias, &z, &z, &none).unwrap();
        let s = y.sum();
        let t1 = Instant::now();
        s.backward().unwrap();
        let t2 = Instant::now();
        fwd += (t1 - t0).as_secs_f64();
        bwd += (t2 - t1).as_secs_f64();
    }
    println!("lstm op forward {:.1} ms, backward {:.1} ms", fwd / reps as f64 * 1e3, bwd / reps as f64 * 1e3);
}
