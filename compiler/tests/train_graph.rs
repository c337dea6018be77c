//! The whole training-step graph against central finite differences in f64: with plain SGD and
//! lr = 1, `w − w_next` is the gradient of the step's `loss` output, which the interpreter evaluates
//! at w ± h. This checks the forward pass in training mode (batch statistics, dropout masks), the
//! loss, the penalties and every gradient rule together.
mod support;

use std::collections::HashMap;
use std::path::Path;

use onyx_compiler::{Spec, to_onnx};
use support::interp::{Arr, run};

fn step_gradients_match_finite_differences(spec_text: &str, x_shape: &[usize], classes: usize) {
    let spec = Spec::parse(Path::new("inline.toml"), spec_text.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let model = onyx_compiler::compile(&spec).unwrap();
    let graphs = onyx_compiler::train::build(&model.graph, spec.train.as_ref().unwrap()).unwrap();
    let proto = to_onnx(&graphs.step);
    let batch = x_shape[0];
    let mut feeds: HashMap<String, Arr> = HashMap::new();
    let n: usize = x_shape.iter().product();
    feeds.insert(graphs.data_inputs[0].clone(), Arr::new(x_shape.to_vec(), (0..n).map(|i| ((i * 37 % 17) as f64 / 8.0) - 1.0).collect()));
    let target = match graphs.target_type.dtype {
        onyx_compiler::ir::DType::I64 => Arr::new(vec![batch], (0..batch).map(|i| (i % classes) as f64).collect()),
        _ => Arr::new(vec![batch, classes], (0..batch * classes).map(|i| (i % 3) as f64 / 2.0).collect()),
    };
    feeds.insert("target".into(), target);
    for s in graphs.params.iter().chain(&graphs.states) {
        let values = s.initial.as_f32().unwrap().iter().map(|&v| v as f64).collect();
        feeds.insert(s.input.clone(), Arr::new(s.initial.dims.clone(), values));
    }
    for m in &graphs.masks {
        let mut shape = vec![batch];
        shape.extend(&m.sample_shape);
        let len: usize = shape.iter().product();
        feeds.insert(m.input.clone(), Arr::new(shape, (0..len).map(|i| if i % 3 == 1 { 0.0 } else { 1.0 / (1.0 - m.rate as f64) }).collect()));
    }
    feeds.insert("step".into(), Arr::new(vec![], vec![0.0]));
    feeds.insert("lr".into(), Arr::new(vec![], vec![1.0]));
    let eval = |feeds: &HashMap<String, Arr>| {
        let inputs: Vec<(&str, Arr)> = feeds.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        run(&proto, &inputs)
    };
    let base = eval(&feeds);
    let h = 1e-6;
    let mut worst = 0.0f64;
    for p in &graphs.params {
        let w = feeds[&p.input].clone();
        let next = &base[&p.output];
        // A few entries of each parameter, spread over it.
        for i in (0..w.data.len()).step_by((w.data.len() / 5).max(1)) {
            let analytic = w.data[i] - next.data[i];
            let loss_at = |delta: f64| {
                let mut f = feeds.clone();
                f.get_mut(&p.input).unwrap().data[i] += delta;
                eval(&f)["loss"].data[0]
            };
            let numeric = (loss_at(h) - loss_at(-h)) / (2.0 * h);
            // Relative error, measured against 1e-6 for entries that are (near) zero, such as a conv
            // bias feeding batch normalization, whose mean it removes.
            let error = (analytic - numeric).abs() / analytic.abs().max(numeric.abs()).max(1e-6);
            worst = worst.max(error);
            assert!(error <= 1e-4, "{}[{i}]: analytic {analytic}, numeric {numeric}", p.input);
        }
    }
    println!("largest relative error {worst:.2e}");
}

#[test]
fn dense_with_batch_norm_dropout_and_penalties() {
    step_gradients_match_finite_differences(
        "[model]\nname = \"m\"\ninput = { name = \"x\", shape = [4] }\nseed = 3\n\n\
         [[layer]]\nkind = \"dense\"\nunits = 6\nactivation = \"tanh\"\nregularizer = { l1 = 0.01, l2 = 0.02 }\n\n\
         [[layer]]\nkind = \"batch_norm\"\n\n[[layer]]\nkind = \"dropout\"\nrate = 0.25\n\n\
         [[layer]]\nkind = \"dense\"\nunits = 3\nactivation = \"softmax\"\n\n\
         [train]\nloss = \"sparse_categorical_crossentropy\"\noptimizer = { kind = \"sgd\", lr = 1.0 }\n",
        &[5, 4],
        3,
    );
}

#[test]
fn conv_with_batch_norm_and_pooling() {
    step_gradients_match_finite_differences(
        "[model]\nname = \"c\"\ninput = { name = \"image\", shape = [2, 6, 6] }\nseed = 4\n\n\
         [[layer]]\nkind = \"conv2d\"\nfilters = 3\nkernel = 3\npadding = \"same\"\n\n\
         [[layer]]\nkind = \"batch_norm\"\n\n[[layer]]\nkind = \"activation\"\nactivation = \"elu\"\n\n\
         [[layer]]\nkind = \"avgpool2d\"\nsize = 2\n\n[[layer]]\nkind = \"flatten\"\n\n\
         [[layer]]\nkind = \"dense\"\nunits = 2\nactivation = \"sigmoid\"\n\n\
         [train]\nloss = \"mse\"\noptimizer = { kind = \"sgd\", lr = 1.0 }\n",
        &[3, 2, 6, 6],
        2,
    );
}

/// The update graph cut into parts for the threads of a data-parallel step: each parameter's
/// update (its value, gradient and optimizer state) lands whole in one part, the parts together give
/// every output of the whole graph exactly once and the same values, and the costs are dealt largest
/// first: mnist_cnn's dense kernel (204,800 of 225,034 parameters) fills one part of two alone.
#[test]
fn update_parts_split_the_update_by_parameter() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/mnist_cnn.toml");
    let spec = Spec::from_file(&path).unwrap();
    let model = onyx_compiler::compile(&spec).unwrap();
    let graphs = onyx_compiler::train::build(&model.graph, spec.train.as_ref().unwrap()).unwrap();
    let sharded = graphs.sharded.as_ref().unwrap();
    let whole = &sharded.update;
    let names = |g: &onyx_compiler::ir::Graph, ids: &[onyx_compiler::ir::ValueId]| ids.iter().map(|&v| g.value(v).name.clone()).collect::<Vec<_>>();
    let feeds: Vec<(String, Arr)> = whole
        .inputs
        .iter()
        .enumerate()
        .map(|(k, &v)| {
            let ty = &whole.value(v).ty;
            let dims: Vec<usize> = ty.shape.iter().map(|d| d.fixed().unwrap()).collect();
            let n: usize = dims.iter().product();
            // Positive values, so that the second moments' square roots are real.
            (whole.value(v).name.clone(), Arr::new(dims, (0..n).map(|i| ((i * 31 + k * 7) % 97) as f64 / 97.0 + 0.01).collect()))
        })
        .collect();
    let run_graph = |g: &onyx_compiler::ir::Graph| {
        let inputs: Vec<(&str, Arr)> = feeds.iter().filter(|(n, _)| names(g, &g.inputs).contains(n)).map(|(n, a)| (n.as_str(), a.clone())).collect();
        assert_eq!(inputs.len(), g.inputs.len(), "{}: every input is one of the whole graph's", g.name);
        run(&to_onnx(g), &inputs)
    };
    let expected = run_graph(whole);
    let params: Vec<&str> = graphs.params.iter().map(|p| p.input.as_str()).collect();
    for count in [1, 2, 3, 8, 20] {
        let parts = sharded.update_parts(count).unwrap();
        assert_eq!(parts.len(), count.min(params.len()), "{count} parts asked for");
        let mut seen: Vec<String> = vec![];
        for part in &parts {
            let outputs = names(&part.graph, &part.graph.outputs);
            let inputs = names(&part.graph, &part.graph.inputs);
            // A parameter's outputs (next value, moments) are all in the part that reads it.
            for p in params.iter().filter(|p| inputs.contains(&p.to_string())) {
                let own = whole.outputs.iter().map(|&v| whole.value(v).name.clone()).filter(|o| o.starts_with(&format!("{p}/")));
                for o in own {
                    assert!(outputs.contains(&o), "{count} parts: `{o}` is not with `{p}`");
                }
                assert!(part.grads.contains(&format!("{p}/grad")), "{count} parts: the part of `{p}` reads its gradient");
            }
            // Every input is read.
            for v in &part.graph.inputs {
                assert!(part.graph.nodes.iter().any(|n| n.inputs.contains(&Some(*v))), "{count} parts: `{}` is unread", part.graph.value(*v).name);
            }
            let got = run_graph(&part.graph);
            for o in &outputs {
                assert_eq!(got[o].data, expected[o].data, "{count} parts: `{o}`");
            }
            seen.extend(outputs);
        }
        seen.sort();
        let mut all = names(whole, &whole.outputs);
        all.sort();
        assert_eq!(seen, all, "{count} parts: every output exactly once");
        if count == 2 {
            let alone = names(&parts[0].graph, &parts[0].graph.outputs);
            assert_eq!(alone, ["dense/kernel/next", "dense/kernel/m/next", "dense/kernel/v/next"], "the largest parameter fills one part");
        }
    }
}
