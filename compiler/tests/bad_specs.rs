//! Every class of spec mistake fails with an error that names the file, the exact line of the
//! offending field, the field and (inside a layer) the layer's 1-based index.
use std::path::Path;

use onyx_compiler::{Spec, SpecError, compile};

/// Parses and compiles `text` as `file`, expecting an error at either stage.
fn error(file: &str, text: &str) -> SpecError {
    match Spec::parse(Path::new(file), text.to_string()) {
        Err(e) => e,
        Ok(spec) => match compile(&spec) {
            Err(e) => e,
            Ok(_) => panic!("{file} compiled, but should have failed:\n{text}"),
        },
    }
}

/// The 1-based line of the one line of `text` that contains `marker`.
fn line_of(text: &str, marker: &str) -> usize {
    let hits: Vec<usize> = text.lines().enumerate().filter(|(_, l)| l.contains(marker)).map(|(i, _)| i + 1).collect();
    assert_eq!(hits.len(), 1, "marker {marker:?} must be on exactly one line, found on {hits:?}");
    hits[0]
}

/// Checks where the error points: file name and line in the message, the field, the layer.
fn expect(file: &str, text: &str, marker: &str, field: Option<&str>, layer: Option<usize>) -> SpecError {
    let e = error(file, text);
    let line = line_of(text, marker);
    assert_eq!(e.line, Some(line), "wrong line for {e}\n(expected the line of {marker:?})");
    assert_eq!(e.field.as_deref(), field, "wrong field for {e}");
    assert_eq!(e.layer, layer, "wrong layer for {e}");
    assert_eq!(e.file, Path::new(file));
    let shown = e.to_string();
    assert!(shown.starts_with(&format!("{file}:{line}: ")), "the message does not start with {file}:{line}: — {shown}");
    if let Some(f) = field {
        assert!(shown.contains(&format!("`{f}`")), "the message does not name field {f}: {shown}");
    }
    if let Some(l) = layer {
        assert!(shown.contains(&format!("layer {l}")), "the message does not name layer {l}: {shown}");
    }
    e
}

const HEAD: &str = "[model]\nname = \"m\"\ninput = { name = \"x\", shape = [1, 8, 8] }\n";

// ── layer fields ────────────────────────────────────────────────────────────────────────────────

#[test]
fn unknown_key_in_a_layer_suggests_the_close_one() {
    let text = format!("{HEAD}\n[[layer]]\nkind = \"conv2d\"\nkernel = 3\nfiltrs = 32\n");
    let e = expect("x.toml", &text, "filtrs", Some("filtrs"), Some(1));
    assert!(e.message.contains("did you mean `filters`"), "{e}");
    assert!(e.message.contains("conv2d"), "{e}");
}

#[test]
fn unknown_key_in_a_later_layer_names_that_layer() {
    let text = format!(
        "{HEAD}\n[[layer]]\nkind = \"conv2d\"\nfilters = 4\nkernel = 3\n\n[[layer]]\nname = \"pool\"\nkind = \"maxpool2d\"\nsize = 2\nstrides = 2\n"
    );
    let e = expect("x.toml", &text, "strides", Some("strides"), Some(2));
    assert!(e.message.contains("did you mean `stride`"), "{e}");
    assert_eq!(e.layer_name.as_deref(), Some("pool"));
    assert!(e.to_string().contains("`pool`"), "{e}");
}

#[test]
fn key_of_another_kind_is_refused() {
    // `units` is a real field (of dense and the recurrent layers), just not of conv2d.
    let text = format!("{HEAD}\n[[layer]]\nkind = \"conv2d\"\nfilters = 4\nkernel = 3\nunits = 10\n");
    let e = expect("x.toml", &text, "units", Some("units"), Some(1));
    assert!(e.message.contains("conv2d") && e.message.contains("filters"), "{e}");
}

#[test]
fn wrong_type_names_the_field() {
    let text = format!("{HEAD}\n[[layer]]\nkind = \"conv2d\"\nkernel = 3\nfilters = \"many\"\n");
    expect("x.toml", &text, "filters", Some("filters"), Some(1));
}

#[test]
fn unknown_layer_kind() {
    let text = format!("{HEAD}\n[[layer]]\nkind = \"dense\"\nunits = 3\n\n[[layer]]\nkind = \"convolution\"\n");
    let e = expect("x.toml", &text, "convolution", Some("kind"), Some(2));
    assert!(e.message.contains("conv2d") && e.message.contains("convolution"), "{e}");
}

#[test]
fn unknown_activation() {
    let text = format!("{HEAD}\n[[layer]]\nkind = \"conv2d\"\nfilters = 4\nkernel = 3\nactivation = \"swish2\"\n");
    let e = expect("x.toml", &text, "swish2", Some("activation"), Some(1));
    assert!(e.message.contains("relu"), "{e}");
}

#[test]
fn unknown_activation_in_an_activation_layer() {
    let text = format!("{HEAD}\n[[layer]]\nkind = \"flatten\"\n\n[[layer]]\nkind = \"activation\"\nactivation = \"rleu\"\n");
    expect("x.toml", &text, "rleu", Some("activation"), Some(2));
}

#[test]
fn unknown_initializer() {
    let text = format!("{HEAD}\n[[layer]]\nkind = \"conv2d\"\nfilters = 4\nkernel = 3\ninit = \"kaiming\"\n");
    let e = expect("x.toml", &text, "kaiming", Some("init"), Some(1));
    assert!(e.message.contains("he_normal"), "{e}");
}

#[test]
fn unknown_initializer_in_a_table() {
    let text = format!("{HEAD}\n[[layer]]\nkind = \"conv2d\"\nfilters = 4\nkernel = 3\nbias_init = {{ kind = \"gaussian\", stddev = 0.1 }}\n");
    expect("x.toml", &text, "gaussian", Some("bias_init"), Some(1));
}

#[test]
fn kernel_larger_than_the_map() {
    let text = "[model]\nname = \"m\"\ninput = { name = \"x\", shape = [1, 2, 2] }\n\n[[layer]]\nkind = \"conv2d\"\nfilters = 4\nkernel = 3\npadding = \"valid\"\n";
    let e = expect("x.toml", text, "kernel", Some("kernel"), Some(1));
    assert!(e.message.contains("3x3") && e.message.contains("2x2"), "{e}");
}

#[test]
fn kernel_larger_than_the_map_after_earlier_layers() {
    // The 8x8 map is 2x2 by the time the third layer sees it.
    let text = format!(
        "{HEAD}\n[[layer]]\nkind = \"maxpool2d\"\nsize = 4\n\n[[layer]]\nkind = \"dropout\"\nrate = 0.1\n\n[[layer]]\nkind = \"conv2d\"\nfilters = 2\nkernel = [3, 3]\n"
    );
    expect("x.toml", &text, "kernel", Some("kernel"), Some(3));
}

// ── wiring ──────────────────────────────────────────────────────────────────────────────────────

#[test]
fn dangling_input_name() {
    let text = format!("{HEAD}\n[[layer]]\nname = \"a\"\nkind = \"flatten\"\n\n[[layer]]\nkind = \"dense\"\nunits = 2\ninputs = [\"b\"]\n");
    let e = expect("x.toml", &text, "inputs", Some("inputs"), Some(2));
    assert!(e.message.contains("`b`"), "{e}");
}

#[test]
fn a_layer_reading_itself_is_a_cycle() {
    let text = format!("{HEAD}\n[[layer]]\nname = \"a\"\nkind = \"flatten\"\ninputs = [\"a\"]\n");
    let e = expect("x.toml", &text, "inputs", Some("inputs"), Some(1));
    assert!(e.message.contains("cycle"), "{e}");
}

#[test]
fn a_cycle_through_inputs() {
    let text = format!(
        "{HEAD}\n[[layer]]\nname = \"a\"\nkind = \"add\"\ninputs = [\"x\", \"b\"] # a\n\n[[layer]]\nname = \"b\"\nkind = \"activation\"\nactivation = \"relu\"\ninputs = [\"a\"] # b\n"
    );
    let e = error("x.toml", &text);
    assert_eq!(e.field.as_deref(), Some("inputs"), "{e}");
    assert!(e.message.contains("cycle") && (e.message.contains("a → b") || e.message.contains("b → a")), "{e}");
    // Either member may carry the error, but the line is that member's `inputs`.
    let member = match e.layer {
        Some(1) => "# a",
        Some(2) => "# b",
        other => panic!("layer {other:?} is not in the cycle: {e}"),
    };
    assert_eq!(e.line, Some(line_of(&text, member)), "{e}");
}

#[test]
fn a_cycle_behind_a_healthy_layer() {
    // Layer 1 is fine; layers 2 and 3 feed each other. The error must not blame layer 1.
    let text = format!(
        "{HEAD}\n[[layer]]\nname = \"f\"\nkind = \"flatten\"\n\n[[layer]]\nname = \"p\"\nkind = \"dense\"\nunits = 64\ninputs = [\"q\"] # p\n\n[[layer]]\nname = \"q\"\nkind = \"add\"\ninputs = [\"f\", \"p\"] # q\n"
    );
    let e = error("x.toml", &text);
    assert_eq!(e.field.as_deref(), Some("inputs"), "{e}");
    let member = match e.layer {
        Some(2) => "# p",
        Some(3) => "# q",
        other => panic!("layer {other:?} is not in the cycle: {e}"),
    };
    assert_eq!(e.line, Some(line_of(&text, member)), "{e}");
}

#[test]
fn duplicate_layer_name() {
    let text = format!("{HEAD}\n[[layer]]\nname = \"same\"\nkind = \"flatten\"\n\n[[layer]]\nname = \"same\" # again\nkind = \"dense\"\nunits = 2\n");
    let e = expect("x.toml", &text, "# again", Some("name"), Some(2));
    assert!(e.message.contains("`same`"), "{e}");
}

#[test]
fn layer_named_like_the_model_input() {
    let text = format!("{HEAD}\n[[layer]]\nname = \"x\" # taken\nkind = \"flatten\"\n");
    let e = expect("x.toml", &text, "# taken", Some("name"), Some(1));
    assert!(e.message.contains("`x`"), "{e}");
}

#[test]
fn add_with_mismatched_shapes() {
    let text = "[model]\nname = \"m\"\ninput = { name = \"x\", shape = [4] }\n\n\
                [[layer]]\nname = \"a\"\nkind = \"dense\"\nunits = 3\n\n\
                [[layer]]\nname = \"b\"\nkind = \"dense\"\nunits = 5\ninputs = [\"x\"]\n\n\
                [[layer]]\nkind = \"add\"\ninputs = [\"a\", \"b\"]\n";
    let e = expect("x.toml", text, "inputs = [\"a\"", Some("inputs"), Some(3));
    assert!(e.message.contains("(None, 3)") && e.message.contains("(None, 5)"), "{e}");
}

#[test]
fn add_with_one_input() {
    let text = format!("{HEAD}\n[[layer]]\nname = \"a\"\nkind = \"flatten\"\n\n[[layer]]\nkind = \"add\"\ninputs = [\"a\"]\n");
    expect("x.toml", &text, "inputs", Some("inputs"), Some(2));
}

#[test]
fn a_layer_no_output_uses() {
    // `side` reads the input but nothing reads `side`; the model's output is the last layer.
    let text = "[model]\nname = \"m\"\ninput = { name = \"x\", shape = [4] }\n\n\
                [[layer]]\nname = \"main\"\nkind = \"dense\"\nunits = 3\n\n\
                [[layer]] # side\nname = \"side\"\nkind = \"dense\"\nunits = 5\ninputs = [\"x\"]\n\n\
                [[layer]]\nname = \"out\"\nkind = \"dense\"\nunits = 1\ninputs = [\"main\"]\n";
    let e = error("x.toml", text);
    assert_eq!(e.layer, Some(2), "{e}");
    assert_eq!(e.layer_name.as_deref(), Some("side"), "{e}");
    assert!(e.message.contains("no model output depends on this layer"), "{e}");
    // The whole layer is at fault, not one field; the line is where the layer begins (its header) or,
    // at the latest, its first key.
    let line = e.line.expect("a line");
    assert!(line == line_of(text, "# side") || line == line_of(text, "name = \"side\""), "line {line}: {e}");
    assert!(e.to_string().starts_with(&format!("x.toml:{line}: layer 2 `side`")), "{e}");
}

#[test]
fn an_unknown_output_name() {
    let text = "[model]\nname = \"m\"\ninput = { name = \"x\", shape = [4] }\noutputs = [\"nope\"]\n\n[[layer]]\nkind = \"dense\"\nunits = 3\n";
    expect("x.toml", text, "outputs", Some("outputs"), None);
}

// ── [model] and [train] ─────────────────────────────────────────────────────────────────────────

#[test]
fn missing_model_input() {
    let text = "# no input\n[model]\nname = \"m\"\nseed = 1\n\n[[layer]]\nkind = \"dense\"\nunits = 3\n";
    let e = expect("x.toml", text, "[model]", Some("input"), None);
    assert!(e.message.contains("required"), "{e}");
}

#[test]
fn unknown_dtype() {
    let text = "[model]\nname = \"m\"\n\ninput = { name = \"x\", shape = [4], dtype = \"float33\" }\n\n[[layer]]\nkind = \"dense\"\nunits = 3\n";
    let e = expect("x.toml", text, "float33", Some("input"), None);
    assert!(e.message.contains("float33"), "{e}");
}

const MODEL: &str = "[model]\nname = \"m\"\ninput = { name = \"x\", shape = [4] }\n\n[[layer]]\nkind = \"dense\"\nunits = 1\n";

#[test]
fn unknown_loss() {
    let text = format!("{MODEL}\n[train]\nepochs = 3\nloss = \"cross_entropy\"\nbatch_size = 8\n");
    let e = expect("x.toml", &text, "cross_entropy", Some("loss"), None);
    assert!(e.message.contains("sparse_categorical_crossentropy"), "{e}");
}

#[test]
fn negative_learning_rate() {
    let text = format!("{MODEL}\n[train]\nloss = \"mse\"\noptimizer = {{ kind = \"adam\", lr = -1 }}\n");
    expect("x.toml", &text, "lr = -1", Some("optimizer.lr"), None);
}

#[test]
fn negative_learning_rate_in_a_table() {
    let text = format!("{MODEL}\n[train]\nloss = \"mse\"\n\n[train.optimizer]\nkind = \"sgd\"\nmomentum = 0.9\nlr = -0.5\n");
    expect("x.toml", &text, "lr = -0.5", Some("optimizer.lr"), None);
}

#[test]
fn unknown_optimizer() {
    let text = format!("{MODEL}\n[train]\nloss = \"mse\"\n\n[train.optimizer]\nlr = 0.1\nkind = \"adamax\"\n");
    expect("x.toml", &text, "adamax", Some("optimizer.kind"), None);
}

#[test]
fn bad_validation_split() {
    let text = format!("{MODEL}\n[train]\nloss = \"mse\"\nvalidation_split = 1.5\n");
    expect("x.toml", &text, "validation_split", Some("validation_split"), None);
}

#[test]
fn unknown_key_in_train() {
    let text = format!("{MODEL}\n[train]\nloss = \"mse\"\nepoch = 3\n");
    let e = expect("x.toml", &text, "epoch =", Some("epoch"), None);
    assert!(e.message.contains("epoch"), "{e}");
}

#[test]
fn unknown_key_in_a_layer_after_the_train_table() {
    // TOML allows `[[layer]]` items after `[train]`; the error still lands in the right layer.
    let text =
        format!("{MODEL}\n[train]\nloss = \"mse\"\nepochs = 2\n\n[[layer]]\nname = \"late\"\nkind = \"dense\"\nunits = 1\nactivaton = \"relu\"\n");
    let e = expect("x.toml", &text, "activaton", Some("activaton"), Some(2));
    assert!(e.message.contains("did you mean `activation`"), "{e}");
}

#[test]
fn unknown_key_in_train_before_more_layers() {
    let text = format!("{MODEL}\n[train]\nloss = \"mse\"\nepoch = 2\n\n[[layer]]\nkind = \"dense\"\nunits = 1\n");
    expect("x.toml", &text, "epoch =", Some("epoch"), None);
}

// ── JSON specs ──────────────────────────────────────────────────────────────────────────────────

const JSON_HEAD: &str = "{\n  \"model\": {\n    \"name\": \"m\",\n    \"input\": { \"name\": \"x\", \"shape\": [1, 8, 8] }\n  },\n  \"layer\": [\n";

#[test]
fn json_unknown_key_in_a_layer() {
    let text = format!("{JSON_HEAD}    {{ \"kind\": \"flatten\" }},\n    {{\n      \"kind\": \"dense\",\n      \"unitz\": 3\n    }}\n  ]\n}}\n");
    let e = expect("x.json", &text, "unitz", Some("unitz"), Some(2));
    assert!(e.message.contains("did you mean `units`"), "{e}");
}

#[test]
fn json_unknown_key_on_one_line() {
    let text = format!("{JSON_HEAD}    {{ \"kind\": \"conv2d\", \"kernel\": 3, \"filtrs\": 4 }}\n  ]\n}}\n");
    let e = expect("x.json", &text, "filtrs", Some("filtrs"), Some(1));
    assert!(e.message.contains("did you mean `filters`"), "{e}");
}

#[test]
fn json_key_of_another_kind() {
    let text =
        format!("{JSON_HEAD}    {{ \"kind\": \"flatten\" }},\n    {{ \"kind\": \"dense\",\n      \"units\": 3,\n      \"kernel\": 3 }}\n  ]\n}}\n");
    expect("x.json", &text, "\"kernel\"", Some("kernel"), Some(2));
}

#[test]
fn json_wrong_type() {
    let text = format!("{JSON_HEAD}    {{\n      \"kind\": \"conv2d\",\n      \"filters\": \"many\",\n      \"kernel\": 3\n    }}\n  ]\n}}\n");
    expect("x.json", &text, "many", Some("filters"), Some(1));
}

#[test]
fn json_wrong_type_of_a_number() {
    let text = format!("{JSON_HEAD}    {{ \"kind\": \"flatten\" }},\n    {{\n      \"kind\": \"dense\",\n      \"units\": true\n    }}\n  ]\n}}\n");
    expect("x.json", &text, "true", Some("units"), Some(2));
}

#[test]
fn json_unknown_activation() {
    let text = format!(
        "{JSON_HEAD}    {{ \"kind\": \"flatten\" }},\n    {{\n      \"kind\": \"dense\",\n      \"units\": 3,\n      \"activation\": \"relu6\"\n    }}\n  ]\n}}\n"
    );
    expect("x.json", &text, "relu6", Some("activation"), Some(2));
}

/// Every size a spec gives is bounded before anything is allocated: units, filters, kernels,
/// strides, reshape and input sizes past 2²⁰ are refused where they are written, and a weight
/// whose sizes multiply past 2³⁰ values names its layer (`filters = 4294967296` used to abort on a
/// 154 GB allocation, `units = 2⁶³ − 1` to panic on an overflow).
#[test]
fn sizes_beyond_the_bounds_are_refused_before_allocating() {
    let conv = |field: &str, value: &str| format!("{HEAD}\n[[layer]]\nkind = \"conv2d\"\nfilters = 4\nkernel = 3\n{field} = {value}  # HERE\n");
    for (field, value) in [("filters", "4294967296"), ("kernel", "4294967296"), ("stride", "9223372036854775807")] {
        let text = conv(field, value).replace(&format!("{field} = 4\n"), "").replace(&format!("{field} = 3\n"), "");
        let e = expect("big.toml", &text, "HERE", Some(field), Some(1));
        assert!(e.message.contains("1048576"), "{e}");
    }
    let dense = format!("{HEAD}\n[[layer]]\nkind = \"flatten\"\n\n[[layer]]\nkind = \"dense\"\nunits = 9223372036854775807  # HERE\n");
    expect("big.toml", &dense, "HERE", Some("units"), Some(2));
    let reshape = format!("{HEAD}\n[[layer]]\nkind = \"reshape\"\nshape = [4294967296, -1]  # HERE\n");
    expect("big.toml", &reshape, "HERE", Some("shape"), Some(1));
    let input = "[model]\nname = \"m\"\ninput = { name = \"x\", shape = [9223372036854775807] }  # HERE\n\n[[layer]]\nkind = \"dense\"\nunits = 1\n";
    let e = expect("big.toml", input, "HERE", Some("input"), None);
    assert!(e.message.contains("1048576"), "{e}");
    // Each size within bounds, their product not.
    let wide = "[model]\nname = \"m\"\ninput = { name = \"x\", shape = [1048576] }\n\n[[layer]]  # HERE\nkind = \"dense\"\nunits = 1048576\n";
    let e = error("big.toml", wide);
    assert!(e.layer == Some(1) && e.message.contains("1073741824"), "{e}");
}
