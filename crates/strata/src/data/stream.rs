//! Sources that read samples from disk batch by batch, so memory stays flat
//! in the dataset's size: IDX image files and image folders.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use flate2::read::GzDecoder;
use strata_core::{Error, Result};

use super::dataset::{Labels, Source};
use super::images::{self, ImageFolder, ImageOptions};
use super::{idx, mnist};

/// A file deleted when dropped (a decompressed copy of a `.gz` file).
struct Spool(PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Unsigned-byte images of an IDX file on disk, scaled to `[0, 1]`, with
/// their labels (which are small and held in memory).
pub struct IdxImages {
    file: Mutex<File>,
    path: PathBuf,
    data_offset: u64,
    dims: Vec<usize>,
    labels: Labels,
    _spool: Option<Spool>,
}

/// `path` itself, or for a gzip file a decompressed copy in the temp folder.
fn seekable(path: &Path) -> Result<(File, Option<Spool>)> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 2];
    let gzip = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    file.seek(SeekFrom::Start(0)).map_err(|e| Error::io(path, e))?;
    if !gzip {
        return Ok((file, None));
    }
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let spool = Spool(std::env::temp_dir().join(format!("strata-{}-{n}.idx", std::process::id())));
    let mut out = File::options().read(true).write(true).create(true).truncate(true).open(&spool.0).map_err(|e| Error::io(&spool.0, e))?;
    std::io::copy(&mut GzDecoder::new(file), &mut out).map_err(|e| Error::data(path, format!("corrupt gzip data: {e}")))?;
    out.seek(SeekFrom::Start(0)).map_err(|e| Error::io(&spool.0, e))?;
    Ok((out, Some(spool)))
}

impl IdxImages {
    /// Opens `images` (an IDX file of shape `(n, rows, cols)`, plain or `.gz`)
    /// and reads `labels` (IDX `(n,)`), checking sizes and ids up front.
    pub fn open(images: &Path, labels: &Path, classes: usize, one_hot: bool) -> Result<IdxImages> {
        let (mut file, spool) = seekable(images)?;
        let mut header = [0u8; 4 + 4 * 3];
        file.read_exact(&mut header).map_err(|e| Error::data(images, format!("truncated IDX header: {e}")))?;
        let (code, dims, declared) = idx::parse_header(&header, images)?;
        if code != 0x08 || dims.len() != 3 {
            return Err(Error::data(images, format!("expected unsigned-byte images of shape (n, rows, cols), got type 0x{code:02x} dims {dims:?}")));
        }
        let len = file.metadata().map_err(|e| Error::io(images, e))?.len();
        let data_offset = header.len() as u64;
        if len != data_offset + declared as u64 {
            let what = if len < data_offset + declared as u64 { "truncated" } else { "has trailing data" };
            return Err(Error::data(images, format!("{what}: header {dims:?} needs {declared} bytes of data, file has {}", len.saturating_sub(data_offset))));
        }
        let lab = idx::read(labels)?;
        if lab.dims != [dims[0]] || !lab.is_u8 {
            return Err(Error::data(labels, format!("expected {} unsigned-byte labels for {}, got dims {:?}", dims[0], images.display(), lab.dims)));
        }
        let ids = lab.values.iter().map(|&v| v as usize).collect();
        let labels = Labels::new(ids, classes, one_hot).map_err(|e| Error::data(labels, e.to_string()))?;
        Ok(IdxImages { file: Mutex::new(file), path: images.to_path_buf(), data_offset, dims, labels, _spool: spool })
    }

    /// The train and test splits of an MNIST-format folder, read from disk.
    pub fn open_dir(dir: &Path, classes: usize, one_hot: bool) -> Result<(IdxImages, IdxImages)> {
        if !dir.is_dir() {
            return Err(Error::data(dir, "data folder not found (expected a folder holding the four MNIST-format IDX files)"));
        }
        let f = |i: usize| mnist::find(dir, mnist::FILES[i]);
        Ok((IdxImages::open(&f(0)?, &f(1)?, classes, one_hot)?, IdxImages::open(&f(2)?, &f(3)?, classes, one_hot)?))
    }
}

impl Source for IdxImages {
    fn len(&self) -> usize {
        self.dims[0]
    }
    fn input_shape(&self) -> Vec<usize> {
        vec![self.dims[1], self.dims[2], 1]
    }
    fn target_shape(&self) -> Vec<usize> {
        self.labels.shape()
    }
    fn read(&self, indices: &[usize], x: &mut Vec<f32>, y: &mut Vec<f32>) -> Result<()> {
        let size = self.dims[1] * self.dims[2];
        let mut bytes = vec![0u8; size];
        let mut file = self.file.lock().map_err(|_| Error::State("the data file lock is poisoned".into()))?;
        for &i in indices {
            file.seek(SeekFrom::Start(self.data_offset + (i * size) as u64)).and_then(|_| file.read_exact(&mut bytes)).map_err(|e| Error::io(&self.path, e))?;
            x.extend(bytes.iter().map(|&b| b as f32 / 255.0));
        }
        self.labels.append(indices, y);
        Ok(())
    }
}

/// An image folder decoded batch by batch.
pub struct FolderImages {
    folder: ImageFolder,
    options: ImageOptions,
    labels: Labels,
}

impl FolderImages {
    /// Reads `folder` with `options`, which must give an `image_size` (images
    /// are only decoded when their batch is read).
    pub fn new(folder: ImageFolder, options: ImageOptions, one_hot: bool) -> Result<FolderImages> {
        if options.image_size.is_none() {
            return Err(Error::argument("image_size", "streaming an image folder needs an image_size to resize every image to"));
        }
        let labels = Labels::new(folder.labels.clone(), folder.class_names.len(), one_hot)?;
        Ok(FolderImages { folder, options, labels })
    }
}

impl Source for FolderImages {
    fn len(&self) -> usize {
        self.folder.len()
    }
    fn input_shape(&self) -> Vec<usize> {
        let (h, w) = self.options.image_size.unwrap_or((0, 0));
        vec![h, w, self.options.color_mode.channels()]
    }
    fn target_shape(&self) -> Vec<usize> {
        self.labels.shape()
    }
    fn read(&self, indices: &[usize], x: &mut Vec<f32>, y: &mut Vec<f32>) -> Result<()> {
        for &i in indices {
            x.extend(images::load_image(&self.folder.files[i], &self.options)?.to_vec());
        }
        self.labels.append(indices, y);
        Ok(())
    }
}
