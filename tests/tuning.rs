//! The tuned training step (commuted pooling, cropped maps, sub-grid convs, patch products) computes
//! what the plain step autodiff writes: one step of each from the same weights on the same batch
//! gives the same loss and the same updated weights, and the tuned one really is rewritten.
mod support;

use ndarray::ArrayD;
use onyx_compiler::train::{Tuning, build_with};
use onyx_runtime::train::{FitOptions, Trainer};
use onyx_runtime::{HostTensor, TractEngine};

#[test]
fn the_tuned_step_computes_the_plain_one() {
    let spec = onyx_compiler::Spec::from_file(&support::repo().join("models/mnist_cnn.toml")).unwrap();
    let model = onyx_compiler::compile(&spec).unwrap();
    let train = spec.train.clone().unwrap();
    let n = 16;
    let x = HostTensor::F32(ArrayD::from_shape_fn(vec![n, 1, 28, 28], |i| ((i[0] * 31 + i[2] * 7 + i[3] * 3) % 17) as f32 / 17.0));
    let y = HostTensor::I64(ArrayD::from_shape_fn(vec![n], |i| (i[0] % 10) as i64));
    let step = |tuning: Tuning| {
        let graphs = build_with(&model.graph, &train, tuning).unwrap();
        let ops: Vec<String> = graphs.step.nodes.iter().map(|node| node.op.op_type().to_string()).collect();
        let mut trainer = Trainer::new(graphs, &TractEngine).unwrap();
        trainer.set_threads(1);
        let opts = FitOptions { epochs: 1, batch_size: Some(n), ..FitOptions::from_spec(&train, 1) };
        let history = trainer.fit(std::slice::from_ref(&x), &y, None, &opts, &mut |_| {}).unwrap();
        let params: Vec<(String, Vec<f64>)> = trainer.params().unwrap().into_iter().map(|(name, t)| (name, t.to_f64_vec())).collect();
        (history[0].loss, params, ops)
    };
    let ((plain_loss, plain, plain_ops), (tuned_loss, tuned, tuned_ops)) = (step(Tuning::PLAIN), step(Tuning::TUNED));
    assert_ne!(plain_ops, tuned_ops, "the tuned step is rewritten");
    assert!((plain_loss - tuned_loss).abs() <= 1e-5 * plain_loss.abs(), "losses {plain_loss} and {tuned_loss}");
    assert_eq!(plain.len(), tuned.len());
    for ((name, a), (other, b)) in plain.iter().zip(&tuned) {
        assert_eq!(name, other);
        let scale = a.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
        let diff = a.iter().zip(b).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max);
        assert!(diff <= 1e-4 * scale, "`{name}`: the plain and tuned steps differ by {diff} (scale {scale})");
    }
}
