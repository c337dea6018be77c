//! The programs in `examples/` (built with the tests) run and succeed: each checks its own result
//! against an independent reference (a hand-run iteration, the normal equations, optimality
//! conditions, the variance an initializer defines, a persistence forecast, untouched frozen
//! weights) and fails otherwise.
use std::path::PathBuf;
use std::process::Command;

/// The example's executable: `cargo build` writes `examples/NAME`, `cargo test --all-targets` only
/// `examples/NAME-HASH`; the newest of them is the one just built.
fn example(name: &str) -> Option<PathBuf> {
    let onyx = PathBuf::from(env!("CARGO_BIN_EXE_onyx"));
    let dir = onyx.parent()?.join("examples");
    let built = |file: &str| {
        file == name
            || file.strip_prefix(name).and_then(|r| r.strip_prefix('-')).is_some_and(|h| h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit()))
    };
    std::fs::read_dir(&dir)
        .ok()?
        .flatten()
        .filter(|e| built(&e.file_name().to_string_lossy()))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .map(|(_, path)| path)
}

fn run(name: &str) {
    let path = example(name).unwrap_or_else(|| panic!("{name} is built by `cargo test --all-targets`"));
    let out = Command::new(&path).output().expect("the example starts");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{name}:\n{stdout}");
    assert!(out.status.success(), "{name} failed:\n{stdout}\n{stderr}");
}

#[test]
fn gradient_descent() {
    run("gradient_descent");
}

#[test]
fn linear_regression() {
    run("linear_regression");
}

#[test]
fn regularization() {
    run("regularization");
}

#[test]
fn initializers() {
    run("initializers");
}

#[test]
fn lstm_forecast() {
    run("lstm_forecast");
}

#[test]
fn transfer() {
    run("transfer");
}
