//! Text in: UTF-8 files, and folders of them by class (Keras's
//! `text_dataset_from_directory`), ready for a `TextVectorization`.

use std::path::{Path, PathBuf};

use strata_core::{Error, Result};

/// The most bytes one text file may have (1 GiB): past it, a file is more
/// likely a wrong path than a corpus.
pub const MAX_TEXT_BYTES: u64 = 1 << 30;

/// A file's text. Files that are not UTF-8 are refused, naming the offset
/// and line of the first byte that is not.
pub fn read_text(path: &Path) -> Result<String> {
    let size = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    if size > MAX_TEXT_BYTES {
        return Err(Error::data(path, format!("is {size} bytes, more than the {MAX_TEXT_BYTES} a text file may have")));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    text_of(bytes, path)
}

/// `bytes` as text; `path` names them in the error when they are not UTF-8.
pub fn text_of(bytes: Vec<u8>, path: &Path) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
        Error::data(path, format!("is not UTF-8 text: byte 0x{:02x} at offset {at} (line {line}) does not begin a valid character; convert it to UTF-8 first (iconv -t UTF-8)", bytes[at]))
    })
}

/// A file's text, refused when it has none.
pub fn read_nonempty_text(path: &Path) -> Result<String> {
    let text = read_text(path)?;
    match text.is_empty() {
        true => Err(Error::data(path, "is empty: there is no text to read")),
        false => Ok(text),
    }
}

/// A folder of `.txt` files in one sub-folder per class (class names in
/// alphabetical order, files sorted by path), as Keras's
/// `text_dataset_from_directory` reads one.
#[derive(Clone, Debug)]
pub struct TextFolder {
    /// Class names in label order.
    pub class_names: Vec<String>,
    /// Every text file.
    pub files: Vec<PathBuf>,
    /// The class id of each of `files`.
    pub labels: Vec<usize>,
}

impl TextFolder {
    /// Lists `dir`; a folder without class sub-folders of `.txt` files is an error.
    pub fn open(dir: &Path) -> Result<TextFolder> {
        if !dir.is_dir() {
            return Err(Error::data(dir, "text folder not found"));
        }
        let (class_names, files, labels) = super::class_folders(dir, |p| super::has_extension(p, "txt"))?;
        if files.is_empty() {
            return Err(Error::data(dir, "has no class sub-folders of .txt files (as text_dataset_from_directory reads: DIR/class_a/1.txt, DIR/class_b/2.txt, ...)"));
        }
        Ok(TextFolder { class_names, files, labels })
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are no files.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Every file's text (an empty file is an empty text), in `files`' order.
    pub fn load(&self) -> Result<Vec<String>> {
        self.files.iter().map(|f| read_text(f)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_first_byte_that_is_not_utf8() {
        let e = text_of(b"ok\nline two \xff".to_vec(), Path::new("t.txt")).unwrap_err().to_string();
        assert!(e.contains("t.txt") && e.contains("0xff at offset 12 (line 2)"), "{e}");
        assert_eq!(text_of("caf\u{e9}".as_bytes().to_vec(), Path::new("t")).unwrap(), "caf\u{e9}");
    }
}
