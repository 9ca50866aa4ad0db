//! CSV files of numbers: every column a feature, except an optional label
//! column chosen by header name or 0-based index. A first row that is not
//! all numbers is taken as the header.

use std::path::Path;

use strata_core::{Error, Result, Tensor};

/// Features `[rows, columns]` and, if a label column was named, labels `[rows]`.
pub fn read(path: &Path, label_column: Option<&str>) -> Result<(Tensor, Option<Tensor>)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).peekable();
    let first: Vec<&str> = lines.peek().map(|(_, l)| l.split(',').map(str::trim).collect()).unwrap_or_default();
    if first.is_empty() {
        return Err(Error::data(path, "is empty"));
    }
    let header = first.iter().any(|f| f.parse::<f32>().is_err());
    if header {
        lines.next();
    }
    let label = match label_column {
        None => None,
        Some(name) => Some(match (header, first.iter().position(|h| *h == name), name.parse::<usize>()) {
            (true, Some(i), _) => i,
            (_, _, Ok(i)) if i < first.len() => i,
            _ => return Err(Error::data(path, format!("has no label column '{name}' (columns: {})", if header { first.join(", ") } else { format!("0..{}", first.len()) }))),
        }),
    };
    let columns = first.len();
    let (mut features, mut labels, mut rows) = (Vec::new(), Vec::new(), 0usize);
    for (line_no, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != columns {
            return Err(Error::data(path, format!("line {}: {} fields, expected {columns}", line_no + 1, fields.len())));
        }
        for (c, f) in fields.iter().enumerate() {
            let v: f32 = f.parse().map_err(|_| Error::data(path, format!("line {}, column {}: '{f}' is not a number", line_no + 1, c + 1)))?;
            if Some(c) == label {
                labels.push(v);
            } else {
                features.push(v);
            }
        }
        rows += 1;
    }
    let width = columns - usize::from(label.is_some());
    let x = Tensor::new(features, &[rows, width])?;
    let y = label.map(|_| Tensor::new(labels, &[rows])).transpose()?;
    Ok((x, y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_features_and_a_named_label() {
        let dir = std::env::temp_dir().join(format!("strata-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("d.csv");
        std::fs::write(&p, "a,label,b\n1,0,2\n3,1,4.5\n").unwrap();
        let (x, y) = read(&p, Some("label")).unwrap();
        assert_eq!((x.shape(), x.to_vec()), (&[2usize, 2][..], vec![1.0, 2.0, 3.0, 4.5]));
        assert_eq!(y.unwrap().to_vec(), vec![0.0, 1.0]);
        std::fs::write(&p, "1,2\n3,x\n").unwrap();
        let e = read(&p, None).unwrap_err().to_string();
        assert!(e.contains("line 2, column 2") && e.contains("'x'"), "{e}");
        assert!(read(&p, Some("nope")).unwrap_err().to_string().contains("no label column 'nope'"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
