//! Image files (PNG, JPEG) and folders of them, one sub-folder per class, as
//! Keras's `image_dataset_from_directory` reads them: decoded, converted to
//! grey, RGB or RGBA the way TensorFlow's decoders do, and resized with
//! bilinear interpolation (half-pixel centres, as `tf.image.resize`).

use std::path::{Path, PathBuf};

use strata_core::{Error, Result, Tensor};

/// Channels of the loaded images (Keras's `color_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorMode {
    /// One channel, grey (`"grayscale"`).
    Grayscale,
    /// Three channels, red, green, blue (`"rgb"`, Keras's default).
    Rgb,
    /// Four channels, RGB and alpha (`"rgba"`).
    Rgba,
}

impl ColorMode {
    /// Channels per pixel: 1, 3 or 4.
    pub fn channels(self) -> usize {
        match self {
            ColorMode::Grayscale => 1,
            ColorMode::Rgb => 3,
            ColorMode::Rgba => 4,
        }
    }
    /// The mode with `channels` channels (1, 3 or 4).
    pub fn from_channels(channels: usize) -> Result<ColorMode> {
        match channels {
            1 => Ok(ColorMode::Grayscale),
            3 => Ok(ColorMode::Rgb),
            4 => Ok(ColorMode::Rgba),
            c => Err(Error::argument("color_mode", format!("images have 1, 3 or 4 channels, not {c}"))),
        }
    }
}

/// The file formats Strata decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// PNG: palettes and low bit depths expanded, 16-bit samples cut to 8 bits.
    Png,
    /// JPEG, 8-bit grey or colour.
    Jpeg,
}

/// A decoded image: `height x width x channels` bytes, channels 1 (grey), 2
/// (grey + alpha), 3 (RGB) or 4 (RGBA).
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// The format the file was decoded from.
    pub format: Format,
    /// Rows of pixels.
    pub height: usize,
    /// Pixels per row.
    pub width: usize,
    /// Values per pixel: 1, 2, 3 or 4.
    pub channels: usize,
    /// The values, row by row, channels innermost, 0-255.
    pub pixels: Vec<u8>,
}

/// Files that `image_dataset_from_directory` accepts (Strata decodes PNG and JPEG).
const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];
/// Images larger than this are refused before decoding (a header can claim anything).
const MAX_PIXELS: u64 = 1 << 28;

/// Reads and decodes a PNG or JPEG file (told apart by their magic bytes).
pub fn read(path: &Path) -> Result<Image> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode(&bytes, path)
}

/// Decodes PNG or JPEG bytes; `path` names them in errors.
pub fn decode(bytes: &[u8], path: &Path) -> Result<Image> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(bytes, path)
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        decode_jpeg(bytes, path)
    } else {
        Err(Error::data(path, "not a PNG or JPEG file (unrecognised magic bytes)"))
    }
}

fn decode_png(bytes: &[u8], path: &Path) -> Result<Image> {
    let corrupt = |e: png::DecodingError| Error::data(path, format!("corrupt PNG: {e}"));
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    // Palette -> RGB(A), 16-bit -> 8-bit, low bit depths -> 8-bit.
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(corrupt)?;
    let (width, height) = (reader.info().width as usize, reader.info().height as usize);
    if (width as u64) * (height as u64) > MAX_PIXELS {
        return Err(Error::data(path, format!("PNG claims {width}x{height} pixels, more than Strata decodes")));
    }
    let size = reader.output_buffer_size().ok_or_else(|| Error::data(path, "PNG image too large"))?;
    let mut pixels = vec![0; size];
    let frame = reader.next_frame(&mut pixels).map_err(corrupt)?;
    pixels.truncate(frame.buffer_size());
    let channels = frame.color_type.samples();
    Ok(Image { format: Format::Png, height, width, channels, pixels })
}

fn decode_jpeg(bytes: &[u8], path: &Path) -> Result<Image> {
    let corrupt = |e: jpeg_decoder::Error| Error::data(path, format!("corrupt JPEG: {e}"));
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.read_info().map_err(corrupt)?;
    let info = decoder.info().ok_or_else(|| Error::data(path, "JPEG has no frame header"))?;
    if (info.width as u64) * (info.height as u64) > MAX_PIXELS {
        return Err(Error::data(path, format!("JPEG claims {}x{} pixels, more than Strata decodes", info.width, info.height)));
    }
    let pixels = decoder.decode().map_err(corrupt)?;
    let channels = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => 1,
        jpeg_decoder::PixelFormat::RGB24 => 3,
        other => return Err(Error::data(path, format!("JPEG pixel format {other:?} is not supported (8-bit grey or colour only)"))),
    };
    Ok(Image { format: Format::Jpeg, height: info.height as usize, width: info.width as usize, channels, pixels })
}

impl Image {
    /// The pixels as floats with `mode`'s channels: grey from colour by the
    /// ITU-R 601 weights (for PNG libpng's fixed-point sum, for JPEG the luma
    /// that libjpeg returns), alpha dropped or set opaque, grey copied to each
    /// colour channel.
    pub fn to_mode(&self, mode: ColorMode) -> Vec<f32> {
        let out_c = mode.channels();
        let mut out = Vec::with_capacity(self.height * self.width * out_c);
        for px in self.pixels.chunks_exact(self.channels) {
            let (rgb, alpha) = match self.channels {
                1 => ([px[0]; 3], 255),
                2 => ([px[0]; 3], px[1]),
                3 => ([px[0], px[1], px[2]], 255),
                _ => ([px[0], px[1], px[2]], px[3]),
            };
            match mode {
                ColorMode::Grayscale if self.channels <= 2 => out.push(rgb[0] as f32),
                ColorMode::Grayscale => out.push(grey(rgb, self.format)),
                ColorMode::Rgb => out.extend(rgb.map(|v| v as f32)),
                ColorMode::Rgba => out.extend([rgb[0], rgb[1], rgb[2], alpha].map(|v| v as f32)),
            }
        }
        out
    }
}

/// Luma of an RGB pixel as a byte: libpng's `png_set_rgb_to_gray` with the
/// weights TensorFlow gives it (0.299, 0.587 and the rest, in 1/32768ths,
/// truncated), or for JPEG the rounded luma.
fn grey([r, g, b]: [u8; 3], format: Format) -> f32 {
    let (r, g, b) = (r as u32, g as u32, b as u32);
    match format {
        Format::Png => ((9797 * r + 19235 * g + 3736 * b) >> 15) as f32,
        Format::Jpeg => (0.299 * r as f64 + 0.587 * g as f64 + 0.114 * b as f64).round() as f32,
    }
}

/// How images are turned into model inputs.
#[derive(Clone, Copy, Debug)]
pub struct ImageOptions {
    /// `(height, width)` to resize to; `None` keeps the files' size, which must then agree.
    pub image_size: Option<(usize, usize)>,
    /// Channels to convert every image to (Keras's default RGB).
    pub color_mode: ColorMode,
    /// Multiplies every value (Keras leaves pixels in 0-255: scale 1; Strata's MNIST loaders use 1/255).
    pub scale: f32,
}

impl Default for ImageOptions {
    /// Keras's defaults: 256x256 RGB, pixels 0-255.
    fn default() -> Self {
        ImageOptions { image_size: Some((256, 256)), color_mode: ColorMode::Rgb, scale: 1.0 }
    }
}

/// One image file as `[h, w, c]` floats, converted and resized as `options` say.
pub fn load_image(path: &Path, options: &ImageOptions) -> Result<Tensor> {
    let image = read(path)?;
    if image.height == 0 || image.width == 0 {
        return Err(Error::data(path, format!("image is {}x{} pixels", image.height, image.width)));
    }
    let c = options.color_mode.channels();
    let mut values = image.to_mode(options.color_mode);
    let (h, w) = match options.image_size {
        Some(size) => {
            if size.0 == 0 || size.1 == 0 {
                return Err(Error::argument("image_size", format!("must be at least 1x1, got {}x{}", size.0, size.1)));
            }
            // TensorFlow's bilinear resize (half-pixel centres), as `image_dataset_from_directory`.
            let _g = strata_core::no_grad();
            values = Tensor::new(values, &[1, image.height, image.width, c])?.resize(size, strata_core::ops::Interpolation::Bilinear)?.to_vec();
            size
        }
        None => (image.height, image.width),
    };
    if options.scale != 1.0 {
        values.iter_mut().for_each(|v| *v *= options.scale);
    }
    Tensor::new(values, &[h, w, c])
}

/// A folder of images, one sub-folder per class (classes in alphabetical
/// order, files sorted by path), as Keras's `image_dataset_from_directory`
/// with `labels="inferred"` lists it.
#[derive(Clone, Debug)]
pub struct ImageFolder {
    /// The sub-folder names, in alphabetical order; a label is an index into it.
    pub class_names: Vec<String>,
    /// Every image file, class by class, each class's files sorted by path.
    pub files: Vec<PathBuf>,
    /// The class id of each of `files`.
    pub labels: Vec<usize>,
}

impl ImageFolder {
    /// Lists `dir`: fails if it has no class sub-folders or no images.
    pub fn open(dir: &Path) -> Result<ImageFolder> {
        if !dir.is_dir() {
            return Err(Error::data(dir, "image folder not found"));
        }
        let mut folder = ImageFolder { class_names: Vec::new(), files: Vec::new(), labels: Vec::new() };
        for class_dir in super::sorted_entries(dir)?.into_iter().filter(|p| p.is_dir()) {
            let label = folder.class_names.len();
            folder.class_names.push(class_dir.file_name().unwrap_or_default().to_string_lossy().into_owned());
            for file in super::sorted_entries(&class_dir)? {
                let ext = file.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
                if file.is_file() && EXTENSIONS.contains(&ext.as_str()) {
                    folder.files.push(file);
                    folder.labels.push(label);
                }
            }
        }
        if folder.class_names.is_empty() {
            return Err(Error::data(dir, "has no class sub-folders (expected one folder of images per class)"));
        }
        if folder.files.is_empty() {
            return Err(Error::data(dir, format!("has no PNG or JPEG images in its {} class folders", folder.class_names.len())));
        }
        Ok(folder)
    }

    /// Number of image files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are no image files.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Every image as one `[n, h, w, c]` tensor, labels as class ids. Without
    /// `image_size`, images of different sizes are an error naming both files.
    pub fn load(&self, options: &ImageOptions) -> Result<(Tensor, Vec<usize>)> {
        let mut values = Vec::new();
        let mut first: Option<(Vec<usize>, &Path)> = None;
        for file in &self.files {
            let image = load_image(file, options)?;
            match &first {
                Some((shape, path)) if shape.as_slice() != image.shape() => {
                    let (a, b) = (strata_core::fmt_shape(shape), strata_core::fmt_shape(image.shape()));
                    return Err(Error::data(file, format!("is {b} but {} is {a}: images of mixed sizes need an image_size to resize to", path.display())));
                }
                Some(_) => {}
                None => first = Some((image.shape().to_vec(), file)),
            }
            values.extend_from_slice(&image.data());
        }
        let mut shape = vec![self.files.len()];
        shape.extend(first.map(|f| f.0).unwrap_or_default());
        Ok((Tensor::new(values, &shape)?, self.labels.clone()))
    }
}

/// Writes images `[n, h, w, 1 or 3]` as one PNG grid of `columns` columns
/// (one pixel of gap between images), mapping `range` (low, high) to black
/// and white: for generated digits, sample sheets and the README. The file
/// is replaced atomically.
pub fn write_grid(path: &Path, images: &Tensor, columns: usize, (low, high): (f32, f32)) -> Result<()> {
    let &[n, h, w, c] = images.shape() else {
        return Err(Error::shape("write_grid", format!("expects images [n, height, width, channels], got {}", strata_core::fmt_shape(images.shape()))));
    };
    if n == 0 || columns == 0 || !(c == 1 || c == 3) || !(high > low) {
        return Err(Error::argument("write_grid", format!("needs images with 1 or 3 channels, at least one column and low < high, got {n} images of {c} channels, {columns} columns, range ({low}, {high})")));
    }
    let rows = n.div_ceil(columns);
    let (gh, gw) = (rows * (h + 1) + 1, columns.min(n) * (w + 1) + 1);
    let mut pixels = vec![0u8; gh * gw * c];
    let values = images.to_vec();
    for (i, image) in values.chunks_exact(h * w * c).enumerate() {
        let (top, left) = ((i / columns) * (h + 1) + 1, (i % columns) * (w + 1) + 1);
        for y in 0..h {
            for x in 0..w {
                for k in 0..c {
                    let v = (image[(y * w + x) * c + k] - low) / (high - low);
                    pixels[((top + y) * gw + left + x) * c + k] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                }
            }
        }
    }
    write_png(path, gw, gh, c, &pixels)
}

/// Writes 8-bit pixels `[height, width, channels]` (1: grey, 3: RGB) as a
/// PNG file, replaced atomically.
pub fn write_png(path: &Path, width: usize, height: usize, channels: usize, pixels: &[u8]) -> Result<()> {
    let bytes = encode_png(width, height, channels, pixels).map_err(|e| match e {
        Error::Io { source, .. } => Error::io(path, source),
        other => other,
    })?;
    crate::io::atomic::write(path, &bytes)
}

/// 8-bit pixels `[height, width, channels]` (1: grey, 3: RGB) as PNG bytes.
pub fn encode_png(width: usize, height: usize, channels: usize, pixels: &[u8]) -> Result<Vec<u8>> {
    if !(channels == 1 || channels == 3) || pixels.len() != width * height * channels {
        return Err(Error::argument("encode_png", format!("{} bytes are not a {width}x{height} image of {channels} channels (1 or 3)", pixels.len())));
    }
    let mut bytes = Vec::new();
    let failed = |e: png::EncodingError| Error::io("PNG", std::io::Error::other(e));
    let mut encoder = png::Encoder::new(&mut bytes, width as u32, height as u32);
    encoder.set_color(if channels == 1 { png::ColorType::Grayscale } else { png::ColorType::Rgb });
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(pixels).map_err(failed)?;
    writer.finish().map_err(failed)?;
    Ok(bytes)
}
