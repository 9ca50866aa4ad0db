//! The seam between what an op means and how a device computes it.
//!
//! Every op of [`crate::ops`] checks its arguments, resolves shapes and axes,
//! and then asks the [`Backend`] of its operands' device for the result. A
//! backend computes the output and, when some input needs a gradient,
//! records the op's backward pass beside it (through [`crate::autodiff`],
//! which is the same for every device). Nothing above this module reads or
//! writes a tensor's numbers except through a backend, or through the
//! explicit host transfers ([`Tensor::data`], [`Tensor::new`]) that loading
//! data, saving files and tests use.
//!
//! Two implementations exist, both on the CPU:
//! - [`Portable`]: the host kernels (`host/`), im2col + GEMM convolutions,
//!   on any CPU. Each method's default body is this implementation, so a new
//!   backend that has not yet written a kernel falls back to it through host
//!   transfers.
//! - [`Cpu`]: the same, with convolutions (and convolution + pooling) on
//!   register tiles and Winograd blocks where the CPU has AVX-512, or AVX2 and FMA.
//!
//! `STRATA_KERNELS=portable` makes every CPU tensor use [`Portable`] (CI runs
//! the suite under both); `STRATA_KERNELS=avx2` runs the AVX2 tiles on a CPU
//! with AVX-512. A CUDA backend adds a [`Device`] variant and its
//! own implementation of this trait; layers and models do not change.

pub(crate) mod host;

use std::sync::OnceLock;

pub use crate::kernels::optim::AdamStep;
use crate::kernels::window::Window;
use crate::error::Result;
use crate::ops::recurrent::RecurrentDropout;
use crate::tensor::{Device, Tensor};

/// In an index map ([`Backend::index_map`]): this output element is a zero.
pub const ZERO_INDEX: usize = usize::MAX;

/// An element-wise function of one tensor, with its parameters. Backends
/// know each by name (a device backend maps it to a kernel); the host
/// formulas, value and derivative, are in `host/activation.rs`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unary {
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// Keras's general relu: `negative_slope`, `max_value`, `threshold`.
    ReluWith {
        /// Slope below `threshold` (Keras's default 0).
        negative_slope: f32,
        /// Upper bound of the output; `None` leaves it unbounded.
        max_value: Option<f32>,
        /// Inputs below it give `negative_slope · (x - threshold)` instead of
        /// `x`; Keras's default 0.
        threshold: f32,
    },
    /// `x` for `x >= 0`, else `slope · x`; holds the negative slope.
    LeakyRelu(f32),
    /// `x` for `x > 0`, else `alpha · (eˣ - 1)`; holds `alpha`.
    Elu(f32),
    /// Scaled ELU with Keras's constants (alpha ≈ 1.6733, scale ≈ 1.0507).
    Selu,
    /// `1 / (1 + e⁻ˣ)`.
    Sigmoid,
    /// The hyperbolic tangent.
    Tanh,
    /// `log(1 + eˣ)`, computed without overflow.
    Softplus,
    /// `x / (|x| + 1)`.
    Softsign,
    /// `x · sigmoid(x)` (also called swish).
    Silu,
    /// `clip((x + 3) / 6, 0, 1)`, Keras's piecewise-linear sigmoid.
    HardSigmoid,
    /// `x · hard_sigmoid(x)` (also called hard swish).
    HardSilu,
    /// `x · tanh(softplus(x))`.
    Mish,
    /// The exact GELU, `0.5 · x · (1 + erf(x / √2))`.
    Gelu,
    /// GELU by its tanh approximation (Keras's `approximate=True`).
    GeluTanh,
    /// `x · s`; holds `s`.
    Scale(f32),
    /// `x + s`; holds `s`.
    AddScalar(f32),
    /// `x²`.
    Square,
    /// `eˣ`.
    Exp,
    /// The natural logarithm.
    Log,
    /// `xᵉ`; holds the exponent `e`.
    Powf(f32),
    /// `|x|`.
    Abs,
    /// `√x`.
    Sqrt,
    /// `log(cosh(x))`, computed without overflow.
    LogCosh,
    /// `x` clamped to `[low, high]`; holds `(low, high)`. Its gradient is 1
    /// inside the range, 0 outside.
    Clip(f32, f32),
}

/// An element-wise function of two tensors, broadcasting as NumPy does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a · b`, element by element.
    Mul,
    /// `a / b`, element by element.
    Div,
    /// The larger of `a` and `b`.
    Max,
    /// The smaller of `a` and `b`.
    Min,
}

/// A reduction along one axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduce {
    /// The sum.
    Sum,
    /// The arithmetic mean.
    Mean,
    /// The maximum; its gradient goes to the first maximal element.
    Max,
}

/// One step of an optimizer's rule, with this step's constants (Keras's
/// formulas; the optimizers in `strata::optimizers` compute the constants).
/// The slots each rule updates are listed with it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Update {
    /// `w = g`: a new value computed by ops (a constraint's projection). No slots.
    Assign,
    /// `w = momentum · w + (1 - momentum) · g`: a moving average of `g`
    /// (BatchNormalization's statistics). No slots.
    MovingAverage {
        /// Share of the old value kept (BatchNormalization's `momentum`).
        momentum: f32,
    },
    /// `w -= rate · w` (decoupled weight decay). No slots.
    Decay {
        /// This step's decay: the learning rate times the weight decay.
        rate: f32,
    },
    /// Slots: none, or `momentum` when momentum is non-zero.
    Sgd {
        /// Step size for this step.
        learning_rate: f32,
        /// Momentum factor; `0` for plain SGD.
        momentum: f32,
        /// Whether to apply Nesterov momentum.
        nesterov: bool,
    },
    /// Slots: `m`, `v` (and `v_hat` with AMSGrad).
    Adam(AdamStep),
    /// Slots: `m`, `u`.
    Adamax {
        /// Step size for this step.
        learning_rate: f32,
        /// Decay of the first moment `m`.
        beta_1: f32,
        /// Decay of the infinity norm `u`.
        beta_2: f32,
        /// Added to `u` in the denominator, for stability.
        epsilon: f32,
        /// `beta_1ᵗ` for this step `t` (counted from 1), for bias correction.
        beta_1_power: f32,
    },
    /// Slots: `m`, `v`; the momentum schedule's values for this step.
    Nadam {
        /// Step size for this step.
        learning_rate: f32,
        /// Decay of the first moment `m`.
        beta_1: f32,
        /// Decay of the second moment `v`.
        beta_2: f32,
        /// Added to `√v̂` in the denominator, for stability.
        epsilon: f32,
        /// The momentum schedule's `μₜ` at this step `t`.
        u_t: f32,
        /// The momentum schedule's `μₜ₊₁`.
        u_t1: f32,
        /// `Π μ` over steps `1..=t`.
        u_prod: f32,
        /// `Π μ` over steps `1..=t + 1`.
        u_prod_next: f32,
        /// `beta_2ᵗ`, for bias correction of `v`.
        beta_2_power: f32,
    },
    /// Slots: `velocity`, `average_gradient`, `momentum`.
    RmsProp {
        /// Step size for this step.
        learning_rate: f32,
        /// Decay of the moving average of squared gradients.
        rho: f32,
        /// Momentum of the update; `0` disables it.
        momentum: f32,
        /// Added under the square root, for stability.
        epsilon: f32,
        /// Whether to divide by the gradient's estimated variance rather than
        /// its uncentered second moment.
        centered: bool,
    },
    /// Slots: `accumulator`.
    Adagrad {
        /// Step size for this step.
        learning_rate: f32,
        /// Added under the square root, for stability.
        epsilon: f32,
    },
    /// Slots: `accumulated_grad`, `accumulated_delta_var`.
    Adadelta {
        /// Scale of each step (Keras's default 0.001).
        learning_rate: f32,
        /// Decay of both moving averages.
        rho: f32,
        /// Added under the square roots, for stability.
        epsilon: f32,
    },
}

/// Computes ops for the tensors of one device. Arguments arrive checked
/// (shapes agree, axes resolved, indices in range); each method returns
/// constant tensors or, where an input requires a gradient and recording is
/// on, outputs that carry the op's backward pass.
pub trait Backend: Send + Sync {
    /// A short name for messages and benchmarks (`cpu`, `portable`).
    fn name(&self) -> &'static str;

    /// `op` applied to every element.
    fn unary(&self, op: Unary, x: &Tensor) -> Tensor {
        host::arith::unary(op, x)
    }
    /// `op` of `a` and `b` broadcast to `shape`.
    fn binary(&self, op: Binary, a: &Tensor, b: &Tensor, shape: &[usize]) -> Tensor {
        host::arith::binary(op, a, b, shape)
    }
    /// `x` where `condition` is non-zero, else `y`, all broadcast to `shape`.
    fn select_where(&self, condition: &Tensor, x: &Tensor, y: &Tensor, shape: &[usize]) -> Tensor {
        host::arith::select_where(condition, x, y, shape)
    }

    /// The sum of all elements times `scale`, as a 0-d tensor.
    fn sum_all(&self, name: &'static str, x: &Tensor, scale: f32) -> Tensor {
        host::reduce::sum_all(name, x, scale)
    }
    /// `reduce` along `axis`, which is kept with length 1 when `keepdims`.
    fn reduce_axis(&self, x: &Tensor, axis: usize, reduce: Reduce, keepdims: bool) -> Tensor {
        host::reduce::reduce_axis(x, axis, reduce, keepdims)
    }
    /// The position of the largest element along `axis` (the first of
    /// equals), as an `i64` tensor without that axis.
    fn argmax(&self, x: &Tensor, axis: usize) -> Tensor {
        host::reduce::argmax(x, axis)
    }
    /// `Σ x²` over all elements, accumulated in `f64` in a fixed order.
    fn sum_of_squares(&self, x: &Tensor) -> f64 {
        host::reduce::sum_of_squares(x)
    }
    /// Whether no element is NaN or infinite.
    fn all_finite(&self, x: &Tensor) -> bool {
        crate::kernels::elementwise::all_finite(&x.data())
    }

    /// An LSTM over a whole sequence (see [`Tensor::lstm`]), for checked
    /// shapes `(batch, time, features, units)`.
    #[allow(clippy::too_many_arguments)]
    fn lstm(&self, x: &Tensor, kernel: &Tensor, recurrent: &Tensor, bias: &Tensor, initial: [&Tensor; 2], dropout: &RecurrentDropout, dims: (usize, usize, usize, usize)) -> [Tensor; 2] {
        host::lstm::lstm(x, [kernel, recurrent, bias], initial, dropout, dims)
    }
    /// A simple recurrent layer (tanh) over a whole sequence (see
    /// [`Tensor::simple_rnn`]), for checked shapes `(batch, time, features, units)`.
    #[allow(clippy::too_many_arguments)]
    fn simple_rnn(&self, x: &Tensor, kernel: &Tensor, recurrent: &Tensor, bias: &Tensor, h0: &Tensor, dropout: &RecurrentDropout, dims: (usize, usize, usize, usize)) -> Tensor {
        host::recurrent::simple_rnn(x, [kernel, recurrent, bias], h0, dropout, dims)
    }
    /// A GRU (`reset_after`) over a whole sequence (see [`Tensor::gru`]),
    /// for checked shapes `(batch, time, features, units)`.
    #[allow(clippy::too_many_arguments)]
    fn gru(&self, x: &Tensor, kernel: &Tensor, recurrent: &Tensor, biases: [&Tensor; 2], h0: &Tensor, dropout: &RecurrentDropout, dims: (usize, usize, usize, usize)) -> Tensor {
        host::gru::gru(x, [kernel, recurrent], biases, h0, dropout, dims)
    }
    /// A GRU with `reset_after=False` over a whole sequence (see
    /// [`Tensor::gru_reset_before`]), for checked shapes `(batch, time, features, units)`.
    #[allow(clippy::too_many_arguments)]
    fn gru_reset_before(&self, x: &Tensor, kernel: &Tensor, recurrent: &Tensor, bias: &Tensor, h0: &Tensor, dropout: &RecurrentDropout, dims: (usize, usize, usize, usize)) -> Tensor {
        host::gru_reset_before::gru_reset_before(x, [kernel, recurrent, bias], h0, dropout, dims)
    }
    /// Softmax (or log-softmax when `log`) along `axis`.
    fn softmax(&self, x: &Tensor, axis: usize, log: bool) -> Tensor {
        host::softmax::softmax(x, axis, log)
    }
    /// Per-row `-Σ targets · log_softmax(logits)` over the last axis.
    fn softmax_cross_entropy(&self, logits: &Tensor, targets: &Tensor) -> Tensor {
        host::loss::softmax_cross_entropy(logits, targets)
    }
    /// Per-row `-log_softmax(logits)[label]`, for `[batch, classes]` logits and checked labels.
    fn sparse_softmax_cross_entropy(&self, logits: &Tensor, labels: &[usize]) -> Tensor {
        host::loss::sparse_softmax_cross_entropy(logits, labels)
    }

    /// `[m, k] · [k, n] + bias`, then relu when `relu`.
    fn linear(&self, x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, relu: bool) -> Tensor {
        host::linear::linear(x, kernel, bias, relu)
    }
    /// `[m, k] · [k, n]`.
    fn matmul(&self, a: &Tensor, b: &Tensor) -> Tensor {
        host::matmul::matmul(a, b)
    }
    /// `[b, m, k] · [b, k, n]`, one product per batch entry.
    fn bmm(&self, a: &Tensor, b: &Tensor) -> Tensor {
        host::matmul::bmm(a, b)
    }

    /// Output element `i` of `shape` is element `map[i]` of `x`, or zero
    /// where `map[i]` is `usize::MAX` (permute, padding, upsampling).
    fn index_map(&self, name: &'static str, x: &Tensor, shape: Vec<usize>, map: Vec<usize>) -> Tensor {
        host::layout::index_map(name, x, shape, map)
    }
    /// Elements `start..start + len` along `axis`.
    fn narrow(&self, x: &Tensor, axis: usize, start: usize, len: usize) -> Tensor {
        host::index::narrow(x, axis, start, len)
    }
    /// Positions `indices` along `axis`, repeats allowed.
    fn gather(&self, x: &Tensor, axis: usize, indices: &[usize]) -> Tensor {
        host::index::gather(x, axis, indices)
    }
    /// `x` with `src`'s slices added at positions `indices` along `axis`.
    fn scatter_add(&self, x: &Tensor, axis: usize, indices: &[usize], src: &Tensor) -> Tensor {
        host::index::scatter_add(x, axis, indices, src)
    }
    /// `tensors` joined along `axis`.
    fn concat(&self, tensors: &[Tensor], axis: usize) -> Tensor {
        host::index::concat(tensors, axis)
    }
    /// `x` cut along `axis` into pieces of `sizes`, as one several-output op.
    fn split(&self, x: &Tensor, axis: usize, sizes: &[usize]) -> Vec<Tensor> {
        host::index::split(x, axis, sizes)
    }

    /// A convolution of NHWC images `x` with kernel `(kh, kw, c, f)` over
    /// window `g`, plus `bias`, then relu when `relu`.
    fn conv2d(&self, x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, g: Window, relu: bool) -> Tensor {
        match kernel.shape()[3] <= host::conv::thin::MAX_FILTERS {
            true => host::conv::thin::run(g, relu, x, kernel, bias),
            false => host::conv::im2col::run(g, relu, x, kernel, bias),
        }
    }
    /// `max_pool(relu(conv2d(x) + bias))` where the pooling windows `pool`
    /// tile the convolution's output.
    fn conv2d_relu_max_pool(&self, x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, g: Window, pool: Window) -> Tensor {
        let y = self.conv2d(x, kernel, bias, g, true);
        self.max_pool2d(&y, pool)
    }
    /// The transposed convolution of `x` `[n, g.oh, g.ow, in]` with kernel
    /// `(kh, kw, f, in)`, plus `bias`: the input gradient of the convolution
    /// `g` of `[n, g.h, g.w, f]` images, so `[n, g.h, g.w, f]`.
    fn conv2d_transpose(&self, x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, g: Window) -> Tensor {
        host::conv::transpose::run(g, x, kernel, bias)
    }
    /// NHWC images resampled: each output pixel the weighted sum of its taps.
    fn resample(&self, x: &Tensor, r: &crate::ops::image::Resample) -> Tensor {
        host::image::resample(x, r)
    }
    /// Max over the windows `g`.
    fn max_pool2d(&self, x: &Tensor, g: Window) -> Tensor {
        host::pool::max_pool2d(x, g)
    }
    /// Mean over the windows `g` (padding not counted).
    fn avg_pool2d(&self, x: &Tensor, g: Window) -> Tensor {
        host::pool::avg_pool2d(x, g)
    }

    /// `total + g` for gradients of the same shape, in place when nothing
    /// else holds `total`.
    fn accumulate(&self, total: Tensor, g: &Tensor) -> Tensor {
        host::arith::accumulate(total, g)
    }
    /// One optimizer step of `rule`, written into weight `w` and its
    /// `slots` (each shaped like `w`, in the order the rule names them).
    /// Fails, naming the shapes, unless `g` and every slot are shaped like `w`.
    fn update(&self, rule: Update, w: &Tensor, slots: &[Tensor], g: &Tensor) -> Result<()> {
        host::optim::update(rule, w, slots, g)
    }
}

/// The portable host kernels, on any CPU: every method is the default.
#[derive(Debug, Default)]
pub struct Portable;

impl Backend for Portable {
    fn name(&self) -> &'static str {
        "portable"
    }
}

/// The host kernels with convolutions on register tiles (AVX-512, or AVX2 and FMA) and Winograd blocks
/// where the CPU has them (the portable ones elsewhere).
#[derive(Debug, Default)]
pub struct Cpu;

impl Backend for Cpu {
    fn name(&self) -> &'static str {
        "cpu"
    }
    fn conv2d(&self, x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, g: Window, relu: bool) -> Tensor {
        match host::conv::direct::suits(&g, kernel.shape()[3]) {
            true => host::conv::direct::run(g, relu, x, kernel, bias),
            false => Portable.conv2d(x, kernel, bias, g, relu),
        }
    }
    fn conv2d_relu_max_pool(&self, x: &Tensor, kernel: &Tensor, bias: Option<&Tensor>, g: Window, pool: Window) -> Tensor {
        // Larger windows than a winner's u8 position can name go unfused, as
        // do convolutions the tiles do not suit (so both forms give the same bits).
        match host::conv::direct::suits(&g, kernel.shape()[3]) && pool.kh * pool.kw <= 256 {
            true => host::conv::pooled::conv2d_relu_max_pool(x, kernel, bias, g, pool),
            false => self.max_pool2d(&self.conv2d(x, kernel, bias, g, true), pool),
        }
    }
}

/// Whether `STRATA_KERNELS=portable` asks for the portable kernels.
fn portable_requested() -> bool {
    std::env::var("STRATA_KERNELS").is_ok_and(|v| v.trim() == "portable")
}

/// The backend that computes for tensors on `device`.
pub fn for_device(device: Device) -> &'static dyn Backend {
    static CPU: OnceLock<&'static dyn Backend> = OnceLock::new();
    match device {
        Device::Cpu => *CPU.get_or_init(|| if portable_requested() { &Portable } else { &Cpu }),
    }
}

impl Tensor {
    /// The backend of this tensor's device.
    pub fn backend(&self) -> &'static dyn Backend {
        for_device(self.device())
    }
}
