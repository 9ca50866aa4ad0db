//! Activation functions, by their Keras names, for a layer's `activation`
//! argument (`Dense::new(64).activation(Relu)`).

use serde_json::Value;
use strata_core::{Error, Result, Tensor};

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
}

impl Activation {
    /// Applies the activation.
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Linear => x.clone(),
            Activation::Relu => x.relu(),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Tanh => x.tanh(),
            Activation::Softmax => x.softmax(-1)?,
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
        }
    }

    /// Parses Keras's identifier; `None`/`null` means linear.
    pub fn from_name(name: &str) -> Result<Activation> {
        Ok(match name {
            "linear" | "None" | "none" => Activation::Linear,
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "softmax" => Activation::Softmax,
            other => {
                return Err(Error::argument("activation", format!("unknown activation '{other}' (known: linear, relu, sigmoid, tanh, softmax)")));
            }
        })
    }

    /// The Keras config value.
    pub fn config(self) -> Value {
        Value::from(self.name())
    }
}
