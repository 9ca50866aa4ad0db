//! Keras 3's native `.keras` files: a zip of `metadata.json`, `config.json`
//! (the model's Keras config, with its `compile_config`) and
//! `model.weights.h5`, where each layer's variables are the HDF5 datasets
//! `layers/<key>/vars/0`, `1`, ... in the layer's own order (a nested
//! model's at `layers/<key>/layers/<key>/vars/..`). As Keras's saving code
//! does, a layer's key is its class in snake case, numbered among its
//! siblings of that class in the model's layer order (`dense`, `dense_1`,
//! `batch_normalization`), not its name. The HDF5 part is read and written
//! by `hdf5-pure` (pure Rust, no libhdf5). Weights travel both ways; the
//! optimizer's state does not (Keras warns and starts it afresh).

use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Read, Write};
use std::path::Path;

use serde_json::{json, Value};
use strata_core::{fmt_shape, Error, Result, Tensor};

use crate::io::atomic;
use crate::layers::{default_name, LayerRef};
use crate::model::Model;

/// The version of Keras whose `.keras` layout these files follow.
const KERAS_VERSION: &str = "3.15.0";

/// Whether `bytes` start like a zip archive (a `.keras` file).
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// Every weight of `layers` (in Keras's order) with where Keras keeps it in
/// `model.weights.h5` (`prefix` is the enclosing model's path). As Keras, a
/// layer met a second time (shared with a nested model) is saved once, though
/// it still takes its number among its siblings.
fn h5_weights(layers: &[LayerRef], prefix: &str, visited: &mut Vec<LayerRef>, out: &mut Vec<(String, String, Tensor)>) {
    let mut keys = SiblingKeys::default();
    for layer in layers {
        let key = keys.next(layer.class_name());
        if visited.iter().any(|v| v.same(layer)) {
            continue;
        }
        visited.push(layer.clone());
        let path = format!("{prefix}layers/{key}");
        let inner = layer.sublayers();
        if !inner.is_empty() {
            h5_weights(&inner, &format!("{path}/"), visited, out);
            continue;
        }
        let name = layer.name();
        let places = layer.lock().keras_h5_paths();
        for (w, place) in layer.weights().into_iter().zip(places) {
            out.push((format!("{path}/{place}"), format!("{name}/{}", w.name), w.tensor));
        }
    }
}

/// How Keras 3 names a model's layers' groups in its files: by class, numbered
/// among siblings of the same class (`dense`, `dense_1`, ...), whatever the layers' names.
#[derive(Default)]
struct SiblingKeys(HashMap<String, usize>);

impl SiblingKeys {
    /// The key of the next sibling of Keras class `class`.
    fn next(&mut self, class: &str) -> String {
        let class = default_name(class);
        let seen = self.0.entry(class.clone()).or_insert(0);
        let key = if *seen == 0 { class } else { format!("{class}_{seen}") };
        *seen += 1;
        key
    }
}

/// One entry of the archive, as bytes.
fn entry(archive: &mut zip::ZipArchive<Cursor<&[u8]>>, name: &str, path: &Path) -> Result<Vec<u8>> {
    let mut file = archive.by_name(name).map_err(|e| Error::data(path, format!("is a zip but no Keras model: no '{name}' in it ({e})")))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| Error::data(path, format!("'{name}' cannot be read: {e}")))?;
    Ok(bytes)
}

/// A model from a `.keras` file's bytes; `path` names them in errors.
pub fn read(bytes: &[u8], path: &Path) -> Result<Model> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| Error::data(path, format!("not a valid .keras (zip) file: {e}")))?;
    let mut config: Value = serde_json::from_slice(&entry(&mut archive, "config.json", path)?).map_err(|e| Error::data(path, format!("config.json is not valid JSON: {e}")))?;
    let weights = entry(&mut archive, "model.weights.h5", path)?;
    let h5 = hdf5_pure::File::from_bytes(weights).map_err(|e| Error::data(path, format!("model.weights.h5 is not a valid HDF5 file: {e}")))?;
    vocabularies_from_assets(&mut config, &mut archive, &h5, path)?;
    let mut model = Model::from_json(&config, 0).map_err(|e| Error::data(path, e.to_string()))?;
    if !model.is_built() {
        model.build_from_declared().map_err(|e| Error::data(path, e.to_string()))?;
    }
    let mut found = Vec::new();
    h5_weights(&model.layers_in_keras_order(), "", &mut Vec::new(), &mut found);
    // Every value is read and checked before any weight is set.
    let mut values = Vec::new();
    for (at, name, w) in &found {
        let missing = |e: hdf5_pure::Error| Error::data(path, format!("model.weights.h5 has no '{at}' for weight '{name}' {}: {e}", fmt_shape(w.shape())));
        let dataset = h5.dataset(at).map_err(missing)?;
        let shape: Vec<usize> = dataset.shape().map_err(missing)?.iter().map(|&d| d as usize).collect();
        if shape != w.shape() {
            return Err(Error::data(path, format!("'{at}' has shape {}, but weight '{name}' is {}", fmt_shape(&shape), fmt_shape(w.shape()))));
        }
        values.push(Tensor::new(dataset.read_f32().map_err(missing)?, &shape)?);
    }
    let weights: Vec<(String, Tensor)> = found.into_iter().map(|(_, name, w)| (name, w)).collect();
    crate::model::functional::assign_in_order(model.name(), &weights, &values)?;
    Ok(model)
}

/// Puts into the config of each of the model's own `TextVectorization`
/// layers the vocabulary Keras saved beside it (`assets/layers/NAME/vocabulary.txt`,
/// one token a line, the special tokens first) and, in `tf_idf` mode, its
/// `idf_weights` (in `model.weights.h5`), as Keras's `load_assets` does.
fn vocabularies_from_assets(config: &mut Value, archive: &mut zip::ZipArchive<Cursor<&[u8]>>, h5: &hdf5_pure::File, path: &Path) -> Result<()> {
    let Some(layers) = config.pointer_mut("/config/layers").and_then(Value::as_array_mut) else { return Ok(()) };
    let mut keys = SiblingKeys::default();
    for layer in layers.iter_mut().filter(|l| l["class_name"] != "InputLayer") {
        let name = keys.next(layer["class_name"].as_str().unwrap_or_default());
        if layer["class_name"] != "TextVectorization" || !layer["config"]["vocabulary"].is_null() {
            continue;
        }
        let asset = format!("assets/layers/{name}/vocabulary.txt");
        if archive.by_name(&asset).is_err() {
            continue;
        }
        let text = crate::data::text::text_of(entry(archive, &asset, path)?, &path.join(&asset))?;
        let tokens: Vec<&str> = text.split('\n').collect();
        if layer["config"]["output_mode"] == "tf_idf" {
            let at = format!("layers/{name}/vars/idf_weights");
            let mut idf = h5.dataset(&at).and_then(|d| d.read_f32()).map_err(|e| Error::data(path, format!("model.weights.h5 has no '{at}' for the tf-idf TextVectorization '{name}': {e}")))?;
            idf.truncate(tokens.len()); // pad_to_max_tokens pads it with zeros
            layer["config"]["idf_weights"] = Value::from(idf);
        }
        layer["config"]["vocabulary"] = Value::from(tokens);
    }
    Ok(())
}

/// A group of `model.weights.h5` being assembled: sub-groups and datasets.
#[derive(Default)]
struct Group {
    groups: BTreeMap<String, Group>,
    datasets: Vec<(String, Tensor)>,
}

impl Group {
    fn at(&mut self, path: &[&str]) -> &mut Group {
        path.iter().fold(self, |g, part| g.groups.entry(part.to_string()).or_default())
    }
    fn finish(self, name: &str) -> hdf5_pure::FinishedGroup {
        let mut builder = hdf5_pure::FileBuilder::new().create_group(name);
        self.fill(&mut builder);
        builder.finish()
    }
    fn fill(self, builder: &mut hdf5_pure::GroupBuilder) {
        for (name, t) in self.datasets {
            let shape: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
            builder.create_dataset(&name).with_f32_data(&t.data()).with_shape(&shape);
        }
        for (name, g) in self.groups {
            builder.add_group(g.finish(&name));
        }
    }
}

/// Writes `model` (whose Keras config is `config`) as a `.keras` file that
/// Keras 3's `load_model` opens, atomically.
pub fn write(model: &Model, config: &Value, path: &Path) -> Result<()> {
    let mut root = Group::default();
    root.at(&["layers"]);
    root.at(&["vars"]);
    let mut weights = Vec::new();
    h5_weights(&model.layers_in_keras_order(), "", &mut Vec::new(), &mut weights);
    for (at, _, w) in weights {
        let parts: Vec<&str> = at.split('/').collect();
        let (group, index) = parts.split_at(parts.len() - 1);
        root.at(group).datasets.push((index[0].to_string(), w));
    }
    let mut file = hdf5_pure::FileBuilder::new();
    for (name, g) in std::mem::take(&mut root.groups) {
        file.add_group(g.finish(&name));
    }
    let failed = |what: &str, e: &dyn std::fmt::Display| Error::io(path, std::io::Error::other(format!("{what}: {e}")));
    let weights = file.finish().map_err(|e| failed("writing model.weights.h5", &e))?;
    let metadata = json!({ "keras_version": KERAS_VERSION, "date_saved": "", "saved_by": format!("strata {}", env!("CARGO_PKG_VERSION")) });
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in [("metadata.json", metadata.to_string().into_bytes()), ("config.json", config.to_string().into_bytes()), ("model.weights.h5", weights)] {
        zip.start_file(name, zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored)).map_err(|e| failed(name, &e))?;
        zip.write_all(&bytes).map_err(|e| failed(name, &e))?;
    }
    let bytes = zip.finish().map_err(|e| failed("the zip", &e))?.into_inner();
    atomic::write(path, &bytes)
}
