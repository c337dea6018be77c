//! Class names and the top classes of a classifier's output, for predictions people read.
use onyx_proto::onnx::ModelProto;

pub use onyx_compiler::metadata::CLASSES_KEY;

/// The class names a model keeps, if any.
pub fn class_names(model: &ModelProto) -> Option<Vec<String>> {
    let text = model.metadata_props.iter().find(|p| p.key.as_deref() == Some(CLASSES_KEY))?.value.as_deref()?;
    serde_json::from_str(text).ok()
}

/// The `k` largest values of `row` with their indices, largest first (the lower index first among
/// equals, as NumPy's stable argsort of the negated row gives).
pub fn top_k(row: &[f64], k: usize) -> Vec<(usize, f64)> {
    let mut order: Vec<usize> = (0..row.len()).collect();
    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
    order.into_iter().take(k).map(|i| (i, row[i])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_classes_come_largest_first_and_ties_in_label_order() {
        assert_eq!(top_k(&[0.1, 0.5, 0.2, 0.5], 3), vec![(1, 0.5), (3, 0.5), (2, 0.2)]);
        assert_eq!(top_k(&[0.3], 5), vec![(0, 0.3)]);
    }
}
