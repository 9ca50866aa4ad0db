//! Plots as PNG or SVG files: training curves ([`Curves`]), confusion
//! matrices ([`ConfusionMatrix`]) and labelled image grids ([`ImageGrid`]:
//! misclassified examples, filters, activations, heat maps).
//!
//! Text is drawn with a font the crate embeds (DejaVu Sans, cut to the
//! characters plots write), so plots render the same on a machine with no
//! fonts installed. Files are written atomically.

mod colormap;
mod confusion;
mod curves;
mod grid;

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use strata_core::{Error, Result};

pub use colormap::heat_color;
pub use confusion::{argmax, class_ids, ConfusionMatrix};
pub use curves::Curves;
pub use grid::{value_range, ImageGrid, Picture};

/// The font every plot writes with: DejaVu Sans, printable ASCII and a few
/// symbols (`tools/subset_font.sh` makes it; its licence is in `assets/`).
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans-plot.ttf");
/// The family name plots ask for; the embedded font is registered under it.
pub(crate) const FAMILY: &str = "sans-serif";

/// Line colours: training, then validation (matplotlib's first two).
pub(crate) const TRAIN: RGBColor = RGBColor(31, 119, 180);
pub(crate) const VALIDATION: RGBColor = RGBColor(255, 127, 14);

fn register_font() {
    static ONCE: Once = Once::new();
    // The font is compiled in and checked by the tests; were it not to
    // parse, drawing text would fail with plotters' "font not found" error.
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// Where a chart's data lands in the picture: the plotting area's pixel
/// rectangle and the data ranges it shows (so a test or a caller can find
/// the pixel of a value).
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    /// What the panel shows (a metric's name, for curves).
    pub name: String,
    /// The x range shown, left to right.
    pub x: (f64, f64),
    /// The y range shown, bottom to top.
    pub y: (f64, f64),
    /// The plotting area in pixels: left, top, right, bottom (inclusive).
    pub pixels: (i32, i32, i32, i32),
}

impl Panel {
    /// The pixel (column, row) where the value `(x, y)` is drawn.
    pub fn pixel(&self, x: f64, y: f64) -> (i32, i32) {
        let (left, top, right, bottom) = self.pixels;
        let fx = (x - self.x.0) / (self.x.1 - self.x.0);
        let fy = (y - self.y.0) / (self.y.1 - self.y.0);
        (left + (fx * (right - left) as f64).round() as i32, bottom - (fy * (bottom - top) as f64).round() as i32)
    }
}

/// Something drawn on a canvas of a fixed size, to a PNG or an SVG file.
pub trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws the figure on `area` (white already), returning where its
    /// charts' data lies.
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<Vec<Panel>>;
}

/// A drawing error as Strata's error, naming the figure.
pub(crate) fn failed<E: std::error::Error + Send + Sync>(what: &str) -> impl Fn(DrawingAreaErrorKind<E>) -> Error + '_ {
    move |e| Error::argument(what, format!("could not be drawn: {e}"))
}

/// Draws `figure` into 8-bit RGB pixels: `(width, height, pixels, panels)`.
pub fn render_rgb(figure: &impl Figure) -> Result<(u32, u32, Vec<u8>, Vec<Panel>)> {
    register_font();
    let (w, h) = figure.size();
    let mut pixels = vec![255u8; w as usize * h as usize * 3];
    let panels = {
        let area = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        let panels = figure.draw(&area)?;
        area.present().map_err(failed("figure"))?;
        panels
    };
    Ok((w, h, pixels, panels))
}

/// Draws `figure` as an SVG document.
pub fn render_svg(figure: &impl Figure) -> Result<String> {
    register_font();
    let mut text = String::new();
    {
        let area = SVGBackend::with_string(&mut text, figure.size()).into_drawing_area();
        area.fill(&WHITE).map_err(failed("figure"))?;
        figure.draw(&area)?;
        area.present().map_err(failed("figure"))?;
    }
    Ok(text)
}

/// Writes `figure` to `path`, a PNG or an SVG file by its extension,
/// atomically, and returns where its charts' data lies.
pub fn save(figure: &impl Figure, path: &Path) -> Result<Vec<Panel>> {
    match path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
        Some("png") => {
            let (w, h, pixels, panels) = render_rgb(figure)?;
            crate::data::images::write_png(path, w as usize, h as usize, 3, &pixels)?;
            Ok(panels)
        }
        Some("svg") => {
            crate::io::atomic::write(path, render_svg(figure)?.as_bytes())?;
            Ok(Vec::new())
        }
        _ => Err(Error::argument("plot", format!("'{}': write plots to a .png or a .svg file", path.display()))),
    }
}

/// A readable range around `values` (finite ones), padded by 5%.
pub(crate) fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { lo.abs().max(1.0) * 0.1 };
    (lo - pad, hi + pad)
}
