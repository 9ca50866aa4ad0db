//! The IDX format of the MNIST files: a big-endian header (two zero bytes, a
//! type code, the number of dimensions, then each dimension as a u32)
//! followed by the values. Plain or gzip-compressed.

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;
use strata_core::{Error, Result};

/// An IDX array: its dimensions and its values (converted to f32, unscaled).
#[derive(Clone, Debug, PartialEq)]
pub struct Idx {
    /// The size of each dimension, outermost first (`[60000, 28, 28]`).
    pub dims: Vec<usize>,
    /// Every value in row-major order, as stored (pixels stay 0-255).
    pub values: Vec<f32>,
    /// Whether the file stored unsigned bytes (pixels, labels).
    pub is_u8: bool,
}

/// Deflate cannot expand data by more than about 1032:1; a header that
/// promises more than this per compressed byte is lying.
const MAX_GZIP_RATIO: u64 = 1032;
const MAX_DIMS: usize = 8;

fn element_size(code: u8) -> Option<usize> {
    match code {
        0x08 | 0x09 => Some(1),
        0x0B => Some(2),
        0x0C | 0x0D => Some(4),
        0x0E => Some(8),
        _ => None,
    }
}

/// Reads an IDX file, gzip-compressed or not (told apart by the gzip magic bytes).
pub fn read(path: &Path) -> Result<Idx> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    from_bytes(&raw, path)
}

/// Parses IDX bytes, gzip-compressed or not; `path` names them in errors.
pub fn from_bytes(raw: &[u8], path: &Path) -> Result<Idx> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut decoder = GzDecoder::new(raw);
        let mut header = [0u8; 4];
        decoder.read_exact(&mut header).map_err(|e| Error::data(path, format!("cannot read the IDX header from the gzip stream: {e}")))?;
        let ndim = header[3] as usize;
        let mut dims = vec![0u8; 4 * ndim.min(MAX_DIMS)];
        decoder.read_exact(&mut dims).map_err(|e| Error::data(path, format!("truncated IDX header: {e}")))?;
        let mut bytes = header.to_vec();
        bytes.extend_from_slice(&dims);
        let declared = parse_header(&bytes, path)?.2;
        let limit = (raw.len() as u64).saturating_mul(MAX_GZIP_RATIO);
        if declared as u64 > limit {
            return Err(Error::data(path, format!("header promises {declared} bytes of data, more than a {}-byte gzip file can hold", raw.len())));
        }
        // Read at most one byte more than promised, so trailing data is detected without unbounded reads.
        decoder
            .take(declared as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::data(path, format!("corrupt gzip data: {e}")))?;
        parse(&bytes, path)
    } else {
        parse(raw, path)
    }
}

/// (type code, dims, data bytes declared) of an IDX header, validated.
pub(crate) fn parse_header(bytes: &[u8], path: &Path) -> Result<(u8, Vec<usize>, usize)> {
    if bytes.len() < 4 {
        return Err(Error::data(path, format!("file is {} bytes, too short for an IDX header", bytes.len())));
    }
    let (code, ndim) = (bytes[2], bytes[3] as usize);
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(Error::data(path, format!("not an IDX file: magic bytes {:02x} {:02x} {:02x} {:02x}", bytes[0], bytes[1], bytes[2], bytes[3])));
    }
    let size = element_size(code).ok_or_else(|| Error::data(path, format!("unknown IDX type code 0x{code:02x}")))?;
    if ndim == 0 || ndim > MAX_DIMS {
        return Err(Error::data(path, format!("IDX header declares {ndim} dimensions (expected 1 to {MAX_DIMS})")));
    }
    if bytes.len() < 4 + 4 * ndim {
        return Err(Error::data(path, "truncated IDX header"));
    }
    let dims: Vec<usize> = (0..ndim).map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize).collect();
    let count = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let declared = count.and_then(|c| c.checked_mul(size)).ok_or_else(|| Error::data(path, format!("IDX dimensions {dims:?} overflow")))?;
    Ok((code, dims, declared))
}

/// Parses a whole IDX file held in memory.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Idx> {
    let (code, dims, declared) = parse_header(bytes, path)?;
    let body = &bytes[4 + 4 * dims.len()..];
    if body.len() != declared {
        let what = if body.len() < declared { "truncated" } else { "has trailing data" };
        return Err(Error::data(path, format!("{what}: header {dims:?} needs {declared} bytes of data, file has {}", body.len())));
    }
    let values: Vec<f32> = match code {
        0x08 => body.iter().map(|&b| b as f32).collect(),
        0x09 => body.iter().map(|&b| b as i8 as f32).collect(),
        0x0B => body.chunks_exact(2).map(|c| i16::from_be_bytes([c[0], c[1]]) as f32).collect(),
        0x0C => body.chunks_exact(4).map(|c| i32::from_be_bytes(c.try_into().expect("4 bytes")) as f32).collect(),
        0x0D => body.chunks_exact(4).map(|c| f32::from_be_bytes(c.try_into().expect("4 bytes"))).collect(),
        _ => body.chunks_exact(8).map(|c| f64::from_be_bytes(c.try_into().expect("8 bytes")) as f32).collect(),
    };
    Ok(Idx { dims, values, is_u8: code == 0x08 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 0x08, dims.len() as u8];
        dims.iter().for_each(|d| b.extend_from_slice(&d.to_be_bytes()));
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn parses_u8_arrays() {
        let idx = parse(&idx_bytes(&[2, 3], &[0, 1, 2, 3, 4, 255]), Path::new("t")).unwrap();
        assert_eq!(idx.dims, vec![2, 3]);
        assert_eq!(idx.values, vec![0.0, 1.0, 2.0, 3.0, 4.0, 255.0]);
    }

    #[test]
    fn rejects_bad_files_with_the_reason() {
        let p = Path::new("labels.idx");
        let err = |b: &[u8]| parse(b, p).unwrap_err().to_string();
        assert!(err(&idx_bytes(&[4], &[1, 2])).contains("truncated"));
        assert!(err(&idx_bytes(&[1], &[1, 2])).contains("trailing"));
        assert!(err(&[1, 2, 8, 1, 0, 0, 0, 0]).contains("magic"));
        assert!(err(&[0, 0, 0x42, 1, 0, 0, 0, 1, 0]).contains("type code"));
        assert!(err(&[0, 0]).contains("too short"));
        assert!(err(&[0, 0, 8, 0]).contains("0 dimensions"));
        assert!(err(&idx_bytes(&[u32::MAX, u32::MAX, u32::MAX], &[])).contains("labels.idx"));
    }
}
