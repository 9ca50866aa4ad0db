//! `summary()`: the Keras-style table of layers, output shapes and parameter
//! counts; for a functional model, with Keras's "Connected to" column.

use strata_core::Result;

use super::functional::Model;

/// `60554 -> "60,554"`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
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

/// `text` cut into lines of at most `width` characters, at spaces where it can be.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let line = lines.last_mut().expect("never empty");
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(String::new());
        }
        let line = lines.last_mut().expect("never empty");
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        while lines.last().expect("never empty").chars().count() > width {
            let long = lines.pop().expect("never empty");
            let (head, tail): (String, String) = (long.chars().take(width).collect(), long.chars().skip(width).collect());
            lines.push(head);
            lines.push(tail);
        }
    }
    lines
}

/// Draws rows of cells as Keras's summary does, wrapping long cells.
fn table(header: &[&str], rows: &[Vec<String>], widths: &[usize], right: usize) -> String {
    let line = |l: &str, m: &str, r: &str, fill: &str| format!("{l}{}{r}\n", widths.iter().map(|w| fill.repeat(*w)).collect::<Vec<_>>().join(m));
    let row = |cells: &[String], bar: &str| {
        let wrapped: Vec<Vec<String>> = cells.iter().zip(widths).map(|(c, w)| wrap(c, w - 2)).collect();
        let height = wrapped.iter().map(|w| w.len()).max().unwrap_or(1);
        (0..height)
            .map(|k| {
                let parts: Vec<String> = wrapped
                    .iter()
                    .zip(widths)
                    .enumerate()
                    .map(|(i, (lines, w))| {
                        let text = lines.get(k).map(String::as_str).unwrap_or("");
                        if i == right { format!(" {text:>0$} ", w - 2) } else { format!(" {text:<0$} ", w - 2) }
                    })
                    .collect();
                format!("{bar}{}{bar}\n", parts.join(bar))
            })
            .collect::<String>()
    };
    let mut s = line("┏", "┳", "┓", "━");
    s += &row(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>(), "┃");
    s += &line("┡", "╇", "┩", "━");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 && widths.len() > 3 {
            s += &line("├", "┼", "┤", "─");
        }
        s += &row(r, "│");
    }
    s += &line("└", "┴", "┘", "─");
    s
}

impl Model {
    /// The summary table as a string. Builds a Sequential from its first
    /// layer's `input_shape` if it is not built yet.
    pub fn summary_string(&mut self) -> Result<String> {
        self.build_from_declared()?;
        let params = |i: usize| thousands(self.layers[i].weights().iter().map(|w| w.tensor.numel()).sum());
        let shape = |i: usize| self.layer_output_shape(i).map(|s| shape_with_batch(&s)).unwrap_or_else(|| "?".into());
        let mut s = format!("Model: \"{}\"\n", self.name());
        if self.sequential {
            let rows: Vec<Vec<String>> = (0..self.layers.len()).map(|i| vec![format!("{} ({})", self.layers[i].name(), self.layers[i].class_name()), shape(i), params(i)]).collect();
            s += &table(&["Layer (type)", "Output Shape", "Param #"], &rows, &[33, 24, 15], 2);
        } else {
            let g = self.graph.as_ref().expect("a functional model is built");
            let mut rows: Vec<Vec<String>> =
                g.input_names.iter().zip(self.input_shapes()).map(|(n, shape)| vec![format!("{n} (InputLayer)"), shape_with_batch(&shape), "0".into(), "-".into()]).collect();
            for (i, layer) in self.layers.iter().enumerate() {
                let mut from = Vec::new();
                for call in g.calls.iter().filter(|c| c.layer.same(layer)) {
                    for t in &call.inputs {
                        let (name, node, index) = g.reference(t);
                        from.push(format!("{name}[{node}][{index}]"));
                    }
                }
                rows.push(vec![format!("{} ({})", layer.name(), layer.class_name()), shape(i), params(i), from.join(", ")]);
            }
            s += &table(&["Layer (type)", "Output Shape", "Param #", "Connected to"], &rows, &[26, 22, 12, 26], 2);
        }
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
