//! Why a model says what it says: saliency maps, Integrated Gradients,
//! Grad-CAM, and what a layer sees (its activations) or looks for (its
//! filters). Each works on any model with one image input, Sequential or
//! functional; the class score is the model's (first) output for the class.
//!
//! ```no_run
//! # fn main() -> strata::Result<()> {
//! let model = strata::model::Model::load(std::path::Path::new("digits.safetensors"))?;
//! let image = strata::Tensor::zeros(&[28, 28, 1]);
//! let cam = strata::explain::grad_cam(&model, &image, 7, None)?;
//! println!("layer {} drew a {:?} map", cam.layer, cam.map.shape());
//! # Ok(()) }
//! ```

use strata_core::ops::Interpolation;
use strata_core::{fmt_shape, no_grad, Error, Result, Tensor};

use crate::model::Model;

/// `t` under `shape` (the same number of elements).
fn reshaped(t: &Tensor, shape: &[usize]) -> Result<Tensor> {
    t.reshape(&shape.iter().map(|&d| d as isize).collect::<Vec<_>>())
}

/// The model's output for `class` on a batch, summed over the batch, with
/// the gradient of that sum with respect to each input image.
fn score_and_gradient(model: &Model, images: &Tensor, class: usize) -> Result<(Vec<f32>, Tensor)> {
    let input = Tensor::variable(images.to_vec(), images.shape())?;
    let out = first_output(model, &input)?;
    let mask = class_mask(&out, class)?;
    let scores = out.mul(&mask)?;
    let grads = scores.sum().backward()?;
    let per_image = scores.to_vec().chunks(out.shape()[1]).map(|row| row.iter().sum()).collect();
    let grad = grads.get(&input).cloned().unwrap_or_else(|| Tensor::zeros(images.shape()));
    Ok((per_image, grad))
}

fn first_output(model: &Model, input: &Tensor) -> Result<Tensor> {
    let mut outs = model.call_many(std::slice::from_ref(input), false)?;
    let out = outs.swap_remove(0);
    match out.shape() {
        [_, _] => Ok(out),
        other => Err(Error::shape("explain", format!("model '{}' gives outputs of shape {}: explaining needs class scores [batch, classes]", model.name(), fmt_shape(other)))),
    }
}

/// A one-hot `[batch, classes]` mask of `class`.
fn class_mask(out: &Tensor, class: usize) -> Result<Tensor> {
    let &[n, classes] = out.shape() else { unreachable!("first_output checks the rank") };
    if class >= classes {
        return Err(Error::argument("--class", format!("class {class} is not below the model's {classes} classes")));
    }
    Tensor::new((0..n * classes).map(|i| if i % classes == class { 1.0 } else { 0.0 }).collect(), &[n, classes])
}

/// One image `[h, w, c]` (or a batch of one) as a batch of one, checked
/// against the model's input shape.
fn one_image(model: &Model, image: &Tensor) -> Result<Tensor> {
    let expected = model.input_shape().map(|s| s.to_vec()).unwrap_or_default();
    let shape = match image.shape() {
        [1, rest @ ..] if rest == expected.as_slice() => rest.to_vec(),
        s => s.to_vec(),
    };
    if shape != expected || shape.len() != 3 {
        return Err(Error::shape("explain", format!("model '{}' takes images of shape {}, got {}", model.name(), fmt_shape(&expected), fmt_shape(image.shape()))));
    }
    let mut batch = vec![1];
    batch.extend(&shape);
    reshaped(image, &batch)
}

/// The model's class scores for one image: what it predicts, and how sure.
pub fn scores(model: &Model, image: &Tensor) -> Result<Vec<f32>> {
    let x = one_image(model, image)?;
    let _off = no_grad();
    Ok(first_output(model, &x)?.to_vec())
}

/// The gradient of the class score with respect to each input value
/// (Simonyan et al.'s saliency), shaped like the image `[h, w, c]`. Draw
/// [`saliency_map`] of it: the largest magnitude over channels.
pub fn saliency(model: &Model, image: &Tensor, class: usize) -> Result<Tensor> {
    let x = one_image(model, image)?;
    let (_, grad) = score_and_gradient(model, &x, class)?;
    reshaped(&grad, &x.shape()[1..])
}

/// A gradient `[h, w, c]` as a map `[h, w]`: each pixel's largest absolute
/// value over channels.
pub fn saliency_map(gradient: &Tensor) -> Result<Tensor> {
    let &[h, w, c] = gradient.shape() else {
        return Err(Error::shape("saliency_map", format!("needs a gradient [height, width, channels], got {}", fmt_shape(gradient.shape()))));
    };
    let values = gradient.to_vec();
    Tensor::new(values.chunks_exact(c).map(|p| p.iter().fold(0f32, |m, v| m.max(v.abs()))).collect(), &[h, w])
}

/// Integrated Gradients' attributions for one image and one class.
#[derive(Clone, Debug)]
pub struct Attributions {
    /// Each input value's share of the score's change, shaped like the image.
    pub values: Tensor,
    /// The class score at the image.
    pub score: f32,
    /// The class score at the baseline.
    pub baseline_score: f32,
}

impl Attributions {
    /// How far the attributions' sum is from `score - baseline_score`,
    /// relative to it (the completeness axiom; shrinks with more steps).
    pub fn completeness_gap(&self) -> f32 {
        let total: f32 = self.values.to_vec().iter().sum();
        let change = self.score - self.baseline_score;
        (total - change).abs() / change.abs().max(1e-12)
    }
}

/// Integrated Gradients (Sundararajan et al.): the gradient averaged along
/// the straight path from `baseline` (black when `None`) to the image,
/// times the image's difference from the baseline; `steps` intervals,
/// trapezoidal rule (50 is the usual choice), in batches of 32 images.
pub fn integrated_gradients(model: &Model, image: &Tensor, baseline: Option<&Tensor>, class: usize, steps: usize) -> Result<Attributions> {
    if steps == 0 {
        return Err(Error::argument("--steps", "Integrated Gradients needs at least one step"));
    }
    let x = one_image(model, image)?;
    let size = x.numel();
    let base = match baseline {
        Some(b) if b.numel() == size => b.to_vec(),
        Some(b) => return Err(Error::shape("baseline", format!("a baseline of shape {} for an image of shape {}", fmt_shape(b.shape()), fmt_shape(&x.shape()[1..])))),
        None => vec![0.0; size],
    };
    let image_values = x.to_vec();
    let mut mean_grad = vec![0f32; size];
    let (mut score, mut baseline_score) = (0.0, 0.0);
    let alphas: Vec<usize> = (0..=steps).collect();
    for chunk in alphas.chunks(32) {
        let mut batch = Vec::with_capacity(chunk.len() * size);
        for &k in chunk {
            let a = k as f32 / steps as f32;
            batch.extend(base.iter().zip(&image_values).map(|(b, v)| b + a * (v - b)));
        }
        let mut shape = x.shape().to_vec();
        shape[0] = chunk.len();
        let (scores, grad) = score_and_gradient(model, &Tensor::new(batch, &shape)?, class)?;
        for (j, (&k, g)) in chunk.iter().zip(grad.to_vec().chunks_exact(size)).enumerate() {
            let weight = if k == 0 || k == steps { 0.5 } else { 1.0 } / steps as f32;
            mean_grad.iter_mut().zip(g).for_each(|(m, g)| *m += weight * g);
            if k == 0 {
                baseline_score = scores[j];
            }
            if k == steps {
                score = scores[j];
            }
        }
    }
    let values = mean_grad.iter().zip(image_values.iter().zip(&base)).map(|(g, (v, b))| g * (v - b)).collect();
    Ok(Attributions { values: Tensor::new(values, &x.shape()[1..])?, score, baseline_score })
}

/// A Grad-CAM heat map and the layer it was read from.
#[derive(Clone, Debug)]
pub struct GradCam {
    /// The layer whose activations were weighed.
    pub layer: String,
    /// The map at the layer's resolution `[lh, lw]`, non-negative.
    pub coarse: Tensor,
    /// The map resized (bilinear) to the image `[h, w]`.
    pub map: Tensor,
}

/// The last layer whose output is a feature map `[h, w, channels]` with
/// more than one pixel: Grad-CAM's usual choice (the last convolution).
pub fn last_feature_map_layer(model: &Model) -> Result<String> {
    (0..model.layers().len())
        .rev()
        .find(|&i| matches!(model.layer_output_shape(i).as_deref(), Some([h, w, _]) if h * w > 1))
        .map(|i| model.layers()[i].name())
        .ok_or_else(|| Error::argument("--layer", format!("model '{}' has no layer with a spatial output [height, width, channels] for Grad-CAM", model.name())))
}

/// Grad-CAM (Selvaraju et al.): layer `layer`'s feature maps (the last
/// one's when `None`), each weighted by the mean gradient of the class
/// score over it, summed, and kept where positive. Works on Sequential
/// models as on functional ones: the layer's output becomes a second
/// output of a model sharing the weights.
pub fn grad_cam(model: &Model, image: &Tensor, class: usize, layer: Option<&str>) -> Result<GradCam> {
    let x = one_image(model, image)?;
    let layer = match layer {
        Some(name) => name.to_string(),
        None => last_feature_map_layer(model)?,
    };
    let features = model.layer_output(&layer)?;
    let inputs = model.inputs();
    let Some(output) = model.outputs().into_iter().next() else { return Err(Error::State(format!("model '{}' has no output", model.name()))) };
    let both = Model::with_seed(&inputs, &[features, output], model.seed())?;
    let outs = both.call_many(std::slice::from_ref(&x), false)?;
    let (activations, scores) = (&outs[0], &outs[1]);
    let &[1, lh, lw, channels] = activations.shape() else {
        return Err(Error::shape("--layer", format!("layer '{layer}' gives {}, not feature maps [height, width, channels]", fmt_shape(&activations.shape()[1..]))));
    };
    if scores.shape().len() != 2 {
        return Err(Error::shape("explain", format!("model '{}' gives outputs of shape {}: explaining needs class scores", model.name(), fmt_shape(scores.shape()))));
    }
    let grads = scores.mul(&class_mask(scores, class)?)?.sum().backward_keeping(std::slice::from_ref(activations))?;
    let grad = grads.get(activations).map(|g| g.to_vec()).unwrap_or_else(|| vec![0.0; activations.numel()]);
    let mut weights = vec![0f32; channels];
    for g in grad.chunks_exact(channels) {
        weights.iter_mut().zip(g).for_each(|(w, g)| *w += g / (lh * lw) as f32);
    }
    let coarse: Vec<f32> = activations.to_vec().chunks_exact(channels).map(|a| a.iter().zip(&weights).map(|(a, w)| a * w).sum::<f32>().max(0.0)).collect();
    let coarse = Tensor::new(coarse, &[lh, lw])?;
    let (h, w) = (x.shape()[1], x.shape()[2]);
    let map = {
        let _off = no_grad();
        reshaped(&reshaped(&coarse, &[1, lh, lw, 1])?.resize((h, w), Interpolation::Bilinear)?, &[h, w])?
    };
    Ok(GradCam { layer, coarse, map })
}

/// Layer `layer`'s output for one image, `[h, w, channels]` (or whatever
/// shape the layer gives, without the batch axis).
pub fn activations(model: &Model, image: &Tensor, layer: &str) -> Result<Tensor> {
    let x = one_image(model, image)?;
    let inner = Model::with_seed(&model.inputs(), &[model.layer_output(layer)?], model.seed())?;
    let _off = no_grad();
    let y = inner.call_many(std::slice::from_ref(&x), false)?.swap_remove(0);
    reshaped(&y, &y.shape()[1..])
}

/// The kernel `[kh, kw, in, filters]` of convolution layer `layer` (the
/// first layer with a 4-D kernel when `None`) and that layer's name.
pub fn filters(model: &Model, layer: Option<&str>) -> Result<(String, Tensor)> {
    let kernel = model.named_weights().into_iter().find(|(name, w)| {
        let (owner, weight) = name.rsplit_once('/').unwrap_or(("", name));
        weight == "kernel" && w.shape().len() == 4 && layer.is_none_or(|l| owner == l)
    });
    match kernel {
        Some((name, w)) => Ok((name.rsplit_once('/').map(|(o, _)| o.to_string()).unwrap_or(name), w)),
        None => Err(Error::argument("--layer", match layer {
            Some(l) => format!("layer '{l}' of model '{}' has no convolution kernel [kh, kw, in, filters]", model.name()),
            None => format!("model '{}' has no convolution layer", model.name()),
        })),
    }
}
