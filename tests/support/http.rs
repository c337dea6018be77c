//! A plain HTTP/1.1 client over a TCP stream, one connection per request, for the server tests:
//! plain enough to send what no good client would (broken JSON, short bodies, slow bodies).
#![allow(dead_code)]
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        let end = self.header("inference-header-content-length").and_then(|n| n.parse().ok()).unwrap_or(self.body.len());
        serde_json::from_slice(&self.body[..end]).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request and reads the whole reply.
pub fn request(port: u16, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    read_reply(stream)
}

pub fn read_reply(stream: TcpStream) -> std::io::Result<Reply> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status =
        line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other(format!("no status line: {line:?}")))?;
    let mut headers = vec![];
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut body = vec![];
    reader.read_to_end(&mut body)?;
    Ok(Reply { status, headers, body })
}

pub fn get(port: u16, path: &str) -> Reply {
    request(port, "GET", path, &[], b"").expect("the server answers")
}

pub fn post_json(port: u16, path: &str, body: &serde_json::Value) -> Reply {
    request(port, "POST", path, &[("Content-Type", "application/json".into())], body.to_string().as_bytes()).expect("the server answers")
}

/// A server process (`onyx serve …` or `app serve …`), stopped with SIGTERM when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Server {
    /// Starts `program args… --port 0` and waits for the address it prints.
    pub fn start(program: &Path, args: &[&str]) -> Server {
        let mut child =
            Command::new(program).args(args).args(["--port", "0"]).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().expect("the server starts");
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut line = String::new();
        let port = loop {
            line.clear();
            if err.read_line(&mut line).unwrap_or(0) == 0 || Instant::now() > deadline {
                let _ = child.kill();
                panic!("the server did not start: {line}");
            }
            if let Some(port) = line.split("http://127.0.0.1:").nth(1).and_then(|r| r.split_whitespace().next()).and_then(|p| p.parse().ok()) {
                break port;
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = err.read_to_string(&mut sink);
        });
        Server { child, port }
    }

    pub fn terminate(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
    }

    /// Waits for the process to end; its exit status.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("the server ends")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
    }
}

/// An inference request body for one FP32 input, as JSON.
pub fn infer_json(input: &str, shape: &[usize], values: &[f32]) -> serde_json::Value {
    serde_json::json!({ "inputs": [{ "name": input, "shape": shape, "datatype": "FP32", "data": values }] })
}

/// The FP32 values of output `name` in an inference reply (JSON data or binary).
pub fn output_values(reply: &Reply, name: &str) -> Vec<f32> {
    let json = reply.json();
    let outputs = json["outputs"].as_array().expect("outputs");
    let mut offset = reply.header("inference-header-content-length").and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
    for o in outputs {
        let size = o["parameters"]["binary_data_size"].as_u64().map(|n| n as usize);
        if o["name"] == name {
            return match size {
                Some(n) => reply.body[offset..offset + n].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
                None => o["data"].as_array().expect("data").iter().map(|v| v.as_f64().expect("number") as f32).collect(),
            };
        }
        offset += size.unwrap_or(0);
    }
    panic!("no output {name} in {json}")
}

/// The seed's CNN, compiled (seeded weights), in a temporary folder.
pub fn compiled_cnn() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("mnist_cnn.onnx");
    let (ok, _, err) = super::run_onyx(&["compile", "models/mnist_cnn.toml", "-o", model.to_str().unwrap()]);
    assert!(ok, "{err}");
    (dir, model)
}

/// `onyx serve MODEL EXTRA… --port 0`.
pub fn onyx_serve(model: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["serve", model.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start(Path::new(env!("CARGO_BIN_EXE_onyx")), &args)
}
