//! Runtime CPU dispatch for hand-written loops. `multiversion!` compiles a
//! function body three times: for AVX-512, for AVX2 + FMA, and for the
//! baseline target, and picks the best the CPU has at run time (std caches
//! the detection), so one binary runs everywhere and is fast where it can be.

/// Defines a function whose body is compiled per instruction set and chosen at run time.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if $crate::kernels::simd::has_avx512() {
                    // SAFETY: the CPU has every feature `avx512` was compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: as above, for `avx2`.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

pub(crate) use multiversion;

/// Whether the CPU has every AVX-512 extension the `avx512` copies are
/// compiled for (some CPUs have AVX-512F alone: Knights Landing).
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx512() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512dq")
}

/// A mask of the first `n` of 16 lanes (all of them from `n = 16` on): the
/// lanes of a vector that a row's last, partial stretch fills.
#[inline]
pub(crate) fn lane_mask(n: usize) -> u16 {
    if n >= 16 { u16::MAX } else { (1u16 << n) - 1 }
}

/// [`lane_mask`] for the 8 lanes of an AVX2 vector, as `maskload` and
/// `maskstore` take it: the first `n` lanes all ones (all 8 from `n = 8` on).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn lane_mask8(n: usize) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n.min(8) as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
}

/// Asks the CPU to bring `values` into its nearest cache ahead of their
/// use: a hint, with no effect on any result (nothing where the CPU has no
/// such instruction). For data read soon after, at addresses the hardware's
/// own prefetchers would not guess (rows far apart).
pub(crate) fn prefetch(values: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    for line in values.chunks(16) {
        // SAFETY: SSE is part of x86-64, and a prefetch of a valid address reads nothing.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.as_ptr().cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = values;
}

#[cfg(test)]
mod tests {
    /// Every feature the AVX-512 copy is compiled with is checked before it runs.
    #[test]
    fn the_avx512_copy_runs_only_where_each_of_its_features_is_detected() {
        let source = include_str!("simd.rs");
        let enabled = source.split("enable = \"").nth(1).and_then(|s| s.split('"').next()).expect("the avx512 copy's feature list");
        let detector = source.split("fn has_avx512() -> bool {").nth(1).expect("has_avx512's body");
        let detector = &detector[..detector.find('}').expect("end of has_avx512")];
        for feature in enabled.split(',').filter(|f| f.starts_with("avx512")) {
            assert!(detector.contains(&format!("\"{feature}\"")), "{feature} is compiled for but not detected");
        }
    }
}
