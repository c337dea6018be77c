//! Parameter counts and output shapes against Keras: the counts `model.summary()` prints for the
//! example specs, the per-layer formulas of each layer kind, and Keras' output-size arithmetic.
use std::path::Path;

use onyx_compiler::{Model, Spec, compile, compile_file};

fn model_file(name: &str) -> Model {
    let path = format!("{}/../models/{name}", env!("CARGO_MANIFEST_DIR"));
    compile_file(Path::new(&path)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn inline(text: &str) -> Model {
    let spec = Spec::parse(Path::new("x.toml"), text.to_string()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    compile(&spec).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A one-input model with the given per-sample input shape (and dtype) and layers.
fn chain(shape: &str, dtype: &str, layers: &str) -> Model {
    inline(&format!("[model]\nname = \"m\"\ninput = {{ name = \"x\", shape = {shape}, dtype = \"{dtype}\" }}\n\n{layers}"))
}

fn per_layer(model: &Model) -> Vec<usize> {
    model.layers.iter().map(|l| l.params()).collect()
}

fn shapes(model: &Model) -> Vec<String> {
    model.layers.iter().map(|l| l.output.keras_shape()).collect()
}

// ── the example specs ───────────────────────────────────────────────────────────────────────────

#[test]
fn he_mlp_counts_71() {
    // Dense(10) on 5 features: 5·10 + 10; Dense(1): 10·1 + 1.
    let m = model_file("he_mlp.toml");
    assert_eq!(m.keras_counts(), (71, 71, 0));
    assert_eq!(per_layer(&m), vec![60, 11]);
    assert_eq!(m.onnx_only(), 0);
    assert_eq!(shapes(&m), vec!["(None, 10)", "(None, 1)"]);
}

#[test]
fn mnist_cnn_counts_225034() {
    let m = model_file("mnist_cnn.toml");
    assert_eq!(m.keras_counts(), (225_034, 225_034, 0));
    // conv 3·3·1·32+32, pool, conv 3·3·32·64+64, pool, flatten, dense 1600·128+128, dense 128·10+10.
    assert_eq!(per_layer(&m), vec![320, 0, 18_496, 0, 0, 204_928, 1_290]);
    assert_eq!(m.onnx_only(), 0);
    assert_eq!(
        shapes(&m),
        vec!["(None, 32, 26, 26)", "(None, 32, 13, 13)", "(None, 64, 11, 11)", "(None, 64, 5, 5)", "(None, 1600)", "(None, 128)", "(None, 10)"]
    );
    let kinds: Vec<&str> = m.layers.iter().map(|l| l.keras_type.as_str()).collect();
    assert_eq!(kinds, vec!["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]);
    // What the file stores is what Keras counts.
    assert_eq!(m.graph.stored_param_counts(), (225_034, 0));
}

#[test]
fn mnist_summary_prints_keras_totals() {
    let m = model_file("mnist_cnn.toml");
    let text = onyx_compiler::summary::summary(&m, &[("image".into(), "(None, 1, 28, 28)".into())]);
    for want in ["Total params: 225,034", "Trainable params: 225,034", "Non-trainable params: 0", "Model: \"mnist_cnn\""] {
        assert!(text.contains(want), "summary lacks {want:?}:\n{text}");
    }
    // Keras' memory figure: 225,034 float32s are 879.04 KB.
    assert!(text.contains("225,034 (879.04 KB)"), "{text}");
    assert!(text.contains("18,496") && text.contains("204,928"), "{text}");
    assert!(!text.contains("The .onnx file stores"), "{text}");
}

#[test]
fn lstm_forecast_counts_10451_plus_200_onnx_only() {
    // LSTM(50) on 1 feature: 4·50·(1 + 50) + 4·50 = 10,400; Dense(1): 51. ONNX keeps a second bias.
    let m = model_file("lstm_forecast.toml");
    assert_eq!(m.keras_counts(), (10_451, 10_451, 0));
    assert_eq!(per_layer(&m), vec![10_400, 51]);
    assert_eq!(m.onnx_only(), 200);
    assert_eq!(m.graph.stored_param_counts(), (10_651, 0));
    assert_eq!(shapes(&m), vec!["(None, 50)", "(None, 1)"]);
    let text = onyx_compiler::summary::summary(&m, &[("window".into(), "(None, 100, 1)".into())]);
    assert!(text.contains("Total params: 10,451") && text.contains("10,651") && text.contains("200 more"), "{text}");
}

#[test]
fn gru_classifier_counts() {
    // Embedding(100, 16): 1,600; GRU(32, reset_after) on 16: 3·32·(16+32) + 2·3·32 = 4,800; Dense(3): 99.
    let m = model_file("gru_classifier.toml");
    assert_eq!(per_layer(&m), vec![1_600, 4_800, 99]);
    assert_eq!(m.keras_counts(), (6_499, 6_499, 0));
    assert_eq!(m.onnx_only(), 0);
    assert_eq!(shapes(&m), vec!["(None, 20, 16)", "(None, 32)", "(None, 3)"]);
}

#[test]
fn resnet_small_counts() {
    // Five 3x3 convs: 1→16 (160), then four 16→16 (2,320 each, but 2,304 for the one before batch
    // norm, which has no bias); batch norm on 16 channels: 32 trainable + 32 moving statistics;
    // dense 16→10: 170.
    let m = model_file("resnet_small.toml");
    assert_eq!(per_layer(&m), vec![160, 2_304, 64, 0, 2_320, 0, 0, 2_320, 2_320, 0, 0, 0, 0, 170]);
    assert_eq!(m.keras_counts(), (9_658, 9_626, 32));
    let s = shapes(&m);
    assert!(s[..11].iter().all(|s| s == "(None, 16, 8, 8)"), "{s:?}");
    assert_eq!(s[11..], ["(None, 16)", "(None, 16)", "(None, 10)"]);
}

#[test]
fn conv1d_rnn_counts() {
    // conv1d 5·4·8+8 = 168; grouped conv1d 3·(8/2)·8+8 = 104; reshape 0; SimpleRNN(8) on 8:
    // 8·(8+8)+8 = 136; SimpleRNN(6) on 8: 6·(8+6)+6 = 90; dense 6→5 twice: 35 each; concat 0;
    // batch norm on 10 features: 40 (20 non-trainable); dense 10→2: 22.
    let m = model_file("conv1d_rnn.json");
    assert_eq!(per_layer(&m), vec![168, 104, 0, 136, 90, 35, 35, 0, 40, 22]);
    assert_eq!(m.keras_counts(), (630, 610, 20));
    assert_eq!(m.onnx_only(), 8 + 6);
    // 32 steps, same padding, stride 2: 16; dilation 2, kernel 3, valid: 16 - 4 = 12.
    assert_eq!(shapes(&m)[..5], ["(None, 8, 16)", "(None, 8, 12)", "(None, 12, 8)", "(None, 12, 8)", "(None, 6)"]);
    assert_eq!(shapes(&m)[7..], ["(None, 10)", "(None, 10)", "(None, 2)"]);
}

#[test]
fn regression_specs_count_one_unit() {
    assert_eq!(model_file("linear_regression.toml").keras_counts(), (11, 11, 0));
    assert_eq!(model_file("logistic_regression.toml").keras_counts(), (31, 31, 0));
}

// ── per-layer formulas ──────────────────────────────────────────────────────────────────────────

#[test]
fn gru_reset_after_counts_both_biases() {
    let m = chain("[20, 16]", "float32", "[[layer]]\nkind = \"gru\"\nunits = 32\nreset_after = true\n");
    assert_eq!(per_layer(&m), vec![3 * 32 * (16 + 32) + 2 * 3 * 32]);
    assert_eq!(per_layer(&m), vec![4_800]);
    assert_eq!(m.onnx_only(), 0);
    // The default is reset_after, as in Keras 2.x/3.
    let default = chain("[20, 16]", "float32", "[[layer]]\nkind = \"gru\"\nunits = 32\n");
    assert_eq!(per_layer(&default), vec![4_800]);
}

#[test]
fn gru_without_reset_after_counts_one_bias() {
    let m = chain("[20, 16]", "float32", "[[layer]]\nkind = \"gru\"\nunits = 32\nreset_after = false\n");
    assert_eq!(per_layer(&m), vec![3 * 32 * (16 + 32) + 3 * 32]);
    assert_eq!(m.keras_counts(), (4_704, 4_704, 0));
    assert_eq!(m.onnx_only(), 96);
    assert_eq!(m.graph.stored_param_counts(), (4_800, 0));
}

#[test]
fn simple_rnn_counts() {
    let m = chain("[12, 8]", "float32", "[[layer]]\nkind = \"simple_rnn\"\nunits = 8\n");
    assert_eq!(per_layer(&m), vec![8 * (8 + 8) + 8]);
    assert_eq!(m.keras_counts(), (136, 136, 0));
    assert_eq!(m.onnx_only(), 8);
}

#[test]
fn recurrent_without_bias_counts_no_bias() {
    let m = chain("[12, 8]", "float32", "[[layer]]\nkind = \"lstm\"\nunits = 4\nuse_bias = false\n");
    assert_eq!(per_layer(&m), vec![4 * 4 * (8 + 4)]);
    assert_eq!(m.onnx_only(), 0);
}

#[test]
fn batch_norm_counts_moving_statistics_as_non_trainable() {
    let m = chain("[16, 4, 4]", "float32", "[[layer]]\nkind = \"batch_norm\"\n");
    assert_eq!(m.keras_counts(), (64, 32, 32));
    assert_eq!(m.layers[0].non_trainable, 32);
    // Without center and scale only the moving statistics remain (Keras: 2·C non-trainable).
    let bare = chain("[16, 4, 4]", "float32", "[[layer]]\nkind = \"batch_norm\"\ncenter = false\nscale = false\n");
    assert_eq!(bare.keras_counts(), (32, 0, 32));
    let text = onyx_compiler::summary::summary(&m, &[("x".into(), "(None, 16, 4, 4)".into())]);
    assert!(text.contains("Total params: 64") && text.contains("Trainable params: 32") && text.contains("Non-trainable params: 32"), "{text}");
}

#[test]
fn embedding_counts_its_table() {
    let m = chain("[20]", "int64", "[[layer]]\nkind = \"embedding\"\ninput_dim = 100\noutput_dim = 16\n");
    assert_eq!(m.keras_counts(), (1_600, 1_600, 0));
    assert_eq!(shapes(&m), vec!["(None, 20, 16)"]);
}

#[test]
fn conv1d_counts() {
    let m = chain("[4, 32]", "float32", "[[layer]]\nkind = \"conv1d\"\nfilters = 8\nkernel = 5\n");
    assert_eq!(per_layer(&m), vec![5 * 4 * 8 + 8]);
    assert_eq!(per_layer(&m), vec![168]);
    assert_eq!(shapes(&m), vec!["(None, 8, 28)"]);
}

#[test]
fn grouped_conv2d_counts() {
    let m = chain("[4, 8, 8]", "float32", "[[layer]]\nkind = \"conv2d\"\nfilters = 8\nkernel = 3\ngroups = 2\n");
    assert_eq!(per_layer(&m), vec![3 * 3 * 2 * 8 + 8]);
    assert_eq!(per_layer(&m), vec![152]);
    assert_eq!(shapes(&m), vec!["(None, 8, 6, 6)"]);
}

#[test]
fn layers_without_bias_count_kernels_only() {
    let dense = chain("[5]", "float32", "[[layer]]\nkind = \"dense\"\nunits = 7\nuse_bias = false\n");
    assert_eq!(per_layer(&dense), vec![7 * 5]);
    let conv = chain("[3, 8, 8]", "float32", "[[layer]]\nkind = \"conv2d\"\nfilters = 4\nkernel = [3, 2]\nuse_bias = false\n");
    assert_eq!(per_layer(&conv), vec![3 * 2 * 3 * 4]);
    assert_eq!(shapes(&conv), vec!["(None, 4, 6, 7)"]);
}

#[test]
fn dense_on_sequences_acts_on_the_last_axis() {
    // Keras' Dense on (T, F) applies one (F, units) kernel per step.
    let m = chain("[6, 5]", "float32", "[[layer]]\nkind = \"dense\"\nunits = 3\n");
    assert_eq!(per_layer(&m), vec![5 * 3 + 3]);
    assert_eq!(shapes(&m), vec!["(None, 6, 3)"]);
}

#[test]
fn parameter_free_layers_count_zero() {
    let m = chain(
        "[3, 8, 8]",
        "float32",
        "[[layer]]\nkind = \"maxpool2d\"\n\n[[layer]]\nkind = \"dropout\"\nrate = 0.5\n\n[[layer]]\nkind = \"activation\"\nactivation = \"relu\"\n\n[[layer]]\nkind = \"flatten\"\n\n[[layer]]\nkind = \"reshape\"\nshape = [4, 12]\n",
    );
    assert_eq!(m.keras_counts(), (0, 0, 0));
    assert_eq!(shapes(&m), vec!["(None, 3, 4, 4)", "(None, 3, 4, 4)", "(None, 3, 4, 4)", "(None, 48)", "(None, 4, 12)"]);
}

// ── output shapes (Keras' size arithmetic) ──────────────────────────────────────────────────────

#[test]
fn conv2d_same_padding_gives_ceil_input_over_stride() {
    for (size, want) in [(7, 4), (8, 4), (9, 5), (1, 1)] {
        let m = chain(
            &format!("[2, {size}, {size}]"),
            "float32",
            "[[layer]]\nkind = \"conv2d\"\nfilters = 3\nkernel = 3\nstride = 2\npadding = \"same\"\n",
        );
        assert_eq!(shapes(&m), vec![format!("(None, 3, {want}, {want})")], "same padding, stride 2, on {size}");
    }
}

#[test]
fn conv2d_valid_padding_gives_floor_formula() {
    // ⌊(7 − 3) / 2⌋ + 1 = 3 high; ⌊(10 − 3) / 2⌋ + 1 = 4 wide.
    let m = chain("[2, 7, 10]", "float32", "[[layer]]\nkind = \"conv2d\"\nfilters = 3\nkernel = 3\nstride = 2\n");
    assert_eq!(shapes(&m), vec!["(None, 3, 3, 4)"]);
    let strided = chain("[2, 7, 10]", "float32", "[[layer]]\nkind = \"conv2d\"\nfilters = 3\nkernel = [3, 1]\nstride = [1, 3]\n");
    assert_eq!(shapes(&strided), vec!["(None, 3, 5, 4)"]);
}

#[test]
fn maxpool_defaults_to_size_and_stride_two() {
    let m = chain("[3, 13, 13]", "float32", "[[layer]]\nkind = \"maxpool2d\"\n");
    assert_eq!(shapes(&m), vec!["(None, 3, 6, 6)"]);
    // Same padding rounds up instead: ⌈13 / 2⌉ = 7.
    let same = chain("[3, 13, 13]", "float32", "[[layer]]\nkind = \"avgpool2d\"\npadding = \"same\"\n");
    assert_eq!(shapes(&same), vec!["(None, 3, 7, 7)"]);
    // Size 3, stride defaulting to 3: ⌊(13 − 3) / 3⌋ + 1 = 4.
    let three = chain("[3, 13, 13]", "float32", "[[layer]]\nkind = \"maxpool2d\"\nsize = 3\n");
    assert_eq!(shapes(&three), vec!["(None, 3, 4, 4)"]);
}

#[test]
fn conv1d_dilation_widens_the_window() {
    // Dilation 2 makes a 3-tap kernel span 5: 16 − 5 + 1 = 12.
    let m = chain("[4, 16]", "float32", "[[layer]]\nkind = \"conv1d\"\nfilters = 6\nkernel = 3\ndilation = 2\n");
    assert_eq!(shapes(&m), vec!["(None, 6, 12)"]);
    assert_eq!(per_layer(&m), vec![3 * 4 * 6 + 6]);
    // With same padding the length is kept.
    let same = chain("[4, 16]", "float32", "[[layer]]\nkind = \"conv1d\"\nfilters = 6\nkernel = 3\ndilation = 2\npadding = \"same\"\n");
    assert_eq!(shapes(&same), vec!["(None, 6, 16)"]);
}

#[test]
fn recurrent_return_sequences_keeps_the_time_axis() {
    for kind in ["lstm", "gru", "simple_rnn"] {
        let seq = chain("[9, 3]", "float32", &format!("[[layer]]\nkind = \"{kind}\"\nunits = 5\nreturn_sequences = true\n"));
        assert_eq!(shapes(&seq), vec!["(None, 9, 5)"], "{kind}");
        let last = chain("[9, 3]", "float32", &format!("[[layer]]\nkind = \"{kind}\"\nunits = 5\n"));
        assert_eq!(shapes(&last), vec!["(None, 5)"], "{kind}");
        // return_sequences changes nothing about the weights.
        assert_eq!(per_layer(&seq), per_layer(&last), "{kind}");
    }
}

#[test]
fn global_avg_pool_and_concat_shapes() {
    let m = inline(
        "[model]\nname = \"m\"\ninput = { name = \"x\", shape = [5, 6, 6] }\n\n\
         [[layer]]\nname = \"a\"\nkind = \"conv2d\"\nfilters = 3\nkernel = 1\n\n\
         [[layer]]\nname = \"b\"\nkind = \"conv2d\"\nfilters = 4\nkernel = 1\ninputs = [\"x\"]\n\n\
         [[layer]]\nname = \"c\"\nkind = \"concat\"\naxis = 1\ninputs = [\"a\", \"b\"]\n\n\
         [[layer]]\nkind = \"global_avg_pool\"\n",
    );
    assert_eq!(shapes(&m), vec!["(None, 3, 6, 6)", "(None, 4, 6, 6)", "(None, 7, 6, 6)", "(None, 7)"]);
    assert_eq!(per_layer(&m), vec![5 * 3 + 3, 5 * 4 + 4, 0, 0]);
}
