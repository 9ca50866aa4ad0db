//! `strata explain`: what a saved model looks at in one image (saliency,
//! Integrated Gradients, Grad-CAM), what a layer sees (activations) and what
//! the first convolution looks for (filters), drawn as a picture.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use strata::data::images::{self, ColorMode, ImageOptions};
use strata::explain;
use strata::model::Model;
use strata::plot::{self, ImageGrid, Picture};
use strata::{Error, Result, Tensor};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// The class score's gradient with respect to each pixel.
    Saliency,
    /// Gradients averaged along the path from a black image (Sundararajan et al.).
    IntegratedGradients,
    /// A convolution layer's feature maps weighted by the class score's gradient (Selvaraju et al.).
    Gradcam,
    /// A layer's output for the image, one map per channel (--layer is required).
    Activations,
    /// A convolution layer's kernels (the first one's without --layer); needs no image.
    Filters,
}

#[derive(Args)]
pub struct ExplainArgs {
    /// A model saved by Strata.
    #[arg(long)]
    model: PathBuf,
    /// The image (PNG, JPEG), resized and converted to the model's input shape.
    #[arg(long)]
    image: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "saliency")]
    method: Method,
    /// The layer for gradcam (default: the last with feature maps), activations or filters.
    #[arg(long)]
    layer: Option<String>,
    /// The class to explain (default: the one the model predicts).
    #[arg(long)]
    class: Option<usize>,
    /// Integrated Gradients' number of steps along the path.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
    steps: u64,
    /// Multiplies image pixels (0-255) before the model sees them, as `strata predict` does.
    #[arg(long, default_value_t = 1.0 / 255.0)]
    scale: f32,
    /// The picture to write: .png or .svg.
    #[arg(long)]
    out: PathBuf,
}

/// Pixels per image pixel: small images drawn about 168 pixels wide.
fn zoom(side: usize) -> usize {
    (168 / side.max(1)).max(1)
}

pub fn run(args: ExplainArgs) -> Result<()> {
    crate::checks::writable("--out", &args.out)?;
    let model = Model::load(&args.model)?;
    let grid = if args.method == Method::Filters {
        filters(&model, args.layer.as_deref())?
    } else {
        let Some(path) = &args.image else {
            return Err(Error::argument("--image", "this method explains one image: give --image FILE"));
        };
        let shape = model.input_shape().map(|s| s.to_vec()).unwrap_or_default();
        let [h, w, c] = shape[..] else {
            return Err(Error::argument("--model", format!("model '{}' takes inputs of shape {shape:?}, not images (height, width, channels)", model.name())));
        };
        let options = ImageOptions { image_size: Some((h, w)), color_mode: ColorMode::from_channels(c)?, scale: args.scale };
        let image = images::load_image(path, &options)?;
        let image = Tensor::new(image.to_vec(), &[h, w, c])?;
        explain_image(&model, &image, &args)?
    };
    plot::save(&grid, &args.out)?;
    eprintln!("Wrote {} to {}", grid_description(args.method), args.out.display());
    Ok(())
}

fn grid_description(method: Method) -> &'static str {
    match method {
        Method::Saliency => "the saliency map",
        Method::IntegratedGradients => "the Integrated Gradients attributions",
        Method::Gradcam => "the Grad-CAM map",
        Method::Activations => "the layer's activations",
        Method::Filters => "the filters",
    }
}

fn explain_image(model: &Model, image: &Tensor, args: &ExplainArgs) -> Result<ImageGrid> {
    let (h, w) = (image.shape()[0], image.shape()[1]);
    let scores = explain::scores(model, image)?;
    let predicted = strata::plot::argmax(&Tensor::new(scores.clone(), &[1, scores.len()])?)?[0];
    let class = args.class.unwrap_or(predicted);
    let values = image.to_vec();
    let range = plot::value_range(&values);
    let input = Picture::from_image(image, range)?;
    let k = zoom(h.max(w));
    let caption = format!("input: predicted {predicted} ({:.1}%)", scores[predicted] * 100.0);
    if args.method == Method::Activations {
        let Some(layer) = &args.layer else {
            return Err(Error::argument("--layer", "activations needs --layer NAME (see `strata summary --model M`)"));
        };
        return activation_grid(&explain::activations(model, image, layer)?, layer, input.scaled(k), caption);
    }
    let (map, title) = match args.method {
        Method::Saliency => (explain::saliency_map(&explain::saliency(model, image, class)?)?, format!("saliency for class {class}")),
        Method::IntegratedGradients => {
            let ig = explain::integrated_gradients(model, image, None, class, args.steps as usize)?;
            let summed = explain::saliency_map(&ig.values)?;
            (summed, format!("integrated gradients for class {class} ({} steps, sum within {:.2}% of the score's change)", args.steps, ig.completeness_gap() * 100.0))
        }
        _ => {
            let cam = explain::grad_cam(model, image, class, args.layer.as_deref())?;
            (cam.map, format!("grad-cam for class {class} on layer {}", cam.layer))
        }
    };
    let heat = Picture::heat(&map.to_vec(), w, h, None);
    let mut grid = ImageGrid::new(3).title(title);
    grid.push(input.scaled(k), caption, false);
    grid.push(heat.scaled(k), "map", false);
    grid.push(input.overlay(&heat, 0.6)?.scaled(k), "map over the input", false);
    Ok(grid)
}

/// One heat picture per channel of a layer's output `[h, w, channels]`.
fn activation_grid(y: &Tensor, layer: &str, input: Picture, caption: String) -> Result<ImageGrid> {
    let &[h, w, channels] = y.shape() else {
        return Err(Error::argument("--layer", format!("layer '{layer}' gives {}, not feature maps [height, width, channels]", strata::core::fmt_shape(y.shape()))));
    };
    let values = y.to_vec();
    let range = plot::value_range(&values);
    let mut grid = ImageGrid::new(8).title(format!("layer {layer}: {channels} feature maps of {h}x{w}, one colour scale"));
    grid.push(input, caption, false);
    for ch in 0..channels {
        let map: Vec<f32> = values.iter().skip(ch).step_by(channels).copied().collect();
        grid.push(Picture::heat(&map, w, h, Some(range)).scaled(zoom(h.max(w)) / 2 + 1), format!("channel {ch}"), false);
    }
    Ok(grid)
}

/// One picture per filter of a convolution kernel `[kh, kw, in, filters]`:
/// RGB for three input channels, else their mean, each on its own scale.
fn filters(model: &Model, layer: Option<&str>) -> Result<ImageGrid> {
    let (layer, kernel) = explain::filters(model, layer)?;
    let &[kh, kw, inputs, count] = kernel.shape() else { unreachable!("explain::filters returns 4-D kernels") };
    let values = kernel.to_vec();
    let channels = if inputs == 3 { 3 } else { 1 };
    let mut grid = ImageGrid::new(8).title(format!("layer {layer}: {count} filters of {kh}x{kw}x{inputs}"));
    for f in 0..count {
        let mut image = Vec::with_capacity(kh * kw * channels);
        for p in 0..kh * kw {
            let at = |i: usize| values[(p * inputs + i) * count + f];
            if channels == 3 {
                image.extend((0..3).map(at));
            } else {
                image.push((0..inputs).map(at).sum::<f32>() / inputs as f32);
            }
        }
        let range = plot::value_range(&image);
        let picture = Picture::from_image(&Tensor::new(image, &[kh, kw, channels])?, range)?;
        grid.push(picture.scaled((48 / kh.max(kw)).max(1)), format!("{f}"), false);
    }
    Ok(grid)
}
