//! Grids of small pictures with captions: misclassified examples, filters,
//! activations, heat maps.

use plotters::coord::Shift;
use plotters::prelude::*;
use strata_core::{fmt_shape, Error, Result, Tensor};

use super::{failed, heat_color, Figure, Panel, FAMILY};

/// The smallest and largest finite values, widened to a non-empty range
/// (what [`Picture::from_image`] maps to black and white for a picture
/// drawn on its own scale).
pub fn value_range(values: &[f32]) -> (f32, f32) {
    let (low, high) = values.iter().filter(|v| v.is_finite()).fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    if !low.is_finite() {
        (0.0, 1.0)
    } else if high > low {
        (low, high)
    } else {
        (low, low + 1.0)
    }
}

/// An 8-bit RGB picture.
#[derive(Clone, Debug, PartialEq)]
pub struct Picture {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `height * width * 3` bytes, row by row.
    pub pixels: Vec<u8>,
}

impl Picture {
    /// An image `[height, width, 1 or 3]` with `range` (low, high) mapped to
    /// black and white (clamped).
    pub fn from_image(image: &Tensor, (low, high): (f32, f32)) -> Result<Picture> {
        let &[height, width, c] = image.shape() else {
            return Err(Error::shape("Picture", format!("expects an image [height, width, channels], got {}", fmt_shape(image.shape()))));
        };
        if !(c == 1 || c == 3) || !(high > low) {
            return Err(Error::argument("Picture", format!("needs 1 or 3 channels and low < high, got {c} channels and range ({low}, {high})")));
        }
        let byte = |v: f32| (((v - low) / (high - low)).clamp(0.0, 1.0) * 255.0).round() as u8;
        let values = image.to_vec();
        let pixels = values.chunks_exact(c).flat_map(|p| if c == 1 { [byte(p[0]); 3] } else { [byte(p[0]), byte(p[1]), byte(p[2])] }).collect();
        Ok(Picture { width, height, pixels })
    }

    /// Image `index` of a batch of `[height, width, channels]` images given
    /// as their values, one after another, drawn as [`Picture::from_image`].
    pub fn from_batch(values: &[f32], (height, width, channels): (usize, usize, usize), index: usize, range: (f32, f32)) -> Result<Picture> {
        let size = height * width * channels;
        let Some(image) = values.get(index * size..(index + 1) * size) else {
            return Err(Error::argument("Picture", format!("there is no image {index} in {} values of {height}x{width}x{channels} images", values.len())));
        };
        Picture::from_image(&Tensor::new(image.to_vec(), &[height, width, channels])?, range)
    }

    /// A map `[height, width]` of values coloured dark to bright, scaled so
    /// that its smallest value is dark and its largest bright (or by
    /// `range` when given).
    pub fn heat(values: &[f32], width: usize, height: usize, range: Option<(f32, f32)>) -> Picture {
        let (low, high) = range.unwrap_or_else(|| value_range(values));
        let span = if high > low { high - low } else { 1.0 };
        let pixels = values.iter().flat_map(|&v| {
            let c = heat_color((v - low) / span);
            [c.0, c.1, c.2]
        });
        Picture { width, height, pixels: pixels.collect() }
    }

    /// This picture with `heat` (same size) laid over it at `opacity` in [0, 1].
    pub fn overlay(&self, heat: &Picture, opacity: f32) -> Result<Picture> {
        if (heat.width, heat.height) != (self.width, self.height) {
            return Err(Error::shape("Picture::overlay", format!("a {}x{} heat map over a {}x{} picture", heat.width, heat.height, self.width, self.height)));
        }
        let a = opacity.clamp(0.0, 1.0);
        let pixels = self.pixels.iter().zip(&heat.pixels).map(|(&b, &h)| (b as f32 * (1.0 - a) + h as f32 * a).round() as u8).collect();
        Ok(Picture { width: self.width, height: self.height, pixels })
    }

    /// This picture `factor` times larger, each pixel a square.
    pub fn scaled(&self, factor: usize) -> Picture {
        let factor = factor.max(1);
        let (w, h) = (self.width * factor, self.height * factor);
        let mut pixels = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let i = ((y / factor) * self.width + x / factor) * 3;
                pixels.extend_from_slice(&self.pixels[i..i + 3]);
            }
        }
        Picture { width: w, height: h, pixels }
    }
}

/// Pictures in rows of `columns`, each with a caption under it (drawn red
/// when marked wrong): misclassified digits ("7 as 2"), filters, feature maps.
#[derive(Clone, Debug, Default)]
pub struct ImageGrid {
    cells: Vec<(Picture, String, bool)>,
    columns: usize,
    title: Option<String>,
}

const GAP: usize = 6;
const CAPTION: usize = 18;
const HEADER: usize = 28;

impl ImageGrid {
    /// An empty grid of `columns` columns.
    pub fn new(columns: usize) -> ImageGrid {
        ImageGrid { cells: Vec::new(), columns: columns.max(1), title: None }
    }
    /// A title above the grid.
    pub fn title(mut self, title: impl Into<String>) -> ImageGrid {
        self.title = Some(title.into());
        self
    }
    /// Adds a picture with its caption; `wrong` draws the caption in red.
    pub fn push(&mut self, picture: Picture, caption: impl Into<String>, wrong: bool) {
        self.cells.push((picture, caption.into(), wrong));
    }
    /// How many pictures the grid holds.
    pub fn len(&self) -> usize {
        self.cells.len()
    }
    /// Whether the grid holds no picture.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
    fn cell_size(&self) -> (usize, usize) {
        let w = self.cells.iter().map(|c| c.0.width).max().unwrap_or(1).max(40);
        let h = self.cells.iter().map(|c| c.0.height).max().unwrap_or(1);
        (w + GAP, h + CAPTION + GAP)
    }
    fn header(&self) -> usize {
        if self.title.is_some() { HEADER } else { 0 }
    }
}

impl Figure for ImageGrid {
    fn size(&self) -> (u32, u32) {
        let (cw, ch) = self.cell_size();
        let columns = self.columns.min(self.cells.len().max(1));
        let rows = self.cells.len().div_ceil(self.columns).max(1);
        // Wide enough for the title too (about 9 pixels a character at 16 px).
        let title = self.title.as_ref().map_or(0, |t| t.chars().count() * 9 + 2 * GAP);
        ((columns * cw + GAP).max(title) as u32, (rows * ch + GAP + self.header()) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<Vec<Panel>> {
        let fail = failed("image grid");
        if let Some(title) = &self.title {
            area.draw(&Text::new(title.clone(), (GAP as i32, 6), (FAMILY, 16))).map_err(&fail)?;
        }
        let (cw, ch) = self.cell_size();
        for (i, (picture, caption, wrong)) in self.cells.iter().enumerate() {
            let left = (GAP + (i % self.columns) * cw + (cw - GAP - picture.width) / 2) as i32;
            let top = (self.header() + GAP + (i / self.columns) * ch) as i32;
            let Some(bitmap) = BitMapElement::with_owned_buffer((left, top), (picture.width as u32, picture.height as u32), picture.pixels.clone()) else {
                return Err(Error::argument("image grid", format!("picture {i} has {} bytes, not {}x{}x3", picture.pixels.len(), picture.width, picture.height)));
            };
            area.draw(&bitmap).map_err(&fail)?;
            let ink = if *wrong { RED } else { BLACK };
            let x = (GAP + (i % self.columns) * cw) as i32;
            area.draw(&Text::new(caption.clone(), (x, top + picture.height as i32 + 3), TextStyle::from((FAMILY, 12)).color(&ink))).map_err(&fail)?;
        }
        Ok(Vec::new())
    }
}
