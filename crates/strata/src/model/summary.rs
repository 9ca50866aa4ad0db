//! `summary()`: the Keras-style table of layers, output shapes and parameter counts.

use strata_core::Result;

use super::sequential::Sequential;

/// `60554 -> "60,554"`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes of `n` float32 values, as Keras prints them (`236.54 KB`).
fn size(n: usize) -> String {
    let bytes = n as f64 * 4.0;
    match bytes {
        b if b < 1024.0 => format!("{b:.2} B"),
        b if b < 1024.0 * 1024.0 => format!("{:.2} KB", b / 1024.0),
        b => format!("{:.2} MB", b / (1024.0 * 1024.0)),
    }
}

fn shape_with_batch(shape: &[usize]) -> String {
    let parts: Vec<String> = std::iter::once("None".to_string()).chain(shape.iter().map(|d| d.to_string())).collect();
    format!("({})", parts.join(", "))
}

impl Sequential {
    /// The summary table as a string. Builds the model from the first layer's
    /// `input_shape` if it is not built yet.
    pub fn summary_string(&mut self) -> Result<String> {
        self.build_from_declared()?;
        let shapes = self.shapes.clone().unwrap_or_default();
        let rows: Vec<[String; 3]> = self
            .layers
            .iter()
            .zip(&shapes)
            .map(|(l, (_, out))| {
                let params: usize = l.weights().iter().map(|w| w.tensor.numel()).sum();
                [format!("{} ({})", l.name(), l.class_name()), shape_with_batch(out), thousands(params)]
            })
            .collect();
        let widths = [33usize, 24, 15];
        let line = |l: &str, m: &str, r: &str, fill: &str| {
            format!("{l}{}{m}{}{m}{}{r}\n", fill.repeat(widths[0]), fill.repeat(widths[1]), fill.repeat(widths[2]))
        };
        let row = |cells: &[String; 3], bar: &str| {
            format!("{bar} {:<w0$} {bar} {:<w1$} {bar} {:>w2$} {bar}\n", cells[0], cells[1], cells[2], w0 = widths[0] - 2, w1 = widths[1] - 2, w2 = widths[2] - 2)
        };
        let mut s = format!("Model: \"{}\"\n", self.name());
        s += &line("┏", "┳", "┓", "━");
        s += &row(&["Layer (type)".into(), "Output Shape".into(), "Param #".into()], "┃");
        s += &line("┡", "╇", "┩", "━");
        for r in &rows {
            s += &row(r, "│");
        }
        s += &line("└", "┴", "┘", "─");
        let total = self.count_params();
        let trainable: usize = self.trainable_weights().iter().map(|t| t.numel()).sum();
        s += &format!(" Total params: {} ({})\n", thousands(total), size(total));
        s += &format!(" Trainable params: {} ({})\n", thousands(trainable), size(trainable));
        s += &format!(" Non-trainable params: {} ({})\n", thousands(total - trainable), size(total - trainable));
        Ok(s)
    }

    /// Prints the summary table to standard output.
    pub fn summary(&mut self) -> Result<()> {
        print!("{}", self.summary_string()?);
        Ok(())
    }
}
