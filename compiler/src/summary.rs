//! `onyx summary`: the model as Keras' `model.summary()` prints it, with Keras' parameter counts.
use crate::model::Model;

/// `1 node`, `2 nodes`.
pub fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// 1234567 → "1,234,567".
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Keras' `readable_memory_size` for float32 parameters: binary units, two decimals.
fn memory(params: usize) -> String {
    let mut size = params as f64 * 4.0;
    for unit in ["B", "KB", "MB", "GB"] {
        if size < 1024.0 || unit == "GB" {
            return format!("{size:.2} {unit}");
        }
        size /= 1024.0;
    }
    unreachable!("the loop returns at GB")
}

fn row(cells: &[String], widths: &[usize], right: &[bool]) -> String {
    let body: Vec<String> =
        cells.iter().zip(widths).zip(right).map(|((c, w), r)| if *r { format!(" {c:>w$} ") } else { format!(" {c:<w$} ") }).collect();
    format!("│{}│\n", body.join("│"))
}

fn rule(widths: &[usize], left: char, mid: char, right: char) -> String {
    let parts: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
    format!("{left}{}{right}\n", parts.join(&mid.to_string()))
}

pub fn summary(model: &Model, inputs: &[(String, String)]) -> String {
    // A model whose layers are not a simple chain gets Keras' functional view: input rows and a
    // "Connected to" column.
    let chain = model
        .layers
        .iter()
        .enumerate()
        .all(|(i, l)| l.inputs.len() == 1 && if i == 0 { inputs.len() == 1 } else { l.inputs[0] == model.layers[i - 1].name });
    let mut header = vec!["Layer (type)".to_string(), "Output Shape".to_string(), "Param #".to_string()];
    let mut rows: Vec<Vec<String>> = vec![];
    if !chain {
        header.push("Connected to".into());
        for (name, shape) in inputs {
            rows.push(vec![format!("{name} (InputLayer)"), shape.clone(), "0".into(), "-".into()]);
        }
    }
    for l in &model.layers {
        let mut r = vec![format!("{} ({})", l.name, l.keras_type), l.output.keras_shape(), thousands(l.params())];
        if !chain {
            r.push(l.inputs.join(", "));
        }
        rows.push(r);
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    widths[0] = widths[0].max(28);
    widths[1] = widths[1].max(20);
    widths[2] = widths[2].max(10);
    let right: Vec<bool> = (0..header.len()).map(|i| i == 2).collect();
    let (total, trainable, non) = model.keras_counts();
    let mut out = format!("Model: \"{}\"\n", model.graph.name);
    out += &rule(&widths, '┌', '┬', '┐');
    out += &row(&header, &widths, &right);
    out += &rule(&widths, '├', '┼', '┤');
    for r in &rows {
        out += &row(r, &widths, &right);
    }
    out += &rule(&widths, '└', '┴', '┘');
    out += &format!(" Total params: {} ({})\n", thousands(total), memory(total));
    out += &format!(" Trainable params: {} ({})\n", thousands(trainable), memory(trainable));
    out += &format!(" Non-trainable params: {} ({})\n", thousands(non), memory(non));
    let extra = model.onnx_only();
    if extra > 0 {
        out += &format!(
            " The .onnx file stores {} parameters: {} more than Keras counts, because ONNX's LSTM/GRU/RNN ops keep a\n second, recurrent bias (Rb) that Keras folds into one; onyx stores it as zeros.\n",
            thousands(total + extra),
            thousands(extra)
        );
    }
    out
}
