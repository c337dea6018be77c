//! The programs in `examples/` (built with the tests) run and succeed: each checks its own result
//! against an independent reference (a hand-run iteration, the normal equations, optimality
//! conditions, the variance an initializer defines, a persistence forecast, untouched frozen
//! weights) and fails otherwise.
use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    let onyx = PathBuf::from(env!("CARGO_BIN_EXE_onyx"));
    onyx.parent().expect("target dir").join("examples").join(name)
}

fn run(name: &str) {
    let path = example(name);
    assert!(path.exists(), "{} is built by `cargo test --all-targets`", path.display());
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
