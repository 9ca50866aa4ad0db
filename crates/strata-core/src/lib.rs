//! # strata-core
//!
//! The bottom layer of Strata: an n-dimensional [`Tensor`] (`f32`, or
//! integers for ids and labels), the differentiable [`ops`], the
//! [`backend`] seam that computes them on a device (the CPU's [`kernels`]
//! today), and reverse-mode automatic differentiation
//! ([`Tensor::backward`]). It knows nothing of layers, models or files.
//!
//! ```
//! use strata_core::Tensor;
//! let w = Tensor::variable(vec![2.0, -1.0], &[2, 1]).unwrap();
//! let x = Tensor::new(vec![1.0, 3.0], &[1, 2]).unwrap();
//! let y = x.matmul(&w).unwrap().square().sum();
//! let grads = y.backward().unwrap();
//! // y = (2 - 3)² = 1; dy/dw = 2 (x·w) xᵀ = [-2, -6]
//! assert_eq!(grads.get(&w).unwrap().to_vec(), [-2.0, -6.0]);
//! ```

#![warn(missing_docs)]

pub mod autodiff;
pub mod backend;
pub mod buffer;
pub mod error;
pub mod kernels;
pub mod ops;
pub mod profile;
pub mod rng;
pub mod tensor;
pub mod threads;

pub use autodiff::{enable_grad, no_grad, BackwardFn, Gradients, InputGrads, NoGradGuard};
pub use error::{fmt_shape, Error, Result};
pub use kernels::window::Padding;
pub use rng::Rng;
pub use backend::Backend;

/// Whether the kernels were compiled with optimisations (`--release`, or an
/// `opt-level` above 0 for this crate). An unoptimised build trains about 80
/// times slower.
pub fn optimized_build() -> bool {
    !matches!(env!("STRATA_OPT_LEVEL"), "0" | "")
}

/// Prints, once per process, a warning that the kernels were compiled without
/// optimisations and how to fix it (unless `STRATA_ALLOW_UNOPTIMIZED=1`).
/// `fit`, `evaluate`, `predict` and the `strata` binary call it.
pub fn warn_if_unoptimized() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if optimized_build() || std::env::var_os("STRATA_ALLOW_UNOPTIMIZED").is_some_and(|v| v != "0") {
        return;
    }
    ONCE.call_once(|| {
        eprintln!(
            "warning: Strata was compiled without optimisations (opt-level 0): training and inference run about 80 times slower.\n\
             \x20        Build with --release (`cargo run --release`), or keep debug builds of your own code and optimise\n\
             \x20        the dependencies in your Cargo.toml:\n\
             \x20            [profile.dev.package.\"*\"]\n\
             \x20            opt-level = 3\n\
             \x20        (STRATA_ALLOW_UNOPTIMIZED=1 silences this warning.)"
        );
    });
}
pub use tensor::{DType, Device, Tensor};
