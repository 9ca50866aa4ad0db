//! Datasets for `fit`: samples read by index from memory, IDX files on disk
//! or image folders, batched, optionally shuffled, with a validation split,
//! and read on a background thread while the current batch trains.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use strata_core::{fmt_shape, Error, Result, Rng, Tensor};

use crate::layers::Layer;

/// Where samples come from: any sample by index, in any order.
pub trait Source: Send + Sync {
    /// Number of samples.
    fn len(&self) -> usize;
    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Shape of one input sample (without the batch axis).
    fn input_shape(&self) -> Vec<usize>;
    /// Shape of one target (without the batch axis).
    fn target_shape(&self) -> Vec<usize>;
    /// Appends samples `indices`, in order, to `x` and their targets to `y`.
    fn read(&self, indices: &[usize], x: &mut Vec<f32>, y: &mut Vec<f32>) -> Result<()>;
    /// Samples `indices` as a batch of inputs and targets (several of each for
    /// a model with several). The default reads one input and one target with `read`.
    fn read_batch(&self, indices: &[usize]) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
        // From the recycled-buffer pool, where the batch goes back after its step.
        let pooled = |shape: &[usize]| {
            let mut v = strata_core::buffer::take(indices.len() * shape.iter().product::<usize>());
            v.clear();
            v
        };
        let (xs, ys) = (self.input_shape(), self.target_shape());
        let (mut x, mut y) = (pooled(&xs), pooled(&ys));
        self.read(indices, &mut x, &mut y)?;
        Ok((vec![Tensor::new(x, &batched(indices.len(), &xs))?], vec![Tensor::new(y, &batched(indices.len(), &ys))?]))
    }
    /// The shape of each input sample (one per model input).
    fn input_shapes(&self) -> Vec<Vec<usize>> {
        vec![self.input_shape()]
    }
    /// Whether reading is a memory copy (then no background thread is used).
    fn in_memory(&self) -> bool {
        false
    }
}

/// `shape` with a batch axis of `n` in front.
fn batched(n: usize, shape: &[usize]) -> Vec<usize> {
    std::iter::once(n).chain(shape.iter().copied()).collect()
}

/// Inputs and targets held in memory: one array per model input and per
/// target, all with the same number of samples.
pub struct Arrays {
    /// One array per model input, samples along the first axis.
    pub x: Vec<Tensor>,
    /// One array per target (model output), samples along the first axis.
    pub y: Vec<Tensor>,
}

impl Arrays {
    /// Fails unless `x` and `y` have the same number of samples.
    pub fn new(x: Tensor, y: Tensor) -> Result<Arrays> {
        Arrays::many(vec![x], vec![y])
    }
    /// Several input and target arrays; fails unless all have the same number of samples.
    pub fn many(x: Vec<Tensor>, y: Vec<Tensor>) -> Result<Arrays> {
        let n = x.first().and_then(|t| t.shape().first().copied());
        if n.is_none() || x.iter().chain(&y).any(|t| t.shape().first().copied() != n) {
            let shapes: Vec<String> = x.iter().chain(&y).map(|t| fmt_shape(t.shape())).collect();
            return Err(Error::shape("dataset", format!("inputs and targets must have the same number of samples (the first axis), got {}", shapes.join(", "))));
        }
        Ok(Arrays { x, y })
    }
}

/// Appends rows `indices` of `t` to `out`.
fn append_rows(t: &Tensor, indices: &[usize], out: &mut Vec<f32>) {
    let row: usize = t.shape()[1..].iter().product();
    let data = t.data();
    for &i in indices {
        out.extend_from_slice(&data[i * row..(i + 1) * row]);
    }
}

/// Rows `indices` of `t`, copied into a pooled buffer.
fn rows(t: &Tensor, indices: &[usize]) -> Result<Tensor> {
    let mut out = strata_core::buffer::take(indices.len() * t.shape()[1..].iter().product::<usize>());
    out.clear();
    append_rows(t, indices, &mut out);
    Tensor::new(out, &batched(indices.len(), &t.shape()[1..]))
}

impl Source for Arrays {
    fn len(&self) -> usize {
        self.x[0].shape()[0]
    }
    fn input_shape(&self) -> Vec<usize> {
        self.x[0].shape()[1..].to_vec()
    }
    fn target_shape(&self) -> Vec<usize> {
        self.y.first().map(|y| y.shape()[1..].to_vec()).unwrap_or_default()
    }
    fn input_shapes(&self) -> Vec<Vec<usize>> {
        self.x.iter().map(|x| x.shape()[1..].to_vec()).collect()
    }
    fn read(&self, indices: &[usize], x: &mut Vec<f32>, y: &mut Vec<f32>) -> Result<()> {
        append_rows(&self.x[0], indices, x);
        if let Some(t) = self.y.first() {
            append_rows(t, indices, y);
        }
        Ok(())
    }
    fn read_batch(&self, indices: &[usize]) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
        let take = |ts: &[Tensor]| ts.iter().map(|t| rows(t, indices)).collect::<Result<Vec<_>>>();
        Ok((take(&self.x)?, take(&self.y)?))
    }
    fn in_memory(&self) -> bool {
        true
    }
}

/// Class-id labels given to a loss either one-hot (`categorical_crossentropy`)
/// or as ids (`sparse_categorical_crossentropy`).
#[derive(Clone, Debug)]
pub struct Labels {
    /// The class id of each sample, below `classes`.
    pub ids: Vec<usize>,
    /// Number of classes.
    pub classes: usize,
    /// Whether targets are one-hot rows of `classes` values, rather than one id each.
    pub one_hot: bool,
}

impl Labels {
    /// Fails on an id `>= classes`, naming it and its sample.
    pub fn new(ids: Vec<usize>, classes: usize, one_hot_targets: bool) -> Result<Labels> {
        if let Some((i, &l)) = ids.iter().enumerate().find(|(_, &l)| l >= classes) {
            return Err(Error::argument("labels", format!("label {l} of sample {i} is out of range for {classes} classes")));
        }
        Ok(Labels { ids, classes, one_hot: one_hot_targets })
    }
    /// The shape of one target: `[classes]` when one-hot, `[]` for ids.
    pub fn shape(&self) -> Vec<usize> {
        if self.one_hot { vec![self.classes] } else { Vec::new() }
    }
    /// Appends the targets of samples `indices`, in order, to `y` (a one-hot
    /// row or an id, as `f32`, per sample).
    pub fn append(&self, indices: &[usize], y: &mut Vec<f32>) {
        for &i in indices {
            let id = self.ids[i];
            if self.one_hot {
                y.extend((0..self.classes).map(|k| if k == id { 1.0 } else { 0.0 }));
            } else {
                y.push(id as f32);
            }
        }
    }
}

/// One batch: inputs and targets (one tensor per model input and output)
/// and, when the dataset has them, sample weights.
#[derive(Clone, Debug)]
pub struct Batch {
    /// One tensor per model input, the batch along the first axis.
    pub inputs: Vec<Tensor>,
    /// One tensor per target (model output), the batch along the first axis.
    pub targets: Vec<Tensor>,
    /// Each sample's loss weight, shape `[batch]`; `None` when the dataset has none.
    pub sample_weight: Option<Tensor>,
}

impl Batch {
    /// The first (for most models, the only) input.
    pub fn x(&self) -> &Tensor {
        &self.inputs[0]
    }
    /// The first (for most models, the only) target.
    pub fn y(&self) -> &Tensor {
        &self.targets[0]
    }
    /// Samples in the batch.
    pub fn len(&self) -> usize {
        self.inputs[0].shape().first().copied().unwrap_or(0)
    }
    /// Whether the batch has no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Samples of a [`Source`], a subset of them and how to batch them.
#[derive(Clone)]
pub struct Dataset {
    source: Arc<dyn Source>,
    sample_weight: Option<Arc<Vec<f32>>>,
    indices: Vec<usize>,
    batch_size: usize,
    shuffle: bool,
    prefetch: usize,
    /// Whether `fit`/`evaluate` already checked every input and target (arrays they were given).
    checked: bool,
    /// Layers applied to the first input of each training batch on the reading thread.
    augment: Option<Arc<Augment>>,
}

/// Augmentation layers run by the dataset, and the seed of their streams.
struct Augment {
    layers: Mutex<Vec<Box<dyn Layer>>>,
    seed: u64,
}

impl Augment {
    /// Restarts every layer's stream for `epoch`, so an epoch's draws depend
    /// on the seed and the epoch alone (a resumed run draws the same).
    fn start_epoch(&self, epoch: usize) -> Result<()> {
        let layers = self.layers.lock().unwrap_or_else(|e| e.into_inner());
        for (i, layer) in layers.iter().enumerate() {
            let state = Rng::new(self.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((i as u64) << 48)).state();
            if !layer.random_streams().is_empty() {
                layer.set_random_streams(&[("seed_generator".to_string(), state)])?;
            }
        }
        Ok(())
    }

    /// The layers applied in order, in training mode, without recording gradients.
    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let _g = strata_core::no_grad();
        let layers = self.layers.lock().unwrap_or_else(|e| e.into_inner());
        layers.iter().try_fold(x.clone(), |x, layer| layer.call(&x, true))
    }
}

impl Dataset {
    /// All samples of `source`; batches of 32, shuffled each epoch, two batches read ahead.
    pub fn new(source: impl Source + 'static) -> Dataset {
        let indices = (0..source.len()).collect();
        Dataset { source: Arc::new(source), sample_weight: None, indices, batch_size: 32, shuffle: true, prefetch: 2, checked: false, augment: None }
    }
    /// In-memory inputs and targets.
    pub fn from_arrays(x: Tensor, y: Tensor) -> Result<Dataset> {
        Ok(Dataset::new(Arrays::new(x, y)?))
    }
    /// In-memory inputs and targets of a model with several of either.
    pub fn from_many(x: Vec<Tensor>, y: Vec<Tensor>) -> Result<Dataset> {
        Ok(Dataset::new(Arrays::many(x, y)?))
    }
    /// A weight per sample of the source, scaling its loss (Keras's `sample_weight`).
    pub fn with_sample_weight(mut self, weights: Vec<f32>) -> Result<Dataset> {
        if weights.len() != self.source.len() {
            return Err(Error::shape("sample_weight", format!("has {} weights for {} samples", weights.len(), self.source.len())));
        }
        if let Some((i, w)) = weights.iter().enumerate().find(|(_, w)| !w.is_finite() || **w < 0.0) {
            return Err(Error::argument("sample_weight", format!("weight {w} of sample {i} is not a finite non-negative number")));
        }
        self.sample_weight = Some(Arc::new(weights));
        Ok(self)
    }
    /// Whether [`Dataset::with_sample_weight`] gave the samples weights.
    pub fn has_sample_weight(&self) -> bool {
        self.sample_weight.is_some()
    }
    /// Samples per batch (default 32); the last batch of an epoch may be smaller.
    pub fn batch_size(mut self, batch_size: usize) -> Dataset {
        self.batch_size = batch_size;
        self
    }
    /// Whether `fit` reshuffles the samples before each epoch (default true).
    pub fn shuffle(mut self, shuffle: bool) -> Dataset {
        self.shuffle = shuffle;
        self
    }
    /// Batches read ahead on a background thread (0: read in the training thread).
    pub fn prefetch(mut self, batches: usize) -> Dataset {
        self.prefetch = batches;
        self
    }
    /// Runs `layers` (augmentations such as `RandomFlip` or `RandomRotation`,
    /// or any other layers) over the first input of every training batch,
    /// in training mode, on the dataset's reading thread, so augmenting
    /// takes no time from the training step where a core is free. Their
    /// streams restart each epoch from `seed` and the epoch's number, so a
    /// run, and a resumed run, draws the same. Only `fit`'s training batches
    /// are augmented (not validation, `evaluate` or `predict`).
    pub fn augment(mut self, layers: Vec<Box<dyn Layer>>, seed: u64) -> Result<Dataset> {
        let mut layers = layers;
        let mut shape = self.source.input_shape();
        let mut rng = Rng::new(seed);
        for layer in layers.iter_mut() {
            layer.base().check()?;
            shape = layer.build(&shape, &mut rng)?;
        }
        if shape != self.source.input_shape() {
            return Err(Error::shape("augment", format!("the layers turn inputs of shape {} into {}; a dataset's augmentation must keep the shape (resize in the model instead)", fmt_shape(&self.source.input_shape()), fmt_shape(&shape))));
        }
        self.augment = Some(Arc::new(Augment { layers: Mutex::new(layers), seed }));
        Ok(self)
    }
    /// The first `n` samples (all if there are fewer).
    pub fn take(mut self, n: usize) -> Dataset {
        self.indices.truncate(n);
        self
    }
    /// Number of samples in this dataset (after [`Dataset::take`] or [`Dataset::split`]).
    pub fn len(&self) -> usize {
        self.indices.len()
    }
    /// Whether the dataset has no samples.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
    /// Samples per batch, as set by [`Dataset::batch_size`].
    pub fn get_batch_size(&self) -> usize {
        self.batch_size
    }
    /// Whether `fit` reshuffles the samples before each epoch.
    pub fn is_shuffled(&self) -> bool {
        self.shuffle
    }
    /// Whether the samples are in memory (read inline, without a background thread).
    pub fn in_memory(&self) -> bool {
        self.source.in_memory()
    }
    /// Marks every input and target as checked already, so batches are not checked again.
    pub(crate) fn checked(mut self) -> Dataset {
        self.checked = true;
        self
    }
    pub(crate) fn is_checked(&self) -> bool {
        self.checked
    }
    /// Shape of one input sample, without the batch axis (the first input's
    /// for a model with several).
    pub fn input_shape(&self) -> Vec<usize> {
        self.source.input_shape()
    }
    /// The shape of each input sample (one per model input).
    pub fn input_shapes(&self) -> Vec<Vec<usize>> {
        self.source.input_shapes()
    }
    /// Shape of one target, without the batch axis.
    pub fn target_shape(&self) -> Vec<usize> {
        self.source.target_shape()
    }

    /// Splits off the last `fraction` of the samples (before any shuffling, as
    /// Keras's `validation_split`): `(training, validation)`.
    pub fn split(self, fraction: f32) -> Result<(Dataset, Dataset)> {
        if !(0.0..1.0).contains(&fraction) {
            return Err(Error::argument("validation_split", format!("must be in [0, 1), got {fraction}")));
        }
        let n_train = self.len() - (self.len() as f64 * fraction as f64).floor() as usize;
        let mut validation = self.clone().shuffle(false);
        validation.augment = None;
        validation.indices = self.indices[n_train..].to_vec();
        let mut train = self;
        train.indices.truncate(n_train);
        Ok((train, validation))
    }

    /// Positions `0..len` in the order an epoch visits them: shuffled by `rng`
    /// when the dataset shuffles.
    pub fn epoch_order(&self, rng: &mut Rng) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        if self.shuffle {
            rng.shuffle(&mut order);
        }
        order
    }

    /// The batches of one epoch visiting positions `order` (see [`Dataset::epoch_order`]).
    pub fn batches(&self, order: Vec<usize>) -> Result<Batches> {
        self.read(order, None)
    }

    /// [`Dataset::batches`] for training epoch `epoch`: augmented when the
    /// dataset has an augmentation ([`Dataset::augment`]).
    pub fn training_batches(&self, order: Vec<usize>, epoch: usize) -> Result<Batches> {
        let augment = self.augment.clone();
        if let Some(a) = &augment {
            a.start_epoch(epoch)?;
        }
        self.read(order, augment)
    }

    fn read(&self, order: Vec<usize>, augment: Option<Arc<Augment>>) -> Result<Batches> {
        if self.batch_size == 0 {
            return Err(Error::argument("batch_size", "must be at least 1, got 0"));
        }
        let samples: Vec<usize> = order.iter().map(|&p| self.indices[p]).collect();
        let reader = BatchReader { source: self.source.clone(), weights: self.sample_weight.clone(), samples, batch_size: self.batch_size, next: 0, augment: augment.clone() };
        // Augmenting is work worth a thread even for data in memory.
        if self.prefetch == 0 || (self.source.in_memory() && augment.is_none()) {
            return Ok(Batches::Inline(reader));
        }
        let (send, receive) = sync_channel(self.prefetch);
        let handle = std::thread::Builder::new()
            .name("strata-data".into())
            .spawn(move || {
                for batch in reader {
                    if send.send(batch).is_err() {
                        return; // training stopped
                    }
                }
            })
            .map_err(|e| Error::State(format!("cannot start the data thread: {e}")))?;
        Ok(Batches::Background { receive, handle: Some(handle) })
    }
}

/// Reads one epoch's batches in order (see [`Batches`]).
pub struct BatchReader {
    source: Arc<dyn Source>,
    weights: Option<Arc<Vec<f32>>>,
    samples: Vec<usize>,
    batch_size: usize,
    next: usize,
    augment: Option<Arc<Augment>>,
}

impl Iterator for BatchReader {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.samples.len() {
            return None;
        }
        let end = (self.next + self.batch_size).min(self.samples.len());
        let batch = &self.samples[self.next..end];
        self.next = end;
        let read = self.source.read_batch(batch).and_then(|(mut inputs, targets)| {
            if let Some(a) = &self.augment {
                inputs[0] = a.apply(&inputs[0])?;
            }
            let sample_weight = match &self.weights {
                Some(w) => Some(Tensor::new(batch.iter().map(|&i| w[i]).collect(), &[batch.len()])?),
                None => None,
            };
            Ok(Batch { inputs, targets, sample_weight })
        });
        Some(read)
    }
}

/// One epoch's batches, read inline or on a background thread.
pub enum Batches {
    /// Read in the training thread as each batch is asked for (in-memory
    /// data, or prefetch 0).
    Inline(BatchReader),
    /// Read ahead by a background thread.
    Background {
        /// Where the thread sends the batches, in order.
        receive: Receiver<Result<Batch>>,
        /// The thread, joined once it has sent all batches (to report a panic).
        handle: Option<JoinHandle<()>>,
    },
}

impl Iterator for Batches {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Batches::Inline(reader) => reader.next(),
            Batches::Background { receive, handle } => match receive.recv() {
                Ok(batch) => Some(batch),
                Err(_) => {
                    // The thread ended: either all batches were sent, or it panicked.
                    let panicked = handle.take().map(|h| h.join().is_err()).unwrap_or(false);
                    panicked.then(|| Err(Error::State("the data thread panicked".into())))
                }
            },
        }
    }
}

impl Drop for Batches {
    fn drop(&mut self) {
        if let Batches::Background { receive, handle } = self {
            // Unblock the thread's pending send, then wait for it.
            while receive.try_recv().is_ok() {}
            let (_, dummy) = sync_channel(0);
            drop(std::mem::replace(receive, dummy));
            if let Some(h) = handle.take() {
                let _ = h.join();
            }
        }
    }
}
