//! Serving the seed's CNN at batch 1 over loopback: the model in process (what `onyx predict`
//! pays per call), one request at a time over HTTP/JSON (keep-alive), and 16 clients at once
//! (requests per second). After criterion's medians, prints p50/p99 latency and requests per second
//! of a fixed load: 16 clients, 100 requests each.
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::{ArrayD, IxDyn};
use onyx_runtime::{Engine, HostTensor, Session, TractEngine};
use onyx_serve::{Limits, Model};

const CLIENTS: usize = 16;

fn start() -> (Arc<dyn Session>, u16) {
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/models/mnist_cnn.toml");
    let model = onyx_compiler::compile_file(std::path::Path::new(spec)).expect("compiles");
    let session: Arc<dyn Session> = Arc::from(TractEngine.load(&onyx_compiler::to_onnx(&model.graph)).expect("loads"));
    let (tx, rx) = std::sync::mpsc::channel();
    let served = session.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
        let model = Model { name: "mnist_cnn".into(), session: served };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        runtime.block_on(onyx_serve::serve(model, addr, Limits::default(), move |at| tx.send(at.port()).expect("the bench waits"))).expect("serves");
    });
    (session, rx.recv().expect("the server starts"))
}

fn body() -> Vec<u8> {
    let pixels: Vec<f32> = (0..784).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
    serde_json::json!({ "inputs": [{ "name": "image", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": pixels }] }).to_string().into_bytes()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(true).build().into()
}

fn infer(agent: &ureq::Agent, url: &str, body: &[u8]) {
    let mut reply = agent.post(url).header("Content-Type", "application/json").send(body).expect("answered");
    let bytes = reply.body_mut().read_to_vec().expect("a body");
    assert!(bytes.starts_with(b"{\"model_name\""));
}

/// `CLIENTS` threads sending `each` requests; every request's latency.
fn load(url: &str, body: &Arc<Vec<u8>>, each: usize) -> Vec<Duration> {
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (url, body) = (url.to_string(), body.clone());
            std::thread::spawn(move || {
                let agent = agent();
                (0..each)
                    .map(|_| {
                        let t = Instant::now();
                        infer(&agent, &url, &body);
                        t.elapsed()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    clients.into_iter().flat_map(|c| c.join().expect("a client")).collect()
}

fn serving(c: &mut Criterion) {
    let (session, port) = start();
    let url = format!("http://127.0.0.1:{port}/v2/models/mnist_cnn/infer");
    let body = Arc::new(body());
    let x = HostTensor::F32(
        ArrayD::from_shape_vec(IxDyn(&[1, 1, 28, 28]), (0..784).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect()).expect("shape"),
    );
    let mut group = c.benchmark_group("serve_mnist_cnn_batch1");
    group.bench_function("in_process", |b| b.iter(|| session.run(std::slice::from_ref(&x)).expect("runs")));
    let one = agent();
    group.bench_function("http_one_client", |b| b.iter(|| infer(&one, &url, &body)));
    // Time per request with 16 clients at once: 1 / requests per second.
    group.bench_function("http_16_clients_per_request", |b| {
        b.iter_custom(|iters| {
            let each = (iters as usize).div_ceil(CLIENTS).max(1);
            let t = Instant::now();
            load(&url, &body, each);
            t.elapsed().mul_f64(iters as f64 / (each * CLIENTS) as f64)
        })
    });
    group.finish();
    // `cargo test` runs each benchmark once, without --bench; the fixed load is for measuring.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let started = Instant::now();
    let mut latencies = load(&url, &body, 100);
    let wall = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].as_secs_f64() * 1e3;
    println!(
        "serve_mnist_cnn_batch1/load: {} requests from {CLIENTS} clients in {:.2} s: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        wall.as_secs_f64(),
        latencies.len() as f64 / wall.as_secs_f64(),
        at(0.50),
        at(0.99)
    );
}

criterion_group!(benches, serving);
criterion_main!(benches);
