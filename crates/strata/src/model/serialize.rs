//! One-file models (any `Model`): Keras's JSON config plus the weights (and, for a
//! checkpoint, the optimizer's state, the epoch, the shuffling RNG and the
//! history) in a safetensors file. Tensor names are Keras's variable paths
//! (`conv2d/kernel`), so Python's `safetensors` and Keras read them as they are.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde_json::{json, Value};
use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use super::callbacks::History;
use super::functional::Model;
use super::sequential::Sequential;
use crate::io::atomic;

/// The file format this Strata writes; files from a newer format are refused.
pub const FORMAT_VERSION: u64 = 1;

impl Model {
    /// Writes the model, its weights and its training state to one safetensors
    /// file, atomically. The file is also a checkpoint that `load` resumes from.
    /// A path ending in `.keras` writes Keras 3's own format instead (the
    /// config and the weights, for Keras's `load_model`; no optimizer state).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if !self.is_built() {
            return Err(Error::State(format!("cannot save model '{}' before it is built", self.name())));
        }
        let config = self.to_json();
        self.check_loadable(&config)?;
        if path.extension().is_some_and(|e| e == "keras") {
            return crate::io::keras_file::write(self, &config, path);
        }
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (name, t) in self.named_weights() {
            tensors.push((name.clone(), t.shape().to_vec(), le_bytes(&t.data())));
            if let Some(c) = &self.compiled {
                for (slot, values) in c.optimizer.slots(&t) {
                    tensors.push((format!("optimizer/{name}/{slot}"), t.shape().to_vec(), le_bytes(&values)));
                }
            }
        }
        let state = json!({
            "epochs_trained": self.epochs_trained(),
            "iterations": self.compiled.as_ref().map(|c| c.optimizer.iterations()).unwrap_or(0),
            "seed": self.seed().to_string(),
            "shuffle_rng": self.shuffle_rng.state().iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "random_streams": self.random_streams().into_iter().map(|(n, s)| (n, json!(s.iter().map(|v| v.to_string()).collect::<Vec<_>>()))).collect::<serde_json::Map<_, _>>(),
            "history": { "epoch": self.history.epoch, "history": self.history.history, "epoch_seconds": self.history.epoch_seconds },
        });
        let metadata: hashbrown::HashMap<String, String> = [
            ("format".to_string(), "strata".to_string()),
            ("format_version".to_string(), FORMAT_VERSION.to_string()),
            ("model_config".to_string(), config.to_string()),
            ("training_state".to_string(), state.to_string()),
        ]
        .into();
        write_safetensors(path, &tensors, metadata)
    }

    /// Fails, naming the class, when a load could not read back what `save`
    /// would write: a layer, loss or metric of the user's own that is not registered.
    fn check_loadable(&self, config: &Value) -> Result<()> {
        let known = crate::layers::registry::supported();
        let register = "register it first (strata::layers::register_layer, strata::losses::register_loss, strata::metrics::register_metric)";
        let mut layers = self.layers.clone();
        while let Some(layer) = layers.pop() {
            let class = layer.class_name();
            if matches!(class, "Sequential" | "Functional") {
                layers.extend(layer.sublayers());
            } else if !known.iter().any(|k| k == class) {
                return Err(Error::State(format!("cannot save model '{}': its layer '{}' is of class '{class}', which a load could not read back: {register}", self.name(), layer.name())));
            }
        }
        if let Some(cc) = config.get("compile_config") {
            let unreadable = |e: Error| Error::State(format!("cannot save model '{}': its compile_config could not be read back ({e}): {register}", self.name()));
            super::compile_from_config(cc).and_then(|c| c.resolve(&self.output_names())).map_err(unreadable)?;
        }
        Ok(())
    }

    /// Writes only the weights, keyed by Keras's variable paths
    /// (`conv2d/kernel`), atomically: what `load_weights`, `strata predict
    /// --weights` and Python's `safetensors` read.
    pub fn save_weights(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if !self.is_built() {
            return Err(Error::State(format!("cannot save the weights of model '{}' before it is built", self.name())));
        }
        let tensors: Vec<_> = self.named_weights().into_iter().map(|(name, t)| (name, t.shape().to_vec(), le_bytes(&t.data()))).collect();
        write_safetensors(path, &tensors, [("format".to_string(), "strata-weights".to_string())].into())
    }

    /// Reads a file written by [`Model::save`]: architecture, weights and,
    /// when present, the optimizer's state and the training progress.
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Model::load_bytes(&bytes, path)
    }

    /// [`Model::load`] from bytes in memory; `path` names them in errors.
    pub fn load_bytes(bytes: &[u8], path: &Path) -> Result<Model> {
        if crate::io::keras_file::is_zip(bytes) {
            return crate::io::keras_file::read(bytes, path);
        }
        foreign_format(bytes, path)?;
        let corrupt = |e: safetensors::SafeTensorError| Error::data(path, format!("not a valid safetensors file: {e}"));
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(corrupt)?;
        let meta = header.metadata().clone().unwrap_or_default();
        let version: u64 = meta.get("format_version").and_then(|v| v.parse().ok()).unwrap_or(0);
        if meta.get("format").map(String::as_str) != Some("strata") || version == 0 {
            return Err(Error::data(path, "holds weights only, no model: give it with its model's config (`strata predict --config C.json --weights W`, `strata convert C.json M.safetensors --weights W`, or `load_weights` from Rust)"));
        }
        if version > FORMAT_VERSION {
            return Err(Error::data(path, format!("was written in Strata file format {version}; this Strata reads format {FORMAT_VERSION} and older: upgrade Strata")));
        }
        let config: Value = meta.get("model_config").ok_or_else(|| Error::data(path, "metadata has no 'model_config'")).and_then(|c| serde_json::from_str(c).map_err(|e| Error::data(path, format!("model_config is not valid JSON: {e}"))))?;
        let state: Value = match meta.get("training_state") {
            Some(s) => serde_json::from_str(s).map_err(|e| Error::data(path, format!("training_state is not valid JSON: {e}")))?,
            None => Value::Null,
        };
        let seed = state.get("seed").and_then(|s| s.as_str()).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut model = Model::from_json(&config, seed).map_err(|e| Error::data(path, e.to_string()))?;
        let tensors = SafeTensors::deserialize(bytes).map_err(corrupt)?;
        model.read_weights(&tensors, path, true)?;
        model.restore_state(&tensors, &state, path)?;
        Ok(model)
    }

    /// Sets the weights from a safetensors file of `layer/variable` tensors
    /// (written by Strata, or exported from Keras). Every weight must be present.
    pub fn load_weights(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.build_from_declared()?;
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let tensors = SafeTensors::deserialize(&bytes).map_err(|e| Error::data(path, format!("not a valid safetensors file: {e}")))?;
        self.read_weights(&tensors, path, true)
    }

    fn read_weights(&mut self, tensors: &SafeTensors, path: &Path, all: bool) -> Result<()> {
        let mut values = HashMap::new();
        for (name, t) in self.named_weights() {
            match read_f32(tensors, &name, t.shape(), path)? {
                Some(v) => {
                    values.insert(name, Tensor::new(v, t.shape())?);
                }
                None if all => return Err(Error::data(path, format!("has no tensor '{name}' {}", fmt_shape(t.shape())))),
                None => {}
            }
        }
        self.set_weights_by_name(&values)
    }

    fn restore_state(&mut self, tensors: &SafeTensors, state: &Value, path: &Path) -> Result<()> {
        if state.is_null() {
            return Ok(());
        }
        let iterations = state.get("iterations").and_then(|i| i.as_u64()).unwrap_or(0);
        // The slots are named as `save` names them: by each weight's path.
        let weights = self.named_weights();
        if let Some(c) = self.compiled.as_mut() {
            for (weight, t) in &weights {
                let prefix = format!("optimizer/{weight}/");
                let mut slots = Vec::new();
                for name in tensors.names() {
                    if let Some(slot) = name.strip_prefix(&prefix) {
                        let v = read_f32(tensors, name, t.shape(), path)?.expect("the name was listed");
                        slots.push((slot.to_string(), v));
                    }
                }
                c.optimizer.restore(t, slots, iterations)?;
            }
        }
        if let Some(streams) = state.get("random_streams").and_then(|s| s.as_object()) {
            let mut parsed = Vec::new();
            for (name, v) in streams {
                let words: Option<Vec<u64>> = v.as_array().map(|a| a.iter().filter_map(|s| s.as_str()?.parse().ok()).collect());
                let Some(&[a, b, c, d]) = words.as_deref() else {
                    return Err(Error::data(path, format!("random stream '{name}' is not four 64-bit words: {v}")));
                };
                parsed.push((name.clone(), [a, b, c, d]));
            }
            self.set_random_streams(&parsed).map_err(|e| Error::data(path, e.to_string()))?;
        }
        let rng: Option<Vec<u64>> = state.get("shuffle_rng").and_then(|r| r.as_array()).map(|r| r.iter().filter_map(|s| s.as_str()?.parse().ok()).collect());
        if let Some(&[a, b, c, d]) = rng.as_deref() {
            self.shuffle_rng = Rng::from_state([a, b, c, d]);
        }
        if let Some(h) = state.get("history") {
            let epochs: Vec<usize> = h.get("epoch").and_then(|e| e.as_array()).map(|e| e.iter().filter_map(|x| x.as_u64().map(|n| n as usize)).collect()).unwrap_or_default();
            let seconds: Vec<f64> = h.get("epoch_seconds").and_then(|e| e.as_array()).map(|e| e.iter().filter_map(|x| x.as_f64()).collect()).unwrap_or_default();
            let mut values = BTreeMap::new();
            if let Some(m) = h.get("history").and_then(|m| m.as_object()) {
                for (k, v) in m {
                    values.insert(k.clone(), v.as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).collect()).unwrap_or_default());
                }
            }
            self.history = History { epoch: epochs, history: values, epoch_seconds: seconds };
        }
        Ok(())
    }
}

/// The float32 tensor `name` with `shape`, `None` if absent; an error naming
/// the file and tensor if its dtype or shape is wrong.
/// Keras 3 prefixes variable paths with the model's name
/// (`sequential/conv2d/kernel`); either form is accepted.
fn read_f32(tensors: &SafeTensors, name: &str, shape: &[usize], path: &Path) -> Result<Option<Vec<f32>>> {
    let suffix = format!("/{name}");
    let found = tensors.tensor(name).ok().or_else(|| {
        let mut matches = tensors.names().into_iter().filter(|n| n.ends_with(&suffix) && !n.starts_with("optimizer/"));
        match (matches.next(), matches.next()) {
            (Some(only), None) => tensors.tensor(only).ok(),
            _ => None,
        }
    });
    let Some(view) = found else { return Ok(None) };
    if view.dtype() != Dtype::F32 {
        return Err(Error::data(path, format!("tensor '{name}' is {:?}, expected F32", view.dtype())));
    }
    if view.shape() != shape {
        return Err(Error::data(path, format!("tensor '{name}' has shape {}, the model needs {}", fmt_shape(view.shape()), fmt_shape(shape))));
    }
    Ok(Some(view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()))
}

impl Sequential {
    /// Reads a Sequential model written by [`Model::save`] (see [`Model::load`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Sequential> {
        let path = path.as_ref();
        Sequential::from_model(Model::load(path)?).map_err(|e| Error::data(path, e.to_string()))
    }
    /// [`Sequential::load`] from bytes in memory; `path` names them in errors.
    pub fn load_bytes(bytes: &[u8], path: &Path) -> Result<Sequential> {
        Sequential::from_model(Model::load_bytes(bytes, path)?).map_err(|e| Error::data(path, e.to_string()))
    }
}

/// Little-endian bytes of `f32` values, as safetensors stores them.
fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes `tensors` (name, shape, f32 bytes) and `metadata` to a safetensors file, atomically.
fn write_safetensors(path: &Path, tensors: &[(String, Vec<usize>, Vec<u8>)], metadata: hashbrown::HashMap<String, String>) -> Result<()> {
    let views = tensors
        .iter()
        .map(|(n, shape, data)| TensorView::new(Dtype::F32, shape.clone(), data).map(|v| (n.clone(), v)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))?;
    let data = safetensors::tensor::serialize(views, Some(metadata)).map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))?;
    atomic::write(path, &data)
}

/// Fails, naming the format and what to do, on the HDF5 files Keras users
/// have (Keras 2's `.h5` models, `.weights.h5` weights), which are not models Strata reads.
fn foreign_format(bytes: &[u8], path: &Path) -> Result<()> {
    if bytes.starts_with(b"\x89HDF\r\n\x1a\n") {
        return Err(Error::data(path, "is an HDF5 file (Keras 2's .h5 model or a .weights.h5), which Strata does not read: in Keras, `model.save('model.keras')` writes the .keras file Strata reads"));
    }
    Ok(())
}
