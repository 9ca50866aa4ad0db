//! What this machine can do at most, measured: the f32 multiply-add
//! throughput of its vector units, and the `gemm` crate's single-precision
//! matrix product, on the thread pool. Benchmarks print their figures as a
//! share of these.

use std::time::Instant;

use super::matmul::Gemm;

/// Multiply-adds per accumulator in one call of a probe loop.
const STEPS: usize = 1 << 16;

/// Independent chains of multiply-adds on one thread, each `STEPS` long, in
/// as many vector registers as hide the instruction's latency; returns the
/// FLOPs done (2 per lane per multiply-add).
fn fma_burst() -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if super::simd::has_avx512() {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { x86::avx512() };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { x86::avx2() };
        }
    }
    let mut acc = [1.0f32; 8];
    for _ in 0..STEPS {
        for a in &mut acc {
            *a = a.mul_add(0.999_999, 1e-7);
        }
    }
    std::hint::black_box(acc);
    (2 * 8 * STEPS) as f64
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::STEPS;

    /// 16 chains of 16 lanes: two FMA ports of latency 4 need 8; 16 leave room.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn avx512() -> f64 {
        let (m, a) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        let mut acc = [_mm512_set1_ps(1.0); 16];
        for _ in 0..STEPS {
            for v in &mut acc {
                *v = _mm512_fmadd_ps(*v, m, a);
            }
        }
        std::hint::black_box(acc);
        (2 * 16 * 16 * STEPS) as f64
    }

    /// 12 chains of 8 lanes (of 16 registers, with the two constants).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn avx2() -> f64 {
        let (m, a) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        let mut acc = [_mm256_set1_ps(1.0); 12];
        for _ in 0..STEPS {
            for v in &mut acc {
                *v = _mm256_fmadd_ps(*v, m, a);
            }
        }
        std::hint::black_box(acc);
        (2 * 12 * 8 * STEPS) as f64
    }
}

/// The f32 multiply-add throughput in GFLOP/s of every thread of the pool
/// at once (the best of `rounds` bursts of about 30 ms), and of one thread.
pub fn fma_gflops(rounds: usize) -> (f64, f64) {
    let burst = || {
        let started = Instant::now();
        let mut flops = 0.0;
        while started.elapsed().as_secs_f64() < 0.03 {
            flops += fma_burst();
        }
        flops / started.elapsed().as_secs_f64() / 1e9
    };
    let best = |f: &dyn Fn() -> f64| (0..rounds.max(1)).map(|_| f()).fold(0.0, f64::max);
    let one = best(&burst);
    let all = best(&|| rayon::broadcast(|_| burst()).iter().sum());
    (all, one)
}

/// The `gemm` crate's `n x n x n` product in GFLOP/s on the thread pool (best of `rounds`).
pub fn sgemm_gflops(n: usize, rounds: usize) -> f64 {
    let a: Vec<f32> = (0..n * n).map(|i| (i % 17) as f32 * 0.01).collect();
    let mut c = vec![0.0; n * n];
    let g = Gemm { m: n, k: n, n, trans_a: false, trans_b: false };
    g.run(&a, &a, &mut c, false);
    (0..rounds.max(1))
        .map(|_| {
            let started = Instant::now();
            g.run(&a, &a, &mut c, false);
            2.0 * (n * n * n) as f64 / started.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probes_measure_something() {
        let (all, one) = fma_gflops(1);
        assert!(one > 0.0 && all >= one * 0.5, "{all} {one}");
        assert!(sgemm_gflops(64, 1) > 0.0);
    }
}
