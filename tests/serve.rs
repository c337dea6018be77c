//! `onyx serve`: the Open Inference Protocol v2 over HTTP against a real server on 127.0.0.1 —
//! every endpoint, each kind of bad request with its status and reason, concurrent clients, a
//! slow body, SIGTERM under load, and the Triton Python client, which no one here wrote.
mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use onyx_runtime::{Engine, HostTensor, TractEngine};
use serde_json::json;
use support::http::{self, compiled_cnn, get, infer_json, onyx_serve, output_values, post_json, request};

/// `n` seeded 28x28 images and what tract computes for them in process.
fn images(model: &Path, n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let session = TractEngine.load(&onyx_proto::read_model(model).unwrap()).unwrap();
    let inputs = support::random_inputs(session.as_ref(), n, seed);
    let HostTensor::F32(x) = &inputs[0] else { panic!("float input") };
    let y = session.run(&inputs).unwrap().remove(0).to_f64_vec();
    (x.iter().copied().collect(), y.into_iter().map(|v| v as f32).collect())
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6)
}

#[test]
fn every_endpoint_answers_and_bad_requests_get_a_reason() {
    let (_dir, model) = compiled_cnn();
    let server = onyx_serve(&model, &["--max-body-mb", "1", "--max-elements", "50000"]);
    let port = server.port;
    assert_eq!(get(port, "/v2/health/live").json(), json!({ "live": true }));
    assert_eq!(get(port, "/v2/health/ready").json(), json!({ "ready": true }));
    assert_eq!(get(port, "/v2").json()["extensions"], json!(["binary_tensor_data"]));
    let meta = get(port, "/v2/models/mnist_cnn").json();
    assert_eq!(meta["inputs"], json!([{ "name": "image", "datatype": "FP32", "shape": [-1, 1, 28, 28] }]));
    assert_eq!(meta["outputs"], json!([{ "name": "dense_1", "datatype": "FP32", "shape": [-1, 10] }]));
    assert_eq!(get(port, "/v2/models/mnist_cnn/versions/1").json()["name"], "mnist_cnn");
    assert_eq!(get(port, "/v2/models/mnist_cnn/ready").status, 200);
    assert_eq!(get(port, "/v2/models/mnist_cnn/versions/1/ready").status, 200);

    // Inference, JSON both ways, nested data, and binary both ways.
    let (x, want) = images(&model, 3, 1);
    let reply = post_json(port, "/v2/models/mnist_cnn/infer", &infer_json("image", &[3, 1, 28, 28], &x));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["outputs"][0]["shape"], json!([3, 10]));
    assert!(close(&output_values(&reply, "dense_1"), &want));
    let rows: Vec<Vec<f32>> = x.chunks(784).map(<[f32]>::to_vec).collect();
    let nested = json!({ "id": "n1", "inputs": [{ "name": "image", "shape": [3, 1, 28, 28], "datatype": "FP32", "data": rows }] });
    let reply = post_json(port, "/v2/models/mnist_cnn/versions/1/infer", &nested);
    assert_eq!(reply.json()["id"], "n1");
    assert!(close(&output_values(&reply, "dense_1"), &want));
    let head = json!({ "inputs": [{ "name": "image", "shape": [3, 1, 28, 28], "datatype": "FP32", "parameters": { "binary_data_size": x.len() * 4 } }], "outputs": [{ "name": "dense_1", "parameters": { "binary_data": true } }] }).to_string();
    let mut body = head.clone().into_bytes();
    x.iter().for_each(|v| body.extend(v.to_le_bytes()));
    let reply = request(port, "POST", "/v2/models/mnist_cnn/infer", &[("Inference-Header-Content-Length", head.len().to_string())], &body).unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.header("inference-header-content-length").is_some());
    assert!(close(&output_values(&reply, "dense_1"), &want));

    // Each bad request: its status and a JSON reason naming what is wrong.
    let refused = |reply: http::Reply, status: u16, says: &[&str]| {
        assert_eq!(reply.status, status, "{}", reply.text());
        let message = reply.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(says.iter().all(|s| message.contains(s)), "{message}");
    };
    refused(post_json(port, "/v2/models/resnet/infer", &infer_json("image", &[1, 1, 28, 28], &x[..784])), 404, &["`resnet`", "mnist_cnn"]);
    refused(post_json(port, "/v2/models/mnist_cnn/versions/2/infer", &infer_json("image", &[1, 1, 28, 28], &x[..784])), 404, &["no version 2"]);
    refused(get(port, "/v2/models/resnet"), 404, &["`resnet`"]);
    let mut wrong_type = infer_json("image", &[1, 1, 28, 28], &x[..784]);
    wrong_type["inputs"][0]["datatype"] = json!("INT64");
    refused(post_json(port, "/v2/models/mnist_cnn/infer", &wrong_type), 400, &["input `image`", "INT64", "FP32"]);
    refused(post_json(port, "/v2/models/mnist_cnn/infer", &infer_json("image", &[1, 28, 28], &x[..784])), 400, &["input `image`", "shape"]);
    refused(
        post_json(port, "/v2/models/mnist_cnn/infer", &infer_json("image", &[1, 1, 28, 27], &x[..756])),
        400,
        &["input `image`", "axis 3 must be 28"],
    );
    refused(post_json(port, "/v2/models/mnist_cnn/infer", &infer_json("image", &[2, 1, 28, 28], &x[..784])), 400, &["input `image`", "1568 values"]);
    refused(post_json(port, "/v2/models/mnist_cnn/infer", &infer_json("pixels", &[1, 1, 28, 28], &x[..784])), 400, &["`pixels`", "no such input"]);
    refused(post_json(port, "/v2/models/mnist_cnn/infer", &json!({ "inputs": [] })), 400, &["input `image` is missing"]);
    refused(request(port, "POST", "/v2/models/mnist_cnn/infer", &[], b"{\"inputs\": [{\"name\": ").unwrap(), 400, &["not a valid inference request"]);
    refused(
        request(port, "POST", "/v2/models/mnist_cnn/infer", &[("Inference-Header-Content-Length", "99999".into())], b"{}").unwrap(),
        400,
        &["inference-header-content-length"],
    );
    refused(post_json(port, "/v2/models/mnist_cnn/infer", &infer_json("image", &[64, 1, 28, 28], &[])), 413, &["input `image`", "50000 elements"]);
    // A body declared over the limit is refused before it is read (the client may stop sending).
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(&mut stream, b"POST /v2/models/mnist_cnn/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\n\r\n").unwrap();
    refused(http::read_reply(stream).unwrap(), 413, &["limit of 1048576 bytes"]);
    refused(get(port, "/v1/models"), 404, &["Open Inference Protocol"]);
    // A wrong method gets its reason in JSON too.
    refused(get(port, "/v2/models/mnist_cnn/infer"), 405, &["POST for infer"]);
    // The server is still up, and counted all of it.
    let metrics = get(port, "/metrics").text();
    for line in [
        r#"onyx_requests_total{route="/v2/models/{name}/infer",status="200"} 2"#,
        r#"route="/v2/models/{name}/infer",status="400"} 8"#,
        r#"status="413"} 2"#,
        "onyx_request_duration_seconds_bucket",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[test]
fn a_body_that_does_not_arrive_in_time_gets_408() {
    use std::io::Write;
    let (_dir, model) = compiled_cnn();
    let server = onyx_serve(&model, &["--timeout", "0.5"]);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream.write_all(b"POST /v2/models/mnist_cnn/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"inputs\"").unwrap();
    let started = Instant::now();
    let reply = http::read_reply(stream).unwrap();
    assert_eq!(reply.status, 408, "{}", reply.text());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(get(server.port, "/v2/health/live").status, 200);
}

#[test]
fn two_hundred_requests_from_sixteen_clients_are_all_answered_correctly() {
    let (_dir, model) = compiled_cnn();
    let server = onyx_serve(&model, &[]);
    let (x, want) = images(&model, 200, 2);
    let (x, want) = (Arc::new(x), Arc::new(want));
    let clients: Vec<_> = (0..16)
        .map(|c| {
            let (x, want, port) = (x.clone(), want.clone(), server.port);
            std::thread::spawn(move || {
                (0..200)
                    .filter(|i| i % 16 == c)
                    .filter(|&i| {
                        let reply = post_json(port, "/v2/models/mnist_cnn/infer", &infer_json("image", &[1, 1, 28, 28], &x[i * 784..(i + 1) * 784]));
                        reply.status == 200 && close(&output_values(&reply, "dense_1"), &want[i * 10..(i + 1) * 10])
                    })
                    .count()
            })
        })
        .collect();
    let right: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(right, 200);
}

/// SIGTERM with sixteen requests under way (accepted, running or waiting their turn): every one is
/// answered in full and correctly, new connections are refused, and the server exits cleanly.
#[test]
fn sigterm_finishes_the_requests_under_way() {
    let (_dir, model) = compiled_cnn();
    let mut server = onyx_serve(&model, &["--max-concurrency", "1"]);
    let port = server.port;
    // Large batches, so that the sixteen take a while.
    let (x, want) = images(&model, 256, 3);
    let (x, want) = (Arc::new(x), Arc::new(want));
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (x, want) = (x.clone(), want.clone());
            std::thread::spawn(move || {
                let head = json!({ "inputs": [{ "name": "image", "shape": [256, 1, 28, 28], "datatype": "FP32", "parameters": { "binary_data_size": x.len() * 4 } }] }).to_string();
                let mut body = head.clone().into_bytes();
                x.iter().for_each(|v| body.extend(v.to_le_bytes()));
                let reply = request(port, "POST", "/v2/models/mnist_cnn/infer", &[("Inference-Header-Content-Length", head.len().to_string())], &body).expect("an answer");
                reply.status == 200 && close(&output_values(&reply, "dense_1"), &want)
            })
        })
        .collect();
    // Wait until all sixteen are inside the server (the metrics request itself makes seventeen).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let metrics = get(port, "/metrics").text();
        let in_flight: f64 =
            metrics.lines().find_map(|l| l.strip_prefix("onyx_requests_in_flight ")).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0);
        if in_flight >= 17.0 {
            break;
        }
        assert!(Instant::now() < deadline, "the requests never all arrived:\n{metrics}");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.terminate();
    let answered = clients.into_iter().map(|c| c.join().unwrap()).filter(|&ok| ok).count();
    assert_eq!(answered, 16, "every accepted request is answered correctly");
    assert!(server.wait().success());
    assert!(request(port, "GET", "/v2/health/live", &[], b"").is_err(), "the port is closed");
}

/// The Triton Python client (tritonclient[http]) against `onyx serve`: health, metadata, and
/// inference at batch 1 and 32 with binary and JSON tensors, equal to `onyx predict`'s.
#[test]
fn the_triton_client_talks_to_onyx_serve() {
    let (dir, model) = compiled_cnn();
    let server = onyx_serve(&model, &[]);
    let session = TractEngine.load(&onyx_proto::read_model(&model).unwrap()).unwrap();
    let inputs = support::random_inputs(session.as_ref(), 32, 4);
    let x = dir.path().join("x.npy");
    let HostTensor::F32(a) = &inputs[0] else { panic!("float input") };
    ndarray_npy::write_npy(&x, a).unwrap();
    let predictions = dir.path().join("predictions.npy");
    let (ok, _, err) = support::run_onyx(&["predict", model.to_str().unwrap(), "--input", x.to_str().unwrap(), "-o", predictions.to_str().unwrap()]);
    assert!(ok, "{err}");
    let port = PathBuf::from(server.port.to_string());
    let (ok, report) = support::run_python("triton_client.py", &[&port, Path::new("mnist_cnn"), &x, &predictions]);
    assert!(ok, "{report}");
    println!("{report}");
}

/// `onyx serve --engine ort` answers as tract computes, within 1e-5.
#[test]
fn serving_on_onnx_runtime_answers_as_tract_does() {
    let (_dir, model) = compiled_cnn();
    let server = onyx_serve(&model, &["--engine", "ort", "--engine-threads", "1"]);
    let (x, want) = images(&model, 4, 6);
    let reply = post_json(server.port, "/v2/models/mnist_cnn/infer", &infer_json("image", &[4, 1, 28, 28], &x));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let got = output_values(&reply, "dense_1");
    assert!(got.len() == want.len() && got.iter().zip(&want).all(|(a, b)| (a - b).abs() <= 1e-5), "{got:?} vs {want:?}");
}
