//! The server's limits under load, over loopback: headers trickled in (slow-loris) are cut off at
//! the timeout while others are served, a flood of oversized requests is refused unread, and 10,000
//! mixed requests (a fifth of them malformed) get every answer right with the server's resident
//! memory flat.
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use onyx_runtime::{Engine, HostTensor, TractEngine};
use serde_json::json;
use support::http::{compiled_cnn, get, infer_json, onyx_serve, output_values, post_json, request};

/// The server process' resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok()).unwrap()
}

#[test]
fn headers_trickled_in_are_cut_off_while_others_are_served() {
    let (_dir, model) = compiled_cnn();
    let server = onyx_serve(&model, &["--timeout", "1", "--max-connections", "4"]);
    // Four slow clients take every connection slot.
    let slow: Vec<_> = (0..4)
        .map(|_| {
            let port = server.port;
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
                let started = Instant::now();
                let _ = s.write_all(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n");
                // One header line every 200 ms, never the blank line that ends them.
                while started.elapsed() < Duration::from_secs(20) {
                    if s.write_all(b"X-Slow: y\r\n").is_err() {
                        break;
                    }
                    let mut buf = [0u8; 512];
                    match s.read(&mut buf) {
                        Ok(0) => break,
                        Ok(_) => break,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(_) => break,
                    }
                }
                started.elapsed()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // A fifth client waits for a slot, which the header timeout frees.
    let started = Instant::now();
    assert_eq!(get(server.port, "/v2/health/live").status, 200);
    assert!(started.elapsed() < Duration::from_secs(5), "served after {:?}", started.elapsed());
    for s in slow {
        let held = s.join().unwrap();
        assert!(held < Duration::from_secs(5), "a slow client held its connection {held:?}");
    }
}

#[test]
fn ten_thousand_mixed_requests_all_answered_right_with_memory_flat() {
    let (_dir, model) = compiled_cnn();
    let server = onyx_serve(&model, &["--max-body-mb", "1"]);
    let port = server.port;
    let session = TractEngine.load(&onyx_proto::read_model(&model).unwrap()).unwrap();
    let inputs = support::random_inputs(session.as_ref(), 50, 7);
    let HostTensor::F32(x) = &inputs[0] else { panic!("float input") };
    let expected = session.run(&inputs).unwrap().remove(0).to_f64_vec();
    let (x, expected): (Arc<Vec<f32>>, Arc<Vec<f64>>) = (Arc::new(x.iter().copied().collect()), Arc::new(expected));
    // One request of a rotating mix: four good ones, then one of the malformed kinds.
    let one = move |i: usize| -> Result<(), String> {
        let k = i % 50;
        let image = &x[k * 784..(k + 1) * 784];
        let expect = |reply: support::http::Reply, status: u16| {
            if reply.status == status { Ok(reply) } else { Err(format!("request {i}: {} where {status} was due: {}", reply.status, reply.text())) }
        };
        if i % 5 != 4 {
            let reply = expect(post_json(port, "/v2/models/mnist_cnn/infer", &infer_json("image", &[1, 1, 28, 28], image)), 200)?;
            let got = output_values(&reply, "dense_1");
            let right = got.iter().zip(&expected[k * 10..(k + 1) * 10]).all(|(a, b)| (*a as f64 - b).abs() <= 1e-6);
            return if right { Ok(()) } else { Err(format!("request {i}: wrong answer {got:?}")) };
        }
        match (i / 5) % 6 {
            0 => expect(request(port, "POST", "/v2/models/mnist_cnn/infer", &[], b"{\"inputs\": [").map_err(|e| e.to_string())?, 400),
            1 => {
                let mut body = infer_json("image", &[1, 1, 28, 28], image);
                body["inputs"][0]["datatype"] = json!("INT64");
                expect(post_json(port, "/v2/models/mnist_cnn/infer", &body), 400)
            }
            2 => expect(post_json(port, "/v2/models/mnist_cnn/infer", &infer_json("image", &[1, 28, 28], image)), 400),
            3 => expect(post_json(port, "/v2/models/other/infer", &infer_json("image", &[1, 1, 28, 28], image)), 404),
            4 => {
                // Declared far over the limit: refused before a byte of it is read.
                let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
                s.write_all(b"POST /v2/models/mnist_cnn/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n")
                    .map_err(|e| e.to_string())?;
                expect(support::http::read_reply(s).map_err(|e| e.to_string())?, 413)
            }
            // A shape over the element budget, with no data behind it: refused before any buffer.
            _ => expect(post_json(port, "/v2/models/mnist_cnn/infer", &infer_json("image", &[100000, 1, 28, 28], &[])), 413),
        }
        .map(|_| ())
    };
    let one = Arc::new(one);
    let run = |range: std::ops::Range<usize>| -> Vec<String> {
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let (one, range) = (one.clone(), range.clone());
                std::thread::spawn(move || range.filter(|i| i % 16 == t).filter_map(|i| one(i).err()).collect::<Vec<_>>())
            })
            .collect();
        threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
    };
    // A warm-up settles the allocator's pools; then the measured run.
    assert_eq!(run(0..1000), Vec::<String>::new());
    let before = rss_kib(server.child.id());
    let started = Instant::now();
    let mut failures = run(1000..6000);
    let middle = rss_kib(server.child.id());
    failures.extend(run(6000..11_000));
    let took = started.elapsed();
    let after = rss_kib(server.child.id());
    assert!(failures.is_empty(), "{} failures, first: {:?}", failures.len(), &failures[..failures.len().min(5)]);
    println!("10,000 mixed requests in {:.1} s; resident memory {before} KiB before, {middle} KiB halfway, {after} KiB after", took.as_secs_f64());
    assert!((after as f64) < before as f64 * 1.10, "resident memory grew from {before} KiB to {after} KiB");
    assert_eq!(get(port, "/v2/health/live").status, 200);
}

/// The server process' peak resident memory (VmHWM), in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok()).unwrap()
}

/// Sixteen clients send a 24 MiB body each, all at once. With `--max-inflight-mb 48` the server
/// holds at most two of them at a time (the others wait in the kernel's socket buffers), so its
/// peak resident memory grows by a few bodies' worth, where holding all sixteen would take
/// 384 MiB, and goes back down once they are answered; every request gets an answer with a JSON
/// reason (400: the body is no JSON).
#[test]
fn bodies_in_flight_stay_within_the_budget() {
    let (_dir, model) = compiled_cnn();
    let server = onyx_serve(&model, &["--max-inflight-mb", "48", "--timeout", "60"]);
    let pid = server.child.id();
    let (before, resident) = (peak_kib(pid), rss_kib(pid));
    let body = Arc::new([vec![b' '; 24 << 20], b"{".to_vec()].concat());
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (port, body) = (server.port, body.clone());
            std::thread::spawn(move || {
                request(port, "POST", "/v2/models/mnist_cnn/infer", &[("Content-Type", "application/json".into())], &body).unwrap()
            })
        })
        .collect();
    for c in clients {
        let reply = c.join().unwrap();
        assert_eq!(reply.status, 400, "{}", reply.text());
        assert!(reply.json()["error"].is_string(), "{}", reply.text());
    }
    let grown = (peak_kib(pid) - before) / 1024;
    // The bodies' memory goes back to the kernel once they are answered.
    std::thread::sleep(Duration::from_millis(500));
    let kept = rss_kib(pid).saturating_sub(resident) / 1024;
    println!(
        "16 bodies of 24 MiB under a 48 MiB budget: peak resident memory grew by {grown} MiB (from {} MiB), {kept} MiB kept after",
        before / 1024
    );
    assert!(grown < 160, "the peak grew by {grown} MiB");
    assert!(kept < 24, "{kept} MiB stayed resident after the load");
}
