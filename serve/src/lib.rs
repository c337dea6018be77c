//! onyx-serve: a model behind the Open Inference Protocol (KServe v2) over HTTP/JSON, the payload
//! format of deployed apps (the `onyx-runner` executable with a model appended), and Triton model
//! repositories for serving across many machines. Kept apart from onyx-runtime so that a program
//! that only trains does not carry an HTTP stack.
pub mod args;
pub mod metrics;
pub mod payload;
pub mod protocol;
pub mod server;
pub mod triton;

pub use args::ServeArgs;
pub use payload::{Info, Payload, PayloadError, read_payload, write_app};
pub use server::{Limits, Model, ServeError, serve, serve_blocking};
