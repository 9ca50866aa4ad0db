//! Reading the fields of a layer's Keras config (`layer.get_config()`):
//! each layer's `from_config` uses these, and every error names the layer,
//! the field and what it should have been.

use serde_json::Value;
use strata_core::{Error, Padding, Result};

use crate::activations::Activation;
use crate::initializers::{Distribution, FanMode, Initializer};
use crate::regularizers::{Constraint, Regularizer};
use crate::layers;

/// A field of a layer's config, or an error naming the layer and field.
pub fn field<'a>(layer: &str, config: &'a Value, name: &str) -> Result<&'a Value> {
    config.get(name).filter(|v| !v.is_null()).ok_or_else(|| Error::layer(layer, format!("config is missing '{name}'")))
}

pub(crate) fn bad(layer: &str, name: &str, expected: &str, got: &Value) -> Error {
    Error::layer(layer, format!("config field '{name}' must be {expected}, got {got}"))
}

/// A non-negative integer field of a layer's config, or an error naming the layer and field.
pub fn usize_field(layer: &str, config: &Value, name: &str) -> Result<usize> {
    let v = field(layer, config, name)?;
    v.as_u64().map(|n| n as usize).ok_or_else(|| bad(layer, name, "a non-negative integer", v))
}

pub(crate) fn bool_field(layer: &str, config: &Value, name: &str, default: bool) -> Result<bool> {
    match config.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_bool().ok_or_else(|| bad(layer, name, "true or false", v)),
    }
}

/// `3` or `[3, 3]` as a pair.
pub(crate) fn pair_field(layer: &str, config: &Value, name: &str) -> Result<(usize, usize)> {
    let v = field(layer, config, name)?;
    if let Some(n) = v.as_u64() {
        return Ok((n as usize, n as usize));
    }
    match v.as_array().map(|a| a.iter().map(|x| x.as_u64()).collect::<Vec<_>>()).as_deref() {
        Some([Some(a), Some(b)]) => Ok((*a as usize, *b as usize)),
        _ => Err(bad(layer, name, "an integer or a pair of integers", v)),
    }
}

pub(crate) fn padding_field(layer: &str, config: &Value) -> Result<Padding> {
    match config.get("padding") {
        None | Some(Value::Null) => Ok(Padding::Valid),
        Some(v) => v.as_str().and_then(Padding::parse).ok_or_else(|| bad(layer, "padding", "'valid' or 'same'", v)),
    }
}

pub(crate) fn activation_field(layer: &str, config: &Value) -> Result<Activation> {
    match config.get("activation") {
        None | Some(Value::Null) => Ok(Activation::Linear),
        Some(Value::String(s)) => Activation::from_name(s).map_err(|e| Error::layer(layer, e.to_string())),
        Some(v) => Err(bad(layer, "activation", "an activation name", v)),
    }
}

pub(crate) fn initializer_field(layer: &str, config: &Value, name: &str, default: Initializer) -> Result<Initializer> {
    let v = match config.get(name) {
        None | Some(Value::Null) => return Ok(default),
        Some(v) => v,
    };
    let (class, cfg) = match v {
        Value::String(s) => (s.as_str(), &Value::Null),
        Value::Object(o) => (o.get("class_name").and_then(|c| c.as_str()).unwrap_or(""), o.get("config").unwrap_or(&Value::Null)),
        _ => return Err(bad(layer, name, "an initializer", v)),
    };
    let num = |key: &str, default: f32| cfg.get(key).and_then(|x| x.as_f64()).map(|x| x as f32).unwrap_or(default);
    Ok(match class {
        "Zeros" | "zeros" => Initializer::Zeros,
        "Ones" | "ones" => Initializer::Ones,
        "Constant" | "constant" => Initializer::Constant(num("value", 0.0)),
        "RandomUniform" | "random_uniform" => Initializer::RandomUniform { min: num("minval", -0.05), max: num("maxval", 0.05) },
        "RandomNormal" | "random_normal" => Initializer::RandomNormal { mean: num("mean", 0.0), stddev: num("stddev", 0.05) },
        "GlorotUniform" | "glorot_uniform" => Initializer::GlorotUniform,
        "GlorotNormal" | "glorot_normal" => Initializer::GlorotNormal,
        "HeUniform" | "he_uniform" => Initializer::HeUniform,
        "HeNormal" | "he_normal" => Initializer::HeNormal,
        "LecunUniform" | "lecun_uniform" => Initializer::LecunUniform,
        "LecunNormal" | "lecun_normal" => Initializer::LecunNormal,
        "TruncatedNormal" | "truncated_normal" => Initializer::TruncatedNormal { mean: num("mean", 0.0), stddev: num("stddev", 0.05) },
        "Orthogonal" | "orthogonal" => Initializer::Orthogonal { gain: num("gain", 1.0) },
        "Identity" | "identity" => Initializer::Identity { gain: num("gain", 1.0) },
        "VarianceScaling" | "variance_scaling" => {
            let text = |key: &str, default: &'static str| cfg.get(key).and_then(|x| x.as_str()).unwrap_or(default).to_string();
            let (mode, dist) = (text("mode", "fan_in"), text("distribution", "truncated_normal"));
            Initializer::VarianceScaling {
                scale: num("scale", 1.0),
                mode: FanMode::parse(&mode).ok_or_else(|| Error::layer(layer, format!("VarianceScaling mode '{mode}' in '{name}' is not one of fan_in, fan_out, fan_avg")))?,
                distribution: Distribution::parse(&dist).ok_or_else(|| Error::layer(layer, format!("VarianceScaling distribution '{dist}' in '{name}' is not one of truncated_normal, untruncated_normal, uniform")))?,
            }
        }
        other => match crate::initializers::custom(other) {
            Some(init) => init,
            None => return Err(Error::layer(layer, format!("initializer '{other}' in '{name}' is not supported yet (your own: strata::initializers::register_initializer)"))),
        },
    })
}

/// The activation, bias, initializers, regularizers and constraints of a Dense or convolution config.
pub(crate) fn kernel_options_field(layer: &str, config: &Value) -> Result<layers::KernelOptions> {
    Ok(layers::KernelOptions {
        activation: activation_field(layer, config)?,
        use_bias: bool_field(layer, config, "use_bias", true)?,
        kernel_initializer: initializer_field(layer, config, "kernel_initializer", Initializer::GlorotUniform)?,
        bias_initializer: initializer_field(layer, config, "bias_initializer", Initializer::Zeros)?,
        weight_options: weight_options_field(layer, config)?,
    })
}

/// The kernel and bias regularizers and constraints of a layer config.
pub(crate) fn weight_options_field(layer: &str, config: &Value) -> Result<layers::WeightOptions> {
    let get = |name: &str| config.get(name).filter(|v| !v.is_null());
    let named = |name: &str, e: Error| Error::layer(layer, format!("{name}: {e}"));
    require(layer, config, "activity_regularizer", &Value::Null)?;
    Ok(layers::WeightOptions {
        kernel_regularizer: get("kernel_regularizer").map(|v| Regularizer::from_config(v).map_err(|e| named("kernel_regularizer", e))).transpose()?,
        bias_regularizer: get("bias_regularizer").map(|v| Regularizer::from_config(v).map_err(|e| named("bias_regularizer", e))).transpose()?,
        kernel_constraint: get("kernel_constraint").map(|v| Constraint::from_config(v).map_err(|e| named("kernel_constraint", e))).transpose()?,
        bias_constraint: get("bias_constraint").map(|v| Constraint::from_config(v).map_err(|e| named("bias_constraint", e))).transpose()?,
    })
}

/// Fails unless an optional field has the one value Strata supports.
pub(crate) fn require(layer: &str, config: &Value, name: &str, supported: &Value) -> Result<()> {
    match config.get(name) {
        None | Some(Value::Null) => Ok(()),
        Some(v) if v == supported => Ok(()),
        Some(v) => Err(Error::layer(layer, format!("{name}={v} is not supported yet (only {supported})"))),
    }
}

/// The input shape a Keras layer config declares (`batch_shape`,
/// `batch_input_shape` or `input_shape`), without the batch axis.
pub fn declared_input_shape(layer: &str, config: &Value) -> Result<Option<Vec<usize>>> {
    let (key, skip) = if config.get("batch_shape").is_some() {
        ("batch_shape", 1)
    } else if config.get("batch_input_shape").is_some() {
        ("batch_input_shape", 1)
    } else if config.get("input_shape").is_some() {
        ("input_shape", 0)
    } else {
        return Ok(None);
    };
    let v = &config[key];
    let dims = v.as_array().ok_or_else(|| bad(layer, key, "a list of sizes", v))?;
    dims.iter().skip(skip).map(|d| d.as_u64().map(|n| n as usize).ok_or_else(|| bad(layer, key, "known sizes after the batch axis", v))).collect::<Result<Vec<_>>>().map(Some)
}

/// A non-negative integer field that may be absent or null (`None`).
pub(crate) fn optional_usize_field(layer: &str, config: &Value, name: &str) -> Result<Option<usize>> {
    config.get(name).filter(|v| !v.is_null()).map(|_| usize_field(layer, config, name)).transpose()
}

/// A string field: `default` when absent, `None` when null.
pub(crate) fn optional_text_field(layer: &str, config: &Value, name: &str, default: Option<&str>) -> Result<Option<String>> {
    match config.get(name) {
        None => Ok(default.map(str::to_string)),
        Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(bad(layer, name, "a string or null", v)),
    }
}

/// A number field, or `default` when absent.
pub(crate) fn num_field(layer: &str, config: &Value, name: &str, default: f32) -> Result<f32> {
    match config.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_f64().map(|x| x as f32).ok_or_else(|| bad(layer, name, "a number", v)),
    }
}

/// `3` or `[3]` as one integer (the 1-D layers' sizes).
pub(crate) fn single_field(layer: &str, config: &Value, name: &str) -> Result<usize> {
    let v = field(layer, config, name)?;
    match (v.as_u64(), v.as_array().map(|a| a.iter().map(|x| x.as_u64()).collect::<Vec<_>>()).as_deref()) {
        (Some(n), _) => Ok(n as usize),
        (None, Some([Some(n)])) => Ok(*n as usize),
        _ => Err(bad(layer, name, "an integer or a list of one integer", v)),
    }
}

/// `1`, `[1, 2]` or `[[1, 1], [2, 2]]` as `((top, bottom), (left, right))`.
pub(crate) fn margins_field(layer: &str, config: &Value, name: &str) -> Result<layers::reshaping::Margins> {
    let v = field(layer, config, name)?;
    if let Ok((rows, cols)) = pair_field(layer, config, name) {
        return Ok(((rows, rows), (cols, cols)));
    }
    let pairs: Option<Vec<Vec<u64>>> = v.as_array().map(|a| a.iter().filter_map(|p| p.as_array().map(|p| p.iter().filter_map(|x| x.as_u64()).collect())).collect());
    match pairs.as_deref() {
        Some([r, c]) if r.len() == 2 && c.len() == 2 => Ok(((r[0] as usize, r[1] as usize), (c[0] as usize, c[1] as usize))),
        _ => Err(bad(layer, name, "an integer, a pair, or ((top, bottom), (left, right))", v)),
    }
}

/// The `epsilon` of a normalization layer's config, after checking that it
/// normalizes the last axis with `center` and `scale` (what Strata supports).
pub(crate) fn normalization_epsilon(layer: &str, config: &Value) -> Result<f32> {
    let axis = config.get("axis").cloned().unwrap_or(Value::from(-1));
    if !(axis == -1 || axis == serde_json::json!([-1])) {
        return Err(Error::layer(layer, format!("axis={axis} is not supported yet (only the last axis)")));
    }
    require(layer, config, "center", &Value::from(true))?;
    require(layer, config, "scale", &Value::from(true))?;
    num_field(layer, config, "epsilon", 1e-3)
}
