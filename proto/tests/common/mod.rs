//! Helpers shared by the integration tests: finding the Python with `onnx`, and running it.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python interpreter named by `ONYX_PYTHON`, which must have the `onnx` package.
pub fn python() -> PathBuf {
    match std::env::var_os("ONYX_PYTHON") {
        Some(python) if !python.is_empty() => PathBuf::from(python),
        _ => panic!(
            "ONYX_PYTHON is not set. These tests compare against the onnx Python package: run \
             scripts/test.sh, or set ONYX_PYTHON to a Python interpreter with `onnx` installed"
        ),
    }
}

/// Runs the Python from [`python`] with `args`, panicking with its output if it fails.
pub fn run_python(args: &[&std::ffi::OsStr]) -> String {
    let python = python();
    let output = Command::new(&python).args(args).output().unwrap_or_else(|e| panic!("cannot run ONYX_PYTHON `{}`: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "`{}` {:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        python.display(),
        args,
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The folder of the installed `onnx` package.
pub fn onnx_package_dir() -> PathBuf {
    let out = run_python(&["-c".as_ref(), "import onnx, os; print(os.path.dirname(onnx.__file__))".as_ref()]);
    PathBuf::from(out.trim())
}

/// A helper script under `tests/support/`.
pub fn support_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("support").join(name)
}
