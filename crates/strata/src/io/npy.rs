//! NumPy's `.npy` and `.npz` files: arrays of float32, float64, uint8, int32
//! or int64 in C order, read as f32; written as little-endian float32.

use std::io::Read;
use std::path::Path;

use strata_core::{Error, Result, Tensor};

use super::atomic;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Element types Strata reads, with their sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dtype {
    F4,
    F8,
    U1,
    I4,
    I8,
}

impl Dtype {
    fn parse(descr: &str) -> Option<Dtype> {
        Some(match descr {
            "<f4" => Dtype::F4,
            "<f8" => Dtype::F8,
            "|u1" | "<u1" => Dtype::U1,
            "<i4" => Dtype::I4,
            "<i8" => Dtype::I8,
            _ => return None,
        })
    }
    fn size(self) -> usize {
        match self {
            Dtype::U1 => 1,
            Dtype::F4 | Dtype::I4 => 4,
            Dtype::F8 | Dtype::I8 => 8,
        }
    }
}

/// The value of `'key': value` in the header dict, up to the next top-level comma or brace.
fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') { rest.find(')')? + 1 } else { rest.find([',', '}'])? };
    Some(rest[..end].trim())
}

/// Parses a whole `.npy` file held in memory; `name` is used in errors.
pub fn parse(bytes: &[u8], name: &Path) -> Result<Tensor> {
    let bad = |msg: String| Error::data(name, msg);
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("not a .npy file (missing the \\x93NUMPY magic)".into()));
    }
    let (len_size, major) = match bytes[6] {
        1 => (2, 1),
        2 | 3 => (4, bytes[6]),
        v => return Err(bad(format!("unsupported .npy version {v}"))),
    };
    let header_len = if len_size == 2 { u16::from_le_bytes([bytes[8], bytes[9]]) as usize } else if bytes.len() >= 12 {
        u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
    } else {
        return Err(bad("truncated header".into()));
    };
    let start = 8 + len_size;
    let header = bytes.get(start..start + header_len).ok_or_else(|| bad(format!("truncated: the header needs {header_len} bytes")))?;
    let header = std::str::from_utf8(header).map_err(|_| bad(format!("version {major} header is not text")))?;
    let descr = header_value(header, "descr").map(|d| d.trim_matches(['\'', '"'])).ok_or_else(|| bad("header has no 'descr'".into()))?;
    let dtype = Dtype::parse(descr).ok_or_else(|| bad(format!("dtype '{descr}' is not supported (float32, float64, uint8, int32, int64, little-endian)")))?;
    if header_value(header, "fortran_order") != Some("False") {
        return Err(bad("Fortran-order arrays are not supported: save a C-order array (np.ascontiguousarray)".into()));
    }
    let shape_text = header_value(header, "shape").ok_or_else(|| bad("header has no 'shape'".into()))?;
    let shape = shape_text
        .trim_matches(['(', ')'])
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|d| d.parse::<usize>().map_err(|_| bad(format!("bad shape {shape_text}"))))
        .collect::<Result<Vec<usize>>>()?;
    let body = &bytes[start + header_len..];
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| bad(format!("shape {shape_text} overflows")))?;
    let needed = count.checked_mul(dtype.size()).ok_or_else(|| bad(format!("shape {shape_text} overflows")))?;
    if body.len() != needed {
        let what = if body.len() < needed { "truncated" } else { "has trailing data" };
        return Err(bad(format!("{what}: shape {shape_text} of {descr} needs {needed} bytes of data, the file has {}", body.len())));
    }
    let values: Vec<f32> = match dtype {
        Dtype::F4 => body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        Dtype::F8 => body.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect(),
        Dtype::U1 => body.iter().map(|&b| b as f32).collect(),
        Dtype::I4 => body.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32).collect(),
        Dtype::I8 => body.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect(),
    };
    Tensor::new(values, &shape)
}

/// Reads a `.npy` file.
pub fn read(path: &Path) -> Result<Tensor> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&bytes, path)
}

/// Reads every array of a `.npz` file (stored or deflated), by name without `.npy`.
pub fn read_npz(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    npz_from(file, file_len, path)
}

/// [`read_npz`] from any seekable reader of `file_len` bytes; `path` names it in errors.
pub fn npz_from<R: std::io::Read + std::io::Seek>(file: R, file_len: u64, path: &Path) -> Result<Vec<(String, Tensor)>> {
    let mut archive = zip::ZipArchive::new(file).map_err(|e| Error::data(path, format!("not a valid .npz (zip) file: {e}")))?;
    let mut arrays = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| Error::data(path, format!("entry {i}: {e}")))?;
        let name = entry.name().map_err(|e| Error::data(path, format!("entry {i}: {e}")))?.trim_end_matches(".npy").to_string();
        // Deflate cannot expand more than ~1032:1; refuse sizes the archive cannot hold.
        let size = entry.size();
        if size > file_len.saturating_mul(1032) {
            return Err(Error::data(path, format!("entry '{name}' claims {size} bytes, more than the archive can hold")));
        }
        let mut bytes = Vec::new();
        entry.by_ref().take(size + 1).read_to_end(&mut bytes).map_err(|e| Error::data(path, format!("entry '{name}': {e}")))?;
        let label = path.join(&name);
        arrays.push((name, parse(&bytes, &label)?));
    }
    Ok(arrays)
}

/// Writes `t` as a little-endian float32 `.npy` file, atomically.
pub fn write(path: &Path, t: &Tensor) -> Result<()> {
    atomic::write(path, &encode(t))
}

/// Writes named arrays as a `.npz` file (stored, as `np.savez`), atomically.
pub fn write_npz(path: &Path, arrays: &[(String, Tensor)]) -> Result<()> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let failed = |e: &dyn std::fmt::Display| Error::io(path, std::io::Error::other(e.to_string()));
    for (name, t) in arrays {
        zip.start_file(format!("{name}.npy"), zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored)).map_err(|e| failed(&e))?;
        zip.write_all(&encode(t)).map_err(|e| failed(&e))?;
    }
    let bytes = zip.finish().map_err(|e| failed(&e))?.into_inner();
    atomic::write(path, &bytes)
}

/// Arrays from a `.npy` file (one, named after the file) or a `.npz` file (each by its name).
pub fn read_arrays(path: &Path) -> Result<Vec<(String, Tensor)>> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("npz") => read_npz(path),
        _ => Ok(vec![(path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(), read(path)?)]),
    }
}

/// The bytes of `t` as a little-endian float32 `.npy` file.
fn encode(t: &Tensor) -> Vec<u8> {
    let dims: Vec<String> = t.shape().iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    // Pad so the data starts on a 64-byte boundary, ending the header with a newline.
    let total = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + t.numel() * 4);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in t.data().iter() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read() {
        let dir = std::env::temp_dir().join(format!("strata-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let t = Tensor::new((0..24).map(|i| i as f32 * 0.5).collect(), &[2, 3, 4]).unwrap();
        let p = dir.join("a.npy");
        write(&p, &t).unwrap();
        let back = read(&p).unwrap();
        assert_eq!(back.shape(), &[2, 3, 4]);
        assert_eq!(back.to_vec(), t.to_vec());
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!((bytes.len() - 24 * 4) % 64, 0, "data aligned to 64 bytes");
        let e = parse(&bytes[..bytes.len() - 3], &p).unwrap_err().to_string();
        assert!(e.contains("a.npy") && e.contains("truncated"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_npz_archives() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("strata-npz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.npy"), dir.join("b.npy"));
        write(&a, &Tensor::new(vec![1.0, 2.0, 3.0], &[3]).unwrap()).unwrap();
        write(&b, &Tensor::new(vec![4.0; 4], &[2, 2]).unwrap()).unwrap();
        let p = dir.join("arrays.npz");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
        for (name, file, method) in [("x.npy", &a, zip::CompressionMethod::Stored), ("y.npy", &b, zip::CompressionMethod::Deflated)] {
            z.start_file(name, zip::write::SimpleFileOptions::default().compression_method(method)).unwrap();
            z.write_all(&std::fs::read(file).unwrap()).unwrap();
        }
        z.finish().unwrap();
        let arrays = read_npz(&p).unwrap();
        assert_eq!(arrays[0].0, "x");
        assert_eq!(arrays[0].1.to_vec(), vec![1.0, 2.0, 3.0]);
        assert_eq!((arrays[1].0.as_str(), arrays[1].1.shape()), ("y", &[2usize, 2][..]));
        let written = dir.join("written.npz");
        write_npz(&written, &arrays).unwrap();
        let again = read_npz(&written).unwrap();
        assert_eq!(again.iter().map(|(n, t)| (n.clone(), t.to_vec())).collect::<Vec<_>>(), arrays.iter().map(|(n, t)| (n.clone(), t.to_vec())).collect::<Vec<_>>());
        std::fs::write(&p, b"PK\x03\x04 not really").unwrap();
        assert!(read_npz(&p).unwrap_err().to_string().contains("arrays.npz"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn header_fields() {
        let h = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }";
        assert_eq!(header_value(h, "descr"), Some("'<f8'"));
        assert_eq!(header_value(h, "fortran_order"), Some("False"));
        assert_eq!(header_value(h, "shape"), Some("(3, 2)"));
    }
}
