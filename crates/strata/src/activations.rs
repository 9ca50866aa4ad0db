//! Activation functions, by their Keras names, for a layer's `activation`
//! argument (`Dense::new(64).activation(Relu)`).

use serde_json::Value;
use strata_core::{Error, Result, Tensor};

use crate::registry::Registry;

/// An element-wise (or, for softmax, per-sample) activation function.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Activation {
    /// `f(x) = x` (Keras's default: no activation).
    #[default]
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + e⁻ˣ)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// `eˣⁱ / Σⱼ eˣʲ` over the last axis. Its output remembers the logits, so a
    /// cross-entropy loss on it is computed stably from them (as Keras does).
    Softmax,
    /// `log(softmax(x))` over the last axis.
    LogSoftmax,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// `x`, or `0.2 x` below zero (Keras's default slope).
    LeakyRelu,
    /// `x`, or `eˣ - 1` below zero.
    Elu,
    /// Scaled ELU (self-normalising).
    Selu,
    /// `x · Φ(x)` (exact, Keras's default).
    Gelu,
    /// `log(1 + eˣ)`.
    Softplus,
    /// `x / (|x| + 1)`.
    Softsign,
    /// `x · sigmoid(x)` (swish).
    Silu,
    /// `relu6(x + 3) / 6`.
    HardSigmoid,
    /// `x · hard_sigmoid(x)` (hard swish).
    HardSilu,
    /// `eˣ`.
    Exponential,
    /// `x · tanh(softplus(x))`.
    Mish,
    /// An activation of one's own, by the name it was registered under
    /// ([`register_activation`]).
    Custom(&'static str),
}

/// The user's own activations, by name.
static CUSTOM: Registry<ActivationFn> = Registry::new();

/// An activation function of one's own.
type ActivationFn = dyn Fn(&Tensor) -> Result<Tensor> + Send + Sync;

/// Registers an activation of one's own under `name` and returns it: use it
/// as any other (`Dense::new(8).activation(swish2)` or by its name,
/// `.activation("my_swish")`); models using it save and load (Keras's
/// `custom_objects`).
pub fn register_activation(name: &str, f: impl Fn(&Tensor) -> Result<Tensor> + Send + Sync + 'static) -> Activation {
    Activation::Custom(CUSTOM.register(name, std::sync::Arc::new(f)))
}

/// What a layer's `activation` accepts: an [`Activation`], or Keras's name of one.
pub trait IntoActivation {
    /// The activation, or an error naming the known ones.
    fn into_activation(self) -> Result<Activation>;
}
impl IntoActivation for Activation {
    fn into_activation(self) -> Result<Activation> {
        Ok(self)
    }
}
impl IntoActivation for &str {
    fn into_activation(self) -> Result<Activation> {
        Activation::from_name(self)
    }
}

/// Every activation, for listings and tests.
pub const ALL: [Activation; 18] = [
    Activation::Linear, Activation::Relu, Activation::Sigmoid, Activation::Tanh, Activation::Softmax,
    Activation::LogSoftmax, Activation::Relu6, Activation::LeakyRelu, Activation::Elu, Activation::Selu,
    Activation::Gelu, Activation::Softplus, Activation::Softsign, Activation::Silu, Activation::HardSigmoid,
    Activation::HardSilu, Activation::Exponential, Activation::Mish,
];

impl Activation {
    /// Applies the activation.
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Linear => x.clone(),
            Activation::Relu => x.relu(),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Tanh => x.tanh(),
            Activation::Softmax => x.softmax(-1)?,
            Activation::LogSoftmax => x.log_softmax(-1)?,
            Activation::Relu6 => x.relu6(),
            Activation::LeakyRelu => x.leaky_relu(0.2),
            Activation::Elu => x.elu(1.0),
            Activation::Selu => x.selu(),
            Activation::Gelu => x.gelu(false),
            Activation::Softplus => x.softplus(),
            Activation::Softsign => x.softsign(),
            Activation::Silu => x.silu(),
            Activation::HardSigmoid => x.hard_sigmoid(),
            Activation::HardSilu => x.hard_silu(),
            Activation::Exponential => x.exp(),
            Activation::Mish => x.mish(),
            Activation::Custom(name) => {
                let (_, f) = CUSTOM.get(name).ok_or_else(|| Error::argument("activation", format!("activation '{name}' is not registered (strata::activations::register_activation)")))?;
                f(x)?
            }
        })
    }

    /// Keras's identifier (`"relu"`).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softmax => "softmax",
            Activation::LogSoftmax => "log_softmax",
            Activation::Relu6 => "relu6",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Elu => "elu",
            Activation::Selu => "selu",
            Activation::Gelu => "gelu",
            Activation::Softplus => "softplus",
            Activation::Softsign => "softsign",
            Activation::Silu => "silu",
            Activation::HardSigmoid => "hard_sigmoid",
            Activation::HardSilu => "hard_silu",
            Activation::Exponential => "exponential",
            Activation::Mish => "mish",
            Activation::Custom(name) => name,
        }
    }

    /// Parses Keras's identifier (aliases too: `swish`, `hard_swish`); `None` means linear.
    pub fn from_name(name: &str) -> Result<Activation> {
        if let Some((kept, _)) = CUSTOM.get(name) {
            return Ok(Activation::Custom(kept));
        }
        let canonical = match name {
            "None" | "none" => "linear",
            "swish" => "silu",
            "hard_swish" => "hard_silu",
            other => other,
        };
        ALL.iter().copied().find(|a| a.name() == canonical).ok_or_else(|| {
            let known: Vec<String> = ALL.iter().map(|a| a.name().to_string()).chain(CUSTOM.names()).collect();
            Error::argument("activation", format!("unknown activation '{name}' (known: {})", known.join(", ")))
        })
    }

    /// The Keras config value.
    pub fn config(self) -> Value {
        Value::from(self.name())
    }
}
