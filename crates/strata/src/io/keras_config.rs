//! Layers from Keras's JSON (`model.to_json()`, `layer.get_config()`).
//! Unknown layers and unsupported options are named in the error.

use serde_json::Value;
use strata_core::{Error, Padding, Result};

use crate::activations::Activation;
use crate::initializers::{Distribution, FanMode, Initializer};
use crate::regularizers::{Constraint, Regularizer};
use crate::layers::{self, AveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout, Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D, Layer, LayerNormalization, MaxPooling2D, Reshape};

/// A field of a layer's config, or an error naming the layer and field.
pub fn field<'a>(layer: &str, config: &'a Value, name: &str) -> Result<&'a Value> {
    config.get(name).filter(|v| !v.is_null()).ok_or_else(|| Error::layer(layer, format!("config is missing '{name}'")))
}

fn bad(layer: &str, name: &str, expected: &str, got: &Value) -> Error {
    Error::layer(layer, format!("config field '{name}' must be {expected}, got {got}"))
}

pub fn usize_field(layer: &str, config: &Value, name: &str) -> Result<usize> {
    let v = field(layer, config, name)?;
    v.as_u64().map(|n| n as usize).ok_or_else(|| bad(layer, name, "a non-negative integer", v))
}

fn bool_field(layer: &str, config: &Value, name: &str, default: bool) -> Result<bool> {
    match config.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_bool().ok_or_else(|| bad(layer, name, "true or false", v)),
    }
}

/// `3` or `[3, 3]` as a pair.
fn pair_field(layer: &str, config: &Value, name: &str) -> Result<(usize, usize)> {
    let v = field(layer, config, name)?;
    if let Some(n) = v.as_u64() {
        return Ok((n as usize, n as usize));
    }
    match v.as_array().map(|a| a.iter().map(|x| x.as_u64()).collect::<Vec<_>>()).as_deref() {
        Some([Some(a), Some(b)]) => Ok((*a as usize, *b as usize)),
        _ => Err(bad(layer, name, "an integer or a pair of integers", v)),
    }
}

fn padding_field(layer: &str, config: &Value) -> Result<Padding> {
    match config.get("padding") {
        None | Some(Value::Null) => Ok(Padding::Valid),
        Some(v) => v.as_str().and_then(Padding::parse).ok_or_else(|| bad(layer, "padding", "'valid' or 'same'", v)),
    }
}

fn activation_field(layer: &str, config: &Value) -> Result<Activation> {
    match config.get("activation") {
        None | Some(Value::Null) => Ok(Activation::Linear),
        Some(Value::String(s)) => Activation::from_name(s).map_err(|e| Error::layer(layer, e.to_string())),
        Some(v) => Err(bad(layer, "activation", "an activation name", v)),
    }
}

fn initializer_field(layer: &str, config: &Value, name: &str, default: Initializer) -> Result<Initializer> {
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
        other => return Err(Error::layer(layer, format!("initializer '{other}' in '{name}' is not supported yet"))),
    })
}

/// The activation, bias, initializers, regularizers and constraints of a Dense or convolution config.
fn kernel_options_field(layer: &str, config: &Value) -> Result<layers::KernelOptions> {
    Ok(layers::KernelOptions {
        activation: activation_field(layer, config)?,
        use_bias: bool_field(layer, config, "use_bias", true)?,
        kernel_initializer: initializer_field(layer, config, "kernel_initializer", Initializer::GlorotUniform)?,
        bias_initializer: initializer_field(layer, config, "bias_initializer", Initializer::Zeros)?,
        weight_options: weight_options_field(layer, config)?,
    })
}

/// The kernel and bias regularizers and constraints of a layer config.
fn weight_options_field(layer: &str, config: &Value) -> Result<layers::WeightOptions> {
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
fn require(layer: &str, config: &Value, name: &str, supported: &Value) -> Result<()> {
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

/// The layer classes [`layer_from_config`] reads.
pub const SUPPORTED: [&str; 32] = [
    "Dense", "Conv1D", "Conv2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "Flatten", "Reshape", "Permute", "ZeroPadding2D", "Cropping2D", "UpSampling2D", "Activation", "Dropout",
    "BatchNormalization", "LayerNormalization", "InputLayer", "ReLU", "LeakyReLU", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
    "Concatenate", "Dot",
];

/// A number field, or `default` when absent.
fn num_field(layer: &str, config: &Value, name: &str, default: f32) -> Result<f32> {
    match config.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_f64().map(|x| x as f32).ok_or_else(|| bad(layer, name, "a number", v)),
    }
}

/// `3` or `[3]` as one integer (the 1-D layers' sizes).
fn single_field(layer: &str, config: &Value, name: &str) -> Result<usize> {
    let v = field(layer, config, name)?;
    match (v.as_u64(), v.as_array().map(|a| a.iter().map(|x| x.as_u64()).collect::<Vec<_>>()).as_deref()) {
        (Some(n), _) => Ok(n as usize),
        (None, Some([Some(n)])) => Ok(*n as usize),
        _ => Err(bad(layer, name, "an integer or a list of one integer", v)),
    }
}

/// `1`, `[1, 2]` or `[[1, 1], [2, 2]]` as `((top, bottom), (left, right))`.
fn margins_field(layer: &str, config: &Value, name: &str) -> Result<layers::reshaping::Margins> {
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

/// The 1-D and reshaping layers, or `None` for a class Strata lacks.
fn sequence_or_reshaping_layer(class_name: &str, l: &str, config: &Value) -> Result<Option<Box<dyn Layer>>> {
    let strides = |default: usize| if config.get("strides").is_some_and(|s| !s.is_null()) { single_field(l, config, "strides") } else { Ok(default) };
    Ok(Some(match class_name {
        "Conv1D" => {
            let dilation = if config.get("dilation_rate").is_some_and(|d| !d.is_null()) { single_field(l, config, "dilation_rate")? } else { 1 };
            let groups = if config.get("groups").is_some_and(|g| !g.is_null()) { usize_field(l, config, "groups")? } else { 1 };
            let padding = match config.get("padding").and_then(|p| p.as_str()).unwrap_or("valid") {
                "valid" => layers::Padding1D::Valid,
                "same" => layers::Padding1D::Same,
                "causal" => layers::Padding1D::Causal,
                _ => return Err(bad(l, "padding", "'valid', 'same' or 'causal'", &config["padding"])),
            };
            Box::new(
                layers::Conv1D::new(usize_field(l, config, "filters")?, single_field(l, config, "kernel_size")?)
                    .dilation_rate(dilation)
                    .groups(groups)
                    .strides(strides(1)?)
                    .padding(padding)
                    .kernel_options(kernel_options_field(l, config)?),
            )
        }
        "MaxPooling1D" | "AveragePooling1D" => {
            let pool = single_field(l, config, "pool_size")?;
            let (strides, padding) = (strides(pool)?, padding_field(l, config)?);
            if class_name == "MaxPooling1D" {
                Box::new(layers::MaxPooling1D::new(pool).strides(strides).padding(padding))
            } else {
                Box::new(layers::AveragePooling1D::new(pool).strides(strides).padding(padding))
            }
        }
        "GlobalAveragePooling1D" => Box::new(layers::GlobalAveragePooling1D::new().keepdims(bool_field(l, config, "keepdims", false)?)),
        "GlobalMaxPooling1D" => Box::new(layers::GlobalMaxPooling1D::new().keepdims(bool_field(l, config, "keepdims", false)?)),
        "Permute" => {
            let v = field(l, config, "dims")?;
            let dims = v.as_array().and_then(|a| a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect::<Option<Vec<_>>>());
            Box::new(layers::Permute::new(dims.ok_or_else(|| bad(l, "dims", "a list of axis numbers", v))?))
        }
        "ZeroPadding2D" => Box::new(layers::ZeroPadding2D::new(margins_field(l, config, "padding")?)),
        "Cropping2D" => Box::new(layers::Cropping2D::new(margins_field(l, config, "cropping")?)),
        "ReLU" => {
            let mut relu = layers::ReLU::new().negative_slope(num_field(l, config, "negative_slope", 0.0)?).threshold(num_field(l, config, "threshold", 0.0)?);
            if config.get("max_value").is_some_and(|m| !m.is_null()) {
                relu = relu.max_value(num_field(l, config, "max_value", 0.0)?);
            }
            Box::new(relu)
        }
        "LeakyReLU" => Box::new(layers::ReLU::leaky(num_field(l, config, "negative_slope", 0.3)?)),
        "Add" => Box::new(layers::Add::new()),
        "Subtract" => Box::new(layers::Subtract::new()),
        "Multiply" => Box::new(layers::Multiply::new()),
        "Average" => Box::new(layers::Average::new()),
        "Maximum" => Box::new(layers::Maximum::new()),
        "Minimum" => Box::new(layers::Minimum::new()),
        "Concatenate" => {
            let v = config.get("axis").cloned().unwrap_or(Value::from(-1));
            Box::new(layers::Concatenate::new().axis(v.as_i64().ok_or_else(|| bad(l, "axis", "an integer", &v))? as isize))
        }
        "Dot" => {
            let v = field(l, config, "axes")?;
            let axes = match (v.as_i64(), v.as_array().map(|a| a.iter().map(|x| x.as_i64()).collect::<Vec<_>>()).as_deref()) {
                (Some(a), _) => (a as isize, a as isize),
                (None, Some([Some(a), Some(b)])) => (*a as isize, *b as isize),
                _ => return Err(bad(l, "axes", "an integer or a pair of integers", v)),
            };
            Box::new(layers::Dot::with_axes(axes).normalize(bool_field(l, config, "normalize", false)?))
        }
        "UpSampling2D" => {
            require(l, config, "interpolation", &Value::from("nearest"))?;
            Box::new(layers::UpSampling2D::new(pair_field(l, config, "size")?))
        }
        _ => return Ok(None),
    }))
}

/// Builds a layer from its Keras class name and config.
pub fn layer_from_config(class_name: &str, config: &Value) -> Result<Box<dyn Layer>> {
    let name = config.get("name").and_then(|n| n.as_str()).unwrap_or(class_name).to_string();
    let l = name.as_str();
    require(l, config, "data_format", &Value::from("channels_last"))?;
    let mut layer: Box<dyn Layer> = match class_name {
        "Dense" => Box::new(
            Dense::new(usize_field(l, config, "units")?).kernel_options(kernel_options_field(l, config)?),
        ),
        "Conv2D" => {
            let dilation = if config.get("dilation_rate").is_some_and(|d| !d.is_null()) { pair_field(l, config, "dilation_rate")? } else { (1, 1) };
            let groups = if config.get("groups").is_some_and(|g| !g.is_null()) { usize_field(l, config, "groups")? } else { 1 };
            Box::new(
                Conv2D::new(usize_field(l, config, "filters")?, pair_field(l, config, "kernel_size")?)
                    .dilation_rate(dilation)
                    .groups(groups)
                    .strides(if config.get("strides").is_some() { pair_field(l, config, "strides")? } else { (1, 1) })
                    .padding(padding_field(l, config)?)
                    .kernel_options(kernel_options_field(l, config)?),
            )
        }
        "MaxPooling2D" | "AveragePooling2D" => {
            let pool = pair_field(l, config, "pool_size")?;
            let strides = if config.get("strides").is_some_and(|s| !s.is_null()) { pair_field(l, config, "strides")? } else { pool };
            let padding = padding_field(l, config)?;
            if class_name == "MaxPooling2D" {
                Box::new(MaxPooling2D::new(pool).strides(strides).padding(padding))
            } else {
                Box::new(AveragePooling2D::new(pool).strides(strides).padding(padding))
            }
        }
        "GlobalAveragePooling2D" => Box::new(GlobalAveragePooling2D::new().keepdims(bool_field(l, config, "keepdims", false)?)),
        "GlobalMaxPooling2D" => Box::new(GlobalMaxPooling2D::new().keepdims(bool_field(l, config, "keepdims", false)?)),
        "Flatten" => Box::new(Flatten::new()),
        "Reshape" => {
            let v = field(l, config, "target_shape")?;
            let dims = v.as_array().map(|a| a.iter().map(|d| d.as_i64().map(|d| d as isize)).collect::<Option<Vec<_>>>());
            Box::new(Reshape::new(dims.flatten().ok_or_else(|| bad(l, "target_shape", "a list of integers", v))?))
        }
        "Activation" => Box::new(layers::Activation::new(activation_field(l, config)?)),
        "Dropout" => {
            let v = field(l, config, "rate")?;
            Box::new(Dropout::new(v.as_f64().ok_or_else(|| bad(l, "rate", "a number", v))? as f32))
        }
        "BatchNormalization" | "LayerNormalization" => {
            let axis = config.get("axis").cloned().unwrap_or(Value::from(-1));
            if !(axis == -1 || axis == serde_json::json!([-1])) {
                return Err(Error::layer(l, format!("axis={axis} is not supported yet (only the last axis)")));
            }
            require(l, config, "center", &Value::from(true))?;
            require(l, config, "scale", &Value::from(true))?;
            let eps = config.get("epsilon").and_then(|e| e.as_f64()).unwrap_or(1e-3) as f32;
            if class_name == "BatchNormalization" {
                let momentum = config.get("momentum").and_then(|m| m.as_f64()).unwrap_or(0.99) as f32;
                Box::new(BatchNormalization::new().momentum(momentum).epsilon(eps))
            } else {
                Box::new(LayerNormalization::new().epsilon(eps))
            }
        }
        other => match sequence_or_reshaping_layer(other, l, config)? {
            Some(layer) => layer,
            None => return Err(Error::layer(l, format!("layer class '{other}' is not supported yet (supported: {})", SUPPORTED.join(", ")))),
        },
    };
    layer.set_name(name.clone());
    if let Some(shape) = declared_input_shape(l, config)? {
        layer.base_mut().input_shape = Some(shape);
    }
    Ok(layer)
}
