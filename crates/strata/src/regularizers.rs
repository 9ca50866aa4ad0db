//! Weight regularizers (a penalty added to the loss) and constraints (a
//! projection applied after each optimizer update), with Keras's names,
//! defaults and formulas.

use serde_json::{json, Value};
use strata_core::{no_grad, Error, Result, Tensor};

use crate::registry::Registry;

/// Keras's `backend.epsilon()`, used by the norm constraints.
const EPSILON: f32 = 1e-7;

/// A penalty on a weight's values, added to the training loss.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Regularizer {
    /// `l1 * sum(|w|)` (Keras default 0.01).
    L1(f32),
    /// `l2 * sum(w²)` (Keras default 0.01).
    L2(f32),
    /// Both (Keras defaults 0 and 0).
    L1L2 {
        /// Factor of `sum(|w|)`.
        l1: f32,
        /// Factor of `sum(w²)`.
        l2: f32,
    },
    /// A regularizer of one's own, by the name it was registered under ([`register_regularizer`]).
    Custom(&'static str),
}

/// The user's own regularizers, by name.
static CUSTOM_REGULARIZERS: Registry<TensorFn> = Registry::new();
/// The user's own constraints, by name.
static CUSTOM_CONSTRAINTS: Registry<TensorFn> = Registry::new();

/// A function of a weight: a regularizer's penalty (0-d), or a constraint's projection.
type TensorFn = dyn Fn(&Tensor) -> Result<Tensor> + Send + Sync;

/// Registers a regularizer of one's own under `name` (`penalty(w)` gives a
/// 0-d tensor added to the loss) and returns it; models using it save and load.
pub fn register_regularizer(name: &str, penalty: impl Fn(&Tensor) -> Result<Tensor> + Send + Sync + 'static) -> Regularizer {
    Regularizer::Custom(CUSTOM_REGULARIZERS.register(name, std::sync::Arc::new(penalty)))
}

/// Registers a constraint of one's own under `name` (`project(w)` gives the
/// constrained values, applied after each update) and returns it; models
/// using it save and load.
pub fn register_constraint(name: &str, project: impl Fn(&Tensor) -> Result<Tensor> + Send + Sync + 'static) -> Constraint {
    Constraint::Custom(CUSTOM_CONSTRAINTS.register(name, std::sync::Arc::new(project)))
}

/// The function registered as `name` in `registry`, or an error naming it.
fn registered(registry: &Registry<TensorFn>, kind: &str, name: &str) -> Result<std::sync::Arc<TensorFn>> {
    registry.get(name).map(|(_, f)| f).ok_or_else(|| Error::argument(kind, format!("'{name}' is not registered (strata::regularizers::register_{kind})")))
}

impl Regularizer {
    /// The penalty for `w`, a 0-d tensor.
    pub fn penalty(&self, w: &Tensor) -> Result<Tensor> {
        let (l1, l2) = match *self {
            Regularizer::L1(l1) => (l1, 0.0),
            Regularizer::L2(l2) => (0.0, l2),
            Regularizer::L1L2 { l1, l2 } => (l1, l2),
            Regularizer::Custom(name) => return registered(&CUSTOM_REGULARIZERS, "regularizer", name)?(w),
        };
        let mut total = Tensor::scalar(0.0);
        if l1 != 0.0 {
            total = total.add(&w.abs().sum().scale(l1))?;
        }
        if l2 != 0.0 {
            total = total.add(&w.square().sum().scale(l2))?;
        }
        Ok(total)
    }

    /// Keras's serialized form (`{"module": "keras.regularizers", "class_name": ..., "config": ...}`).
    pub fn config(&self) -> Value {
        let (class, config) = match *self {
            Regularizer::L1(l1) => ("L1", json!({ "l1": l1 })),
            Regularizer::L2(l2) => ("L2", json!({ "l2": l2 })),
            Regularizer::L1L2 { l1, l2 } => ("L1L2", json!({ "l1": l1, "l2": l2 })),
            Regularizer::Custom(name) => (name, json!({})),
        };
        json!({ "module": "keras.regularizers", "class_name": class, "config": config, "registered_name": null })
    }

    /// From Keras's config (`{"class_name": "L2", "config": {"l2": 0.01}}`) or name (`"l2"`).
    pub fn from_config(v: &Value) -> Result<Regularizer> {
        let (class, cfg) = class_and_config(v, "regularizer")?;
        let num = |key: &str, default: f32| cfg.get(key).and_then(|x| x.as_f64()).map(|x| x as f32).unwrap_or(default);
        match class {
            "L1" | "l1" => Ok(Regularizer::L1(num("l1", 0.01))),
            "L2" | "l2" => Ok(Regularizer::L2(num("l2", 0.01))),
            "L1L2" | "l1_l2" => Ok(Regularizer::L1L2 { l1: num("l1", 0.0), l2: num("l2", 0.0) }),
            other => match CUSTOM_REGULARIZERS.get(other) {
                Some((name, _)) => Ok(Regularizer::Custom(name)),
                None => Err(Error::argument("regularizer", format!("unknown regularizer '{other}' (known: L1, L2, L1L2; your own after strata::regularizers::register_regularizer)"))),
            },
        }
    }
}

/// A projection of a weight's values applied after every optimizer update.
#[derive(Clone, Debug, PartialEq)]
pub enum Constraint {
    /// Scales each slice whose norm over `axis` exceeds `max_value` back to it (Keras default 2, axis 0).
    MaxNorm {
        /// The largest norm a slice keeps.
        max_value: f32,
        /// Axes the norm is taken over (for a Dense kernel `[0]`: each unit's input weights).
        axis: Vec<isize>,
    },
    /// Sets negative values to zero.
    NonNeg,
    /// Scales each slice to unit norm over `axis` (Keras default axis 0).
    UnitNorm {
        /// Axes the norm is taken over (for a Dense kernel `[0]`: each unit's input weights).
        axis: Vec<isize>,
    },
    /// Moves each slice's norm over `axis` into `[min_value, max_value]` at `rate` (Keras defaults 0, 1, 1, axis 0).
    MinMaxNorm {
        /// The smallest norm a slice is moved to.
        min_value: f32,
        /// The largest norm a slice is moved to.
        max_value: f32,
        /// How far to move: 1 clips the norm into the range, less moves it part of the way.
        rate: f32,
        /// Axes the norm is taken over (for a Dense kernel `[0]`: each unit's input weights).
        axis: Vec<isize>,
    },
    /// A constraint of one's own, by the name it was registered under ([`register_constraint`]).
    Custom(&'static str),
}

fn class_and_config<'a>(v: &'a Value, what: &str) -> Result<(&'a str, &'a Value)> {
    match v {
        Value::String(s) => Ok((s.as_str(), &Value::Null)),
        Value::Object(o) => Ok((o.get("class_name").and_then(|c| c.as_str()).unwrap_or(""), o.get("config").unwrap_or(&Value::Null))),
        _ => Err(Error::argument(what, format!("expected a name or a config, got {v}"))),
    }
}

impl Constraint {
    /// The constrained value of `w`, computed with tensor ops (so on `w`'s
    /// device): Keras's formulas, the norm taken over `axis` of each slice.
    pub fn project(&self, w: &Tensor) -> Result<Tensor> {
        let _off = no_grad();
        let axis = match self {
            Constraint::NonNeg => return Ok(w.relu()),
            Constraint::Custom(name) => return registered(&CUSTOM_CONSTRAINTS, "constraint", name)?(w),
            Constraint::MaxNorm { axis, .. } | Constraint::UnitNorm { axis } | Constraint::MinMaxNorm { axis, .. } => axis,
        };
        let mut reduced: Vec<usize> = axis.iter().map(|&a| strata_core::ops::resolve_axis("constraint", a, w.shape())).collect::<Result<_>>()?;
        reduced.sort_unstable();
        reduced.dedup();
        let mut squares = w.square();
        for &a in &reduced {
            squares = squares.sum_axis(a as isize, true)?;
        }
        let norm = squares.sqrt();
        let scale = match self {
            Constraint::MaxNorm { max_value, .. } => norm.clip(0.0, *max_value).div(&norm.add_scalar(EPSILON))?,
            Constraint::UnitNorm { .. } => Tensor::full(norm.shape(), 1.0).div(&norm.add_scalar(EPSILON))?,
            Constraint::MinMaxNorm { min_value, max_value, rate, .. } => {
                norm.clip(*min_value, *max_value).scale(*rate).add(&norm.scale(1.0 - rate))?.div(&norm.add_scalar(EPSILON))?
            }
            Constraint::NonNeg | Constraint::Custom(_) => unreachable!("returned above"),
        };
        w.mul(&scale)
    }

    /// Keras's serialized form (`{"module": "keras.constraints", "class_name": ..., "config": ...}`).
    pub fn config(&self) -> Value {
        let (class, config) = match self {
            Constraint::MaxNorm { max_value, axis } => ("MaxNorm", json!({ "max_value": max_value, "axis": axis })),
            Constraint::NonNeg => ("NonNeg", json!({})),
            Constraint::UnitNorm { axis } => ("UnitNorm", json!({ "axis": axis })),
            Constraint::MinMaxNorm { min_value, max_value, rate, axis } => ("MinMaxNorm", json!({ "min_value": min_value, "max_value": max_value, "rate": rate, "axis": axis })),
            Constraint::Custom(name) => (*name, json!({})),
        };
        json!({ "module": "keras.constraints", "class_name": class, "config": config, "registered_name": null })
    }

    /// From Keras's config (`{"class_name": "MaxNorm", "config": {"max_value": 2, "axis": 0}}`) or name.
    pub fn from_config(v: &Value) -> Result<Constraint> {
        let (class, cfg) = class_and_config(v, "constraint")?;
        let num = |key: &str, default: f32| cfg.get(key).and_then(|x| x.as_f64()).map(|x| x as f32).unwrap_or(default);
        let axis = match cfg.get("axis") {
            None | Some(Value::Null) => vec![0],
            Some(Value::Array(a)) => a.iter().map(|x| x.as_i64().map(|x| x as isize)).collect::<Option<Vec<_>>>().ok_or_else(|| Error::argument("constraint", format!("axis must be integers, got {}", cfg["axis"])))?,
            Some(x) => vec![x.as_i64().ok_or_else(|| Error::argument("constraint", format!("axis must be an integer, got {x}")))? as isize],
        };
        match class {
            "MaxNorm" | "max_norm" => Ok(Constraint::MaxNorm { max_value: num("max_value", 2.0), axis }),
            "NonNeg" | "non_neg" => Ok(Constraint::NonNeg),
            "UnitNorm" | "unit_norm" => Ok(Constraint::UnitNorm { axis }),
            "MinMaxNorm" | "min_max_norm" => Ok(Constraint::MinMaxNorm { min_value: num("min_value", 0.0), max_value: num("max_value", 1.0), rate: num("rate", 1.0), axis }),
            other => match CUSTOM_CONSTRAINTS.get(other) {
                Some((name, _)) => Ok(Constraint::Custom(name)),
                None => Err(Error::argument("constraint", format!("unknown constraint '{other}' (known: MaxNorm, NonNeg, UnitNorm, MinMaxNorm; your own after strata::regularizers::register_constraint)"))),
            },
        }
    }
}
