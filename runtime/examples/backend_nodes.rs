//! The ONNX backend node tests (the `node/*/` folders of the `onnx` package's test data: a one-op
//! `model.onnx` and `test_data_set_*/{input,output}_*.pb`) through onyx, four checks per test:
//!
//! - **import**: `onyx_compiler::import` reads the model into the IR;
//! - **round-trip**: the imported graph exported again (`to_onnx`) re-imports, and the exported model
//!   gives the expected outputs on ONNX Runtime or, where ORT does not, on tract;
//! - **tract**: `TractEngine` loads the original model and gives the expected outputs;
//! - **ort**: `OrtEngine` (CPU) does the same (needs the `ort` feature and `ORT_DYLIB_PATH`).
//!
//! Outputs match when shapes and element types are equal and every value is within 1e-4 + 1e-3·|expected|
//! (NaN matches NaN, integers and booleans exactly). Tests with a graph input or output that is not a
//! tensor of an element type onyx carries (sequences, optionals, maps, strings, float8, int4...) are
//! not applicable to the last three checks.
//!
//! `cargo run -p onyx-runtime --example backend_nodes --features ort -- NODE_DIR [--markdown OUT.md]
//!  [--filter SUBSTRING] [--timeout SECONDS] [--about TEXT]...`
//!
//! Each test runs in a worker process (this program with `--worker`), so that an abort, a stack
//! overflow or a hang inside an engine costs one check of one test: the worker is started again and
//! the test goes on without the check that brought it down.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use onyx_compiler::import::upgrade::{NEWEST, OLDEST};
use onyx_compiler::ir::DType;
use onyx_proto::onnx::{ModelProto, TensorProto, ValueInfoProto, type_proto};
use onyx_runtime::{Engine, HostTensor, TractEngine};

/// The checks, in the order a worker runs them (round-trip last: it runs on the engines).
const COLUMNS: [&str; 4] = ["import", "tract", "ort", "round-trip"];
/// The order tables show them in.
const SHOWN: [&str; 4] = ["import", "round-trip", "tract", "ort"];
const RTOL: f64 = 1e-3;
const ATOL: f64 = 1e-4;
/// Longest reason a worker reports.
const REASON_CHARS: usize = 400;
/// The round-trip's failure where import fails.
const NOT_IMPORTED: &str = "the model does not import";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--worker") {
        worker(Path::new(&args[1]));
        return;
    }
    let mut dir = None;
    let mut markdown = None;
    let mut filter = None;
    let mut timeout = 120u64;
    let mut about = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut value = |what: &str| it.next().unwrap_or_else(|| usage(&format!("{what} needs a value")));
        match a.as_str() {
            "--markdown" => markdown = Some(PathBuf::from(value("--markdown"))),
            "--filter" => filter = Some(value("--filter")),
            "--timeout" => timeout = value("--timeout").parse().unwrap_or_else(|_| usage("--timeout takes seconds")),
            "--about" => about.push(value("--about")),
            "-h" | "--help" => usage(""),
            s if s.starts_with("--") => usage(&format!("unknown option {s}")),
            _ if dir.is_none() => dir = Some(PathBuf::from(a)),
            _ => usage("one node data folder"),
        }
    }
    let dir = dir.unwrap_or_else(|| usage("the node data folder is missing"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| usage(&format!("{}: {e}", dir.display())))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("model.onnx").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| filter.as_deref().is_none_or(|f| n.contains(f)))
        .collect();
    names.sort();
    if names.is_empty() {
        usage(&format!("no test folders (with a model.onnx) in {}", dir.display()));
    }
    let started = Instant::now();
    let results = drive(&dir, &names, Duration::from_secs(timeout));
    let elapsed = started.elapsed();
    let report = Report::new(results);
    print!("{}", report.summary_text());
    eprintln!("{} tests in {:.0} s", names.len(), elapsed.as_secs_f64());
    if let Some(out) = markdown {
        let text = report.markdown(&dir, &about, elapsed);
        if let Err(e) = std::fs::write(&out, text) {
            eprintln!("{}: {e}", out.display());
            std::process::exit(1);
        }
        eprintln!("wrote {}", out.display());
    }
}

fn usage(message: &str) -> ! {
    if !message.is_empty() {
        eprintln!("error: {message}");
    }
    eprintln!(
        "usage: backend_nodes NODE_DIR [--markdown OUT.md] [--filter SUBSTRING] [--timeout SECONDS] [--about TEXT]...\n\
         e.g. cargo run -p onyx-runtime --example backend_nodes --features ort -- .../onnx/backend/test/data/node --markdown out.md"
    );
    std::process::exit(if message.is_empty() { 0 } else { 2 })
}

// ---------------------------------------------------------------------------------------------
// Results

#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Pass,
    Fail(String),
    /// Not applicable: the test's inputs or outputs are not tensors onyx carries.
    NotApplicable(String),
}

#[derive(Clone, Debug, Default)]
struct TestResult {
    name: String,
    /// The op of the model's single node ("" for a graph of several nodes).
    op: String,
    /// The version of the default ONNX domain the model imports.
    opset: Option<i64>,
    columns: BTreeMap<&'static str, Outcome>,
}

impl TestResult {
    /// Whether the model's default-domain opset is one onyx reads.
    fn in_range(&self) -> bool {
        self.opset.is_some_and(|v| (OLDEST..=NEWEST).contains(&v))
    }
}

fn column(name: &str) -> &'static str {
    COLUMNS.into_iter().find(|c| *c == name).unwrap_or("import")
}

/// One line, tab-free, at most `REASON_CHARS` characters.
fn clean(reason: &str) -> String {
    let one: String = reason.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let one = one.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > REASON_CHARS { one.chars().take(REASON_CHARS).collect::<String>() + "…" } else { one }
}

// ---------------------------------------------------------------------------------------------
// The driver: workers, restarted when one dies or hangs

/// What a worker says, one line each: `TEST name`, `OP op`, `BEGIN column`,
/// `COL column pass|fail|na reason`, `END`.
enum Line {
    Said(String),
    Closed,
}

struct Worker {
    child: std::process::Child,
    lines: mpsc::Receiver<Line>,
}

fn spawn(dir: &Path, queue: &[(String, Vec<&'static str>)]) -> Worker {
    let exe = std::env::current_exe().expect("the path of this program");
    let mut child = Command::new(exe)
        .arg("--worker")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("a worker process");
    let mut stdin = child.stdin.take().expect("the worker's input");
    let list: String = queue.iter().map(|(name, skip)| format!("{name}\t{}\n", skip.join(","))).collect();
    // The list may exceed a pipe's buffer; the worker reads it before it starts.
    std::thread::spawn(move || {
        let _ = stdin.write_all(list.as_bytes());
    });
    let stdout = child.stdout.take().expect("the worker's output");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(l) => {
                    if tx.send(Line::Said(l)).is_err() {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = tx.send(Line::Closed);
    });
    Worker { child, lines }
}

fn drive(dir: &Path, names: &[String], timeout: Duration) -> Vec<TestResult> {
    // Each test with the checks to leave out (those that brought a worker down).
    let mut queue: Vec<(String, Vec<&'static str>)> = names.iter().map(|n| (n.clone(), vec![])).collect();
    let mut done: Vec<TestResult> = Vec::new();
    // Results of tests a worker died in, kept to be completed by the next one.
    let mut partial: HashMap<String, TestResult> = HashMap::new();
    let total = names.len();
    while !queue.is_empty() {
        let mut worker = spawn(dir, &queue);
        let mut current: Option<TestResult> = None;
        let mut running: Option<&'static str> = None;
        let mut finished = 0;
        let death = loop {
            let line = match worker.lines.recv_timeout(timeout) {
                Ok(Line::Said(l)) => l,
                Ok(Line::Closed) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = worker.child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                    break Some(format!("the worker process died ({status})"));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = worker.child.kill();
                    let _ = worker.child.wait();
                    break Some(format!("no result within {} s", timeout.as_secs()));
                }
            };
            let mut parts = line.splitn(4, '\t');
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some("TEST"), Some(name), _, _) => {
                    current = Some(partial.remove(name).unwrap_or_else(|| TestResult { name: name.to_string(), ..Default::default() }));
                }
                (Some("OP"), Some(op), _, _) => {
                    if let Some(t) = current.as_mut() {
                        t.op = op.to_string();
                    }
                }
                (Some("OPSET"), Some(v), _, _) => {
                    if let Some(t) = current.as_mut() {
                        t.opset = v.parse().ok();
                    }
                }
                (Some("BEGIN"), Some(col), _, _) => running = Some(column(col)),
                (Some("COL"), Some(col), Some(status), reason) => {
                    let reason = reason.unwrap_or("").to_string();
                    let outcome = match status {
                        "pass" => Outcome::Pass,
                        "na" => Outcome::NotApplicable(reason),
                        _ => Outcome::Fail(reason),
                    };
                    if let Some(t) = current.as_mut() {
                        t.columns.insert(column(col), outcome);
                    }
                    running = None;
                }
                (Some("END"), _, _, _) => {
                    if let Some(t) = current.take() {
                        print_line(&t, done.len() + 1, total);
                        done.push(t);
                    }
                    finished += 1;
                }
                (None | Some(""), _, _, _) => {}
                _ => eprintln!("worker: {line}"),
            }
            if finished == queue.len() {
                let _ = worker.child.wait();
                break None;
            }
        };
        queue.drain(..finished);
        let Some(death) = death else { continue };
        // The test in progress loses the check that was running; the worker's restart goes on
        // with the rest of it.
        let Some((name, mut skip)) = (!queue.is_empty()).then(|| queue.remove(0)) else { break };
        let mut t = current.take().or_else(|| partial.remove(&name)).unwrap_or_else(|| TestResult { name: name.clone(), ..Default::default() });
        let col = running.unwrap_or_else(|| COLUMNS.into_iter().find(|c| !t.columns.contains_key(c)).unwrap_or("import"));
        t.columns.insert(col, Outcome::Fail(format!("crashed: {death}")));
        skip.extend(t.columns.keys().copied());
        skip.sort();
        skip.dedup();
        if skip.len() < COLUMNS.len() {
            partial.insert(name.clone(), t);
            queue.insert(0, (name, skip));
        } else {
            print_line(&t, done.len() + 1, total);
            done.push(t);
        }
    }
    done.extend(partial.into_values());
    done.sort_by(|a, b| a.name.cmp(&b.name));
    done
}

fn print_line(t: &TestResult, index: usize, total: usize) {
    let mut line = format!("[{index:>4}/{total}] {:<60}", t.name);
    let mut first_failure = None;
    for col in SHOWN {
        let mark = match t.columns.get(col) {
            Some(Outcome::Pass) => "ok",
            Some(Outcome::Fail(r)) => {
                first_failure.get_or_insert_with(|| format!("{col}: {r}"));
                "FAIL"
            }
            Some(Outcome::NotApplicable(_)) => "n/a",
            None => "-",
        };
        line += &format!(" {col}={mark:<4}");
    }
    if let Some(f) = first_failure {
        let short: String = f.chars().take(160).collect();
        line += &format!("  {short}");
    }
    println!("{line}");
}

// ---------------------------------------------------------------------------------------------
// The worker: runs the checks of each test it is given

static PANIC: Mutex<String> = Mutex::new(String::new());

fn worker(dir: &Path) {
    // A panic inside an engine becomes the check's failure, not noise on stderr.
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut p) = PANIC.lock() {
            *p = info.to_string();
        }
    }));
    let mut list = String::new();
    let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut list);
    let out = std::io::stdout();
    for line in list.lines() {
        let (name, skip) = line.split_once('\t').unwrap_or((line, ""));
        let skip: HashSet<&str> = skip.split(',').filter(|s| !s.is_empty()).collect();
        let say = |s: String| {
            let mut o = out.lock();
            let _ = writeln!(o, "{s}");
            let _ = o.flush();
        };
        say(format!("TEST\t{name}"));
        run_test(&dir.join(name), &skip, &say);
        say("END".into());
    }
}

/// Runs `f`, a panic in it becoming an error.
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let hooked = PANIC.lock().map(|p| p.clone()).unwrap_or_default();
            let message =
                payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned()).unwrap_or_default();
            Err(format!("panic: {}", if hooked.is_empty() { message } else { hooked }))
        }
    }
}

/// The expected values of one data set: inputs by name, outputs in the graph's order.
struct DataSet {
    inputs: HashMap<String, HostTensor>,
    outputs: Vec<(String, HostTensor)>,
}

fn run_test(dir: &Path, skip: &HashSet<&str>, say: &dyn Fn(String)) {
    let report = |col: &str, outcome: Result<(), String>| match outcome {
        Ok(()) => say(format!("COL\t{col}\tpass\t")),
        Err(r) => say(format!("COL\t{col}\tfail\t{}", clean(&r))),
    };
    let model = match onyx_proto::read_model(&dir.join("model.onnx")) {
        Ok(m) => m,
        Err(e) => {
            for col in COLUMNS.iter().filter(|c| !skip.contains(*c)) {
                report(col, Err(format!("read_model: {e}")));
            }
            return;
        }
    };
    let nodes = model.graph.as_ref().map_or(&[][..], |g| &g.node[..]);
    let op = if nodes.len() == 1 { nodes[0].op_type.clone().unwrap_or_default() } else { String::new() };
    say(format!("OP\t{op}"));
    let opset = model.opset_import.iter().find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx"))).and_then(|o| o.version);
    if let Some(v) = opset {
        say(format!("OPSET\t{v}"));
    }

    if !skip.contains("import") {
        say("BEGIN\timport".into());
        report("import", guarded(|| onyx_compiler::import(&model).map(|_| ()).map_err(|e| e.to_string())));
    }
    if let Some(why) = not_applicable(&model) {
        for col in ["tract", "ort", "round-trip"].iter().filter(|c| !skip.contains(*c)) {
            say(format!("COL\t{col}\tna\t{}", clean(&why)));
        }
        return;
    }
    let data = match read_data_sets(dir, &model) {
        Ok(d) => d,
        Err(e) => {
            for col in ["tract", "ort", "round-trip"].iter().filter(|c| !skip.contains(*c)) {
                report(col, Err(format!("test data: {e}")));
            }
            return;
        }
    };
    let engines = engines();
    let mut ran_original: HashMap<&str, bool> = HashMap::new();
    for (col, engine) in &engines {
        if skip.contains(col) {
            continue;
        }
        say(format!("BEGIN\t{col}"));
        let outcome = match engine {
            Ok(engine) => guarded(|| check_on(engine.as_ref(), &model, &data)),
            Err(why) => Err(why.clone()),
        };
        ran_original.insert(col, outcome.is_ok());
        report(col, outcome);
    }
    if !skip.contains("round-trip") {
        say("BEGIN\tround-trip".into());
        // ORT first, then tract; an engine that crashed on the original is left out, and one that
        // ran it correctly gives the reason for a failure.
        let usable: Vec<&NamedEngine> = engines.iter().filter(|(c, _)| !skip.contains(c)).collect();
        report("round-trip", guarded(|| round_trip(&model, &data, &usable, &ran_original)));
    }
}

/// ORT first: the round-trip prefers it.
/// An engine by its name, or why it is not available.
type NamedEngine = (&'static str, Result<Box<dyn Engine>, String>);

fn engines() -> Vec<NamedEngine> {
    #[cfg(feature = "ort")]
    let ort: Result<Box<dyn Engine>, String> = {
        let e = onyx_runtime::OrtEngine::new(None, onyx_runtime::Device::Cpu);
        e.check().map(|()| Box::new(e) as Box<dyn Engine>).map_err(|e| e.to_string())
    };
    #[cfg(not(feature = "ort"))]
    let ort: Result<Box<dyn Engine>, String> = Err("not built: the example runs without the `ort` feature".into());
    vec![("ort", ort), ("tract", Ok(Box::new(TractEngine) as Box<dyn Engine>))]
}

fn check_on(engine: &dyn Engine, model: &ModelProto, data: &[DataSet]) -> Result<(), String> {
    let session = engine.load(model).map_err(|e| e.to_string())?;
    for (i, set) in data.iter().enumerate() {
        let feed = session
            .inputs()
            .iter()
            .map(|io| set.inputs.get(&io.name).cloned().ok_or_else(|| format!("the test data has no input `{}`", io.name)))
            .collect::<Result<Vec<_>, _>>()?;
        let got = session.run(&feed).map_err(|e| e.to_string())?;
        let names: Vec<&str> = session.outputs().iter().map(|o| o.name.as_str()).collect();
        compare(&names, &got, &set.outputs).map_err(|e| if data.len() > 1 { format!("data set {i}: {e}") } else { e })?;
    }
    Ok(())
}

fn round_trip(model: &ModelProto, data: &[DataSet], engines: &[&NamedEngine], ran_original: &HashMap<&str, bool>) -> Result<(), String> {
    let graph = onyx_compiler::import(model).map_err(|_| NOT_IMPORTED.to_string())?;
    let mut exported = onyx_compiler::to_onnx(&graph);
    onyx_compiler::import(&exported).map_err(|e| format!("re-import of the export: {e}"))?;
    // As a file would carry it.
    exported = onyx_proto::decode_model(&onyx_proto::encode_model(&exported)).map_err(|e| e.to_string())?;
    let mut reasons: Vec<(bool, String)> = Vec::new();
    for (col, engine) in engines {
        let Ok(engine) = engine else { continue };
        match guarded(|| check_on(engine.as_ref(), &exported, data)) {
            Ok(()) => return Ok(()),
            Err(e) => reasons.push((ran_original.get(col).copied().unwrap_or(false), format!("{col}: {e}"))),
        }
    }
    // The reason from an engine that ran the original, where one did.
    reasons.sort_by_key(|(ran, _)| !*ran);
    Err(reasons.into_iter().next().map_or_else(|| "no engine to run the export on".into(), |(_, r)| r))
}

// ---------------------------------------------------------------------------------------------
// Test data

/// Why a model's inputs or outputs are outside what onyx runs, if they are.
fn not_applicable(model: &ModelProto) -> Option<String> {
    let g = model.graph.as_ref()?;
    let inits: HashSet<&str> = g.initializer.iter().filter_map(|t| t.name.as_deref()).collect();
    let inputs = g.input.iter().filter(|v| !inits.contains(v.name.as_deref().unwrap_or("")));
    for (kind, v) in inputs.map(|v| ("input", v)).chain(g.output.iter().map(|v| ("output", v))) {
        if let Some(why) = not_a_tensor(v) {
            return Some(format!("{kind} `{}` {why}", v.name.as_deref().unwrap_or("")));
        }
    }
    None
}

fn not_a_tensor(v: &ValueInfoProto) -> Option<String> {
    match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => {
            let code = t.elem_type.unwrap_or(0);
            DType::from_onnx_code(code).is_none().then(|| format!("is a tensor of {}", element_name(code)))
        }
        Some(type_proto::Value::SequenceType(_)) => Some("is a sequence".into()),
        Some(type_proto::Value::OptionalType(_)) => Some("is an optional".into()),
        Some(type_proto::Value::MapType(_)) => Some("is a map".into()),
        Some(type_proto::Value::SparseTensorType(_)) => Some("is a sparse tensor".into()),
        Some(_) => Some("is not a tensor".into()),
        None => Some("has no type".into()),
    }
}

/// ONNX's name of an element type code.
fn element_name(code: i32) -> String {
    match code {
        8 => "strings".into(),
        14 => "complex64".into(),
        15 => "complex128".into(),
        17 => "float8e4m3fn".into(),
        18 => "float8e4m3fnuz".into(),
        19 => "float8e5m2".into(),
        20 => "float8e5m2fnuz".into(),
        21 => "uint4".into(),
        22 => "int4".into(),
        23 => "float4e2m1".into(),
        24 => "float8e8m0".into(),
        25 => "uint2".into(),
        26 => "int2".into(),
        c => format!("element type {c}"),
    }
}

fn read_data_sets(dir: &Path, model: &ModelProto) -> Result<Vec<DataSet>, String> {
    let g = model.graph.as_ref().ok_or("the model has no graph")?;
    let mut sets: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("test_data_set_")))
        .collect();
    sets.sort();
    if sets.is_empty() {
        return Err("no test_data_set_* folder".into());
    }
    sets.iter()
        .map(|set| {
            let mut inputs = HashMap::new();
            for (j, vi) in g.input.iter().enumerate() {
                let path = set.join(format!("input_{j}.pb"));
                if !path.is_file() {
                    continue;
                }
                let (name, t) = read_pb(&path)?;
                inputs.insert(if name.is_empty() { vi.name.clone().unwrap_or_default() } else { name }, t);
            }
            let outputs = g
                .output
                .iter()
                .enumerate()
                .map(|(j, vi)| {
                    let (name, t) = read_pb(&set.join(format!("output_{j}.pb")))?;
                    Ok((if name.is_empty() { vi.name.clone().unwrap_or_default() } else { name }, t))
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(DataSet { inputs, outputs })
        })
        .collect()
}

/// A `TensorProto` file: its name and values.
fn read_pb(path: &Path) -> Result<(String, HostTensor), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let t = decode_tensor(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = t.name.clone().unwrap_or_default();
    Ok((name, host_tensor(&t).map_err(|e| format!("{}: {e}", path.display()))?))
}

/// Decodes a `TensorProto` through `decode_model` (this crate does not name prost): the tensor's
/// bytes as the one initializer (field 5) of a graph (field 7) of a model, which protobuf encodes
/// as the same bytes behind a field tag and a length each.
fn decode_tensor(bytes: &[u8]) -> Result<TensorProto, String> {
    fn field(number: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(payload.len() + 12);
        for mut v in [(number << 3) | 2, payload.len() as u64] {
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
        out.extend_from_slice(payload);
        out
    }
    let model = onyx_proto::decode_model(&field(7, &field(5, bytes))).map_err(|e| e.to_string())?;
    model.graph.and_then(|g| g.initializer.into_iter().next()).ok_or_else(|| "not a TensorProto".into())
}

/// A tensor's values from `raw_data` or its typed field, read as the importer reads initializers.
fn host_tensor(t: &TensorProto) -> Result<HostTensor, String> {
    let code = t.data_type.unwrap_or(0);
    if DType::from_onnx_code(code).is_none() {
        return Err(format!("a tensor of {}", element_name(code)));
    }
    let tensor = onyx_compiler::import::read_tensor(t)?;
    HostTensor::from_ir(&tensor).ok_or_else(|| format!("a tensor of {} that does not fill its shape", element_name(code)))
}

// ---------------------------------------------------------------------------------------------
// Comparing outputs

fn compare(names: &[&str], got: &[HostTensor], expected: &[(String, HostTensor)]) -> Result<(), String> {
    for (k, (name, want)) in expected.iter().enumerate() {
        // By name; by position where the engine's names do not say.
        let index = names.iter().position(|n| n == name).or_else(|| (names.len() == expected.len()).then_some(k));
        let have = index
            .and_then(|i| got.get(i))
            .ok_or_else(|| format!("output `{name}` missing (the session gives {} outputs: {})", got.len(), names.join(", ")))?;
        same(have, want).map_err(|e| format!("output `{name}`: {e}"))?;
    }
    Ok(())
}

fn same(got: &HostTensor, want: &HostTensor) -> Result<(), String> {
    if got.dtype() != want.dtype() {
        return Err(format!("{} values, expected {}", got.dtype(), want.dtype()));
    }
    if got.shape() != want.shape() {
        return Err(format!("shape {:?}, expected {:?}", got.shape(), want.shape()));
    }
    if !got.dtype().is_float() {
        if got.to_le_bytes() != want.to_le_bytes() {
            let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
            let differ = g.iter().zip(&w).filter(|(a, b)| a != b).count();
            let first = g.iter().zip(&w).position(|(a, b)| a != b).unwrap_or(0);
            return Err(format!(
                "{differ} of {} values differ; first at {first}: {}, expected {}",
                w.len(),
                g.get(first).copied().unwrap_or_default(),
                w.get(first).copied().unwrap_or_default()
            ));
        }
        return Ok(());
    }
    let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
    let close = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= ATOL + RTOL * b.abs();
    let bad: Vec<usize> = (0..w.len()).filter(|&i| !close(g[i], w[i])).collect();
    if let Some(&first) = bad.first() {
        let worst = bad.iter().map(|&i| (g[i] - w[i]).abs()).fold(0.0f64, |m, d| if d.is_nan() { f64::INFINITY } else { m.max(d) });
        return Err(format!(
            "{} of {} values differ; first at {first}: {}, expected {} (largest difference {worst:.3e})",
            bad.len(),
            w.len(),
            g[first],
            w[first]
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The report

struct Report {
    results: Vec<TestResult>,
    /// Test name → the op family it is counted under.
    family: HashMap<String, String>,
}

/// Counts for one check over a set of tests.
#[derive(Default, Clone, Copy)]
struct Count {
    pass: usize,
    fail: usize,
}

impl Report {
    fn new(results: Vec<TestResult>) -> Report {
        let ops: HashMap<&str, &str> = results.iter().map(|t| (t.name.as_str(), t.op.as_str())).collect();
        let family = results
            .iter()
            .map(|t| {
                // A graph of one node: its op. An `_expanded` test (the op's function body): the op
                // of the test it expands. Otherwise the name's first word.
                let base = t.name.find("_expanded").map(|i| &t.name[..i]);
                let op = Some(t.op.as_str())
                    .filter(|o| !o.is_empty())
                    .or_else(|| base.and_then(|b| ops.get(b).copied()).filter(|o| !o.is_empty()))
                    .map(str::to_string)
                    .unwrap_or_else(|| t.name.trim_start_matches("test_").split('_').next().unwrap_or("").to_string());
                (t.name.clone(), op)
            })
            .collect();
        Report { results, family }
    }

    fn applicable(&self) -> impl Iterator<Item = &TestResult> {
        self.results.iter().filter(|t| !t.columns.values().any(|o| matches!(o, Outcome::NotApplicable(_))))
    }

    fn count<'a>(tests: impl Iterator<Item = &'a TestResult>, col: &str) -> Count {
        let mut c = Count::default();
        for t in tests {
            match t.columns.get(col) {
                Some(Outcome::Pass) => c.pass += 1,
                Some(Outcome::NotApplicable(_)) => {}
                _ => c.fail += 1,
            }
        }
        c
    }

    /// How many applicable tests a check fails on the model's opset alone.
    fn opset_refusals(&self, col: &str) -> usize {
        self.applicable().filter(|t| matches!(t.columns.get(col), Some(Outcome::Fail(r)) if is_opset_refusal(r))).count()
    }

    /// The most frequent failure reasons of a check over the applicable tests, each with its count
    /// and up to three tests it names; the refusal of an opset is left out.
    fn top_reasons(&self, col: &str, n: usize) -> Vec<(usize, String, Vec<String>)> {
        let mut by: HashMap<String, (usize, Vec<String>)> = HashMap::new();
        for t in self.applicable() {
            if let Some(Outcome::Fail(r)) = t.columns.get(col) {
                // A round-trip's reasons are those of the tests that import; opset refusals are
                // counted apart.
                if (col == "round-trip" && r == NOT_IMPORTED) || is_opset_refusal(r) {
                    continue;
                }
                let e = by.entry(reason_key(r)).or_default();
                e.0 += 1;
                if e.1.len() < 3 {
                    e.1.push(t.name.clone());
                }
            }
        }
        let mut v: Vec<(usize, String, Vec<String>)> = by.into_iter().map(|(k, (c, names))| (c, k, names)).collect();
        v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        v.truncate(n);
        v
    }

    fn summary_text(&self) -> String {
        let applicable = self.applicable().count();
        let in_range = self.applicable().filter(|t| t.in_range()).count();
        let mut s = format!(
            "\n{} tests: {applicable} applicable, {} not applicable (non-tensor inputs or outputs)\n",
            self.results.len(),
            self.results.len() - applicable
        );
        for col in SHOWN {
            let c = Report::count(self.applicable(), col);
            let r = Report::count(self.applicable().filter(|t| t.in_range()), col);
            s += &format!(
                "{col:<11} {:>5} pass {:>5} fail  {:>5.1}%   in opsets {OLDEST}-{NEWEST} ({in_range} tests): {:>5} pass {:>5.1}%\n",
                c.pass,
                c.fail,
                percent(c.pass, applicable),
                r.pass,
                percent(r.pass, in_range)
            );
        }
        for col in SHOWN {
            s += &format!("\ntop failure reasons, {col}:\n");
            let refused = self.opset_refusals(col);
            if refused > 0 {
                s += &format!("  {refused:>5}  (the model's opset, refused before anything else)\n");
            }
            let top = self.top_reasons(col, 5);
            if top.is_empty() && refused == 0 {
                s += "  none\n";
            }
            for (n, reason, _) in top {
                s += &format!("  {n:>5}  {reason}\n");
            }
        }
        s
    }

    fn markdown(&self, dir: &Path, about: &[String], elapsed: Duration) -> String {
        let applicable: Vec<&TestResult> = self.applicable().collect();
        let na: Vec<&TestResult> = self.results.iter().filter(|t| !applicable.iter().any(|a| a.name == t.name)).collect();
        let mut s = String::new();
        s += "# ONNX backend node tests\n\n";
        s += "Generated by `scripts/backend_nodes.sh` (`runtime/examples/backend_nodes.rs`); do not edit by hand.\n\n";
        s += "The ONNX backend node tests are the `onnx` package's conformance cases: each is a model of one op \
              (or, in the `_expanded` variants, the op's function body) with its inputs and the outputs of ONNX's \
              reference implementation. Per test, four checks:\n\n";
        s += "- **import**: `onyx_compiler::import` reads the model into onyx's IR.\n";
        s += "- **round-trip**: the imported IR, exported again with `onyx_compiler::to_onnx`, imports once more, and the \
              exported model gives the expected outputs on ONNX Runtime, or on tract where ONNX Runtime does not; \
              a round-trip that loses an attribute, an input or a constant fails here.\n";
        s += "- **tract**: `onyx_runtime::TractEngine` loads the original model and gives the expected outputs.\n";
        s += "- **ort**: `onyx_runtime::OrtEngine` (CPU) does the same.\n\n";
        s += &format!(
            "Outputs match when element types and shapes are equal and every value is within {ATOL:e} + {RTOL:e}·|expected| \
             (NaN matches NaN; integers and booleans exactly). A test whose graph inputs or outputs are not tensors of an \
             element type onyx carries (sequences, optionals, maps, strings, float8, int4...) is not applicable: it is \
             counted apart and only imported. Every check runs in a worker process whose panics, aborts and hangs \
             fail that check alone.\n\n"
        );
        s += "## Run\n\n";
        for a in about {
            s += &format!("- {a}\n");
        }
        s += &format!("- node test folders: {} (`{}`)\n", self.results.len(), dir.file_name().and_then(|n| n.to_str()).unwrap_or(""));
        s += &format!("- wall time: {:.0} s\n\n", elapsed.as_secs_f64());

        s += "## Summary\n\n";
        s += &format!("Over the {} applicable tests ({} more are not applicable, listed at the end).\n\n", applicable.len(), na.len());
        let in_range: Vec<&TestResult> = applicable.iter().copied().filter(|t| t.in_range()).collect();
        s += &format!("| check | pass | fail | pass % | in opsets {OLDEST}–{NEWEST}: pass | fail | pass % |\n|---|---:|---:|---:|---:|---:|---:|\n");
        for col in SHOWN {
            let c = Report::count(applicable.iter().copied(), col);
            let r = Report::count(in_range.iter().copied(), col);
            s += &format!(
                "| {col} | {} | {} | {:.1} % | {} | {} | {:.1} % |\n",
                c.pass,
                c.fail,
                percent(c.pass, applicable.len()),
                r.pass,
                r.fail,
                percent(r.pass, in_range.len())
            );
        }
        s += &format!(
            "\nThe right half counts the {} applicable tests whose model imports opset {OLDEST} to {NEWEST} of the default \
             domain, the opsets onyx's importer reads and its engines run (`onyx_proto::validate` refuses newer ones \
             before either engine sees the model); the other {} import a newer opset, an older one, or only another domain.\n",
            in_range.len(),
            applicable.len() - in_range.len()
        );
        let imported: Vec<&TestResult> = applicable.iter().copied().filter(|t| t.columns.get("import") == Some(&Outcome::Pass)).collect();
        let rt = Report::count(imported.iter().copied(), "round-trip");
        s += &format!("\nOf the {} tests that import, {} ({:.1} %) round-trip.\n", imported.len(), rt.pass, percent(rt.pass, imported.len()));
        let both =
            applicable.iter().filter(|t| t.columns.get("tract") == Some(&Outcome::Pass) && t.columns.get("ort") == Some(&Outcome::Pass)).count();
        let either =
            applicable.iter().filter(|t| t.columns.get("tract") == Some(&Outcome::Pass) || t.columns.get("ort") == Some(&Outcome::Pass)).count();
        s += &format!("Both engines pass {both}; at least one passes {either}.\n\n");

        s += "## Most frequent failure reasons\n\n";
        s += "Reasons with names and numbers replaced by `…` and `N`, with up to three of the tests that fail so; a \
              round-trip's reasons are those of the tests that import.\n\n";
        for col in SHOWN {
            s += &format!("**{col}**: ");
            let refused = self.opset_refusals(col);
            if refused > 0 {
                s += &format!("{refused} tests fail on the model's opset alone, which onyx refuses before anything else. ");
            }
            let top = self.top_reasons(col, 5);
            if top.is_empty() {
                s += if col == "round-trip" { "Every test that imports round-trips.\n\n" } else { "No other failure.\n\n" };
                continue;
            }
            s += "The most frequent other reasons:\n\n| tests | reason | e.g. |\n|---:|---|---|\n";
            for (n, reason, names) in top {
                s += &format!("| {n} | {} | {} |\n", md_cell(&reason), names.join(", "));
            }
            s += "\n";
        }
        let unsupported = self.unsupported_ops();
        if !unsupported.is_empty() {
            s += "Ops the importer rejects as not representable (tests):\n";
            let list: Vec<String> = unsupported.iter().map(|(op, n)| format!("{op} ({n})")).collect();
            s += &format!("{}.\n\n", list.join(", "));
        }

        s += "## By op\n\n";
        s += "Tests grouped by the op of their single node (an `_expanded` test under the op it expands); \
              each cell is passed/applicable. ✓ marks a column where every applicable test passes.\n\n";
        s += "| op | opsets | tests | import | round-trip | tract | ort |\n|---|---|---:|---:|---:|---:|---:|\n";
        let mut families: BTreeMap<String, Vec<&TestResult>> = BTreeMap::new();
        for t in &self.results {
            families.entry(self.family[&t.name].clone()).or_default().push(t);
        }
        let mut families: Vec<(String, Vec<&TestResult>)> = families.into_iter().collect();
        families.sort_by_key(|(f, _)| f.to_lowercase());
        for (family, tests) in &families {
            let app: Vec<&TestResult> = tests.iter().copied().filter(|t| applicable.iter().any(|a| a.name == t.name)).collect();
            let versions: Vec<i64> = tests.iter().filter_map(|t| t.opset).collect();
            let opsets = match (versions.iter().min(), versions.iter().max()) {
                (Some(a), Some(b)) if a == b => a.to_string(),
                (Some(a), Some(b)) => format!("{a}–{b}"),
                _ => "–".into(),
            };
            let mut row = format!("| {family} | {opsets} | {}", tests.len());
            if app.len() < tests.len() {
                row += &format!(" ({} n/a)", tests.len() - app.len());
            }
            for col in SHOWN {
                let c = Report::count(app.iter().copied(), col);
                if app.is_empty() {
                    row += " | –";
                } else if c.fail == 0 {
                    row += &format!(" | {}/{} ✓", c.pass, app.len());
                } else {
                    row += &format!(" | {}/{}", c.pass, app.len());
                }
            }
            s += &row;
            s += " |\n";
        }

        s += "\n## Not applicable\n\n";
        s += "Tests with an input or output onyx does not carry, by the first such one; the import column counts \
              those that import all the same.\n\n";
        s += "| why | tests | import | which |\n|---|---:|---:|---|\n";
        let mut groups: BTreeMap<String, Vec<&TestResult>> = BTreeMap::new();
        for t in &na {
            let why = t.columns.values().find_map(|o| if let Outcome::NotApplicable(w) = o { Some(unnamed(w)) } else { None }).unwrap_or_default();
            groups.entry(why).or_default().push(t);
        }
        let mut groups: Vec<(String, Vec<&TestResult>)> = groups.into_iter().collect();
        groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        for (why, tests) in &groups {
            let imported = tests.iter().filter(|t| t.columns.get("import") == Some(&Outcome::Pass)).count();
            let names: Vec<&str> = tests.iter().map(|t| t.name.trim_start_matches("test_")).collect();
            s += &format!("| {} | {} | {imported} | {} |\n", md_cell(why), tests.len(), names.join(", "));
        }

        s += "\n## Failures\n\n";
        s += "Every failing check of an applicable test, with its reason, except the two reasons that need no \
              listing: a model whose opset onyx does not read or run (the summary counts those), and a round-trip \
              of a model that does not import.\n\n";
        s += "<details><summary>The list</summary>\n\n";
        s += "| test | check | reason |\n|---|---|---|\n";
        for t in &applicable {
            for col in SHOWN {
                if let Some(Outcome::Fail(r)) = t.columns.get(col)
                    && !(r == NOT_IMPORTED || is_opset_refusal(r))
                {
                    s += &format!("| {} | {col} | {} |\n", t.name, md_cell(&shorten(r, 200)));
                }
            }
        }
        s += "\n</details>\n";
        s
    }

    /// The ops in import's "not one onyx can represent" errors, with how many tests each fails.
    fn unsupported_ops(&self) -> Vec<(String, usize)> {
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for t in self.applicable() {
            if let Some(Outcome::Fail(r)) = t.columns.get("import")
                && r.contains("is not one onyx can represent")
                && let Some(op) = r.split(": op `").nth(1).and_then(|rest| rest.split('`').next())
            {
                *by.entry(op.to_string()).or_default() += 1;
            }
        }
        let mut v: Vec<(String, usize)> = by.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

/// `reason` with its first back-quoted name left out.
fn unnamed(reason: &str) -> String {
    let parts: Vec<&str> = reason.splitn(3, '`').collect();
    match parts[..] {
        [before, _, after] => format!("{before}`…`{after}"),
        _ => reason.to_string(),
    }
}

/// Whether a failure is the importer's or the engines' refusal of the model's opset.
fn is_opset_refusal(reason: &str) -> bool {
    reason.contains("of the default ONNX domain; onyx r")
}

fn percent(n: usize, of: usize) -> f64 {
    if of == 0 { 0.0 } else { 100.0 * n as f64 / of as f64 }
}

fn shorten(s: &str, chars: usize) -> String {
    if s.chars().count() > chars { s.chars().take(chars).collect::<String>() + "…" } else { s.to_string() }
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;")
}

/// A failure reason with what varies between tests taken out: a leading node label, quoted and
/// back-quoted names, numbers, and whatever follows the first `:` after a long prefix.
fn reason_key(reason: &str) -> String {
    let mut r = reason.trim();
    // import's "node `name` (Op): " or "node #3 (Op): ", also after "re-import of the export: ".
    let mut prefix = "";
    if let Some(rest) = r.strip_prefix("re-import of the export: ") {
        prefix = "re-import of the export: ";
        r = rest;
    }
    if let Some(rest) = r.strip_prefix("node ")
        && let Some(i) = rest.find("): ")
    {
        r = &rest[i + 3..];
    }
    let mut out = prefix.to_string();
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' | '"' => {
                out.push(c);
                out.push('…');
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
                out.push(c);
            }
            '0'..='9' => {
                while chars.peek().is_some_and(|d| d.is_ascii_digit() || *d == '.') {
                    chars.next();
                }
                out.push('N');
            }
            '[' => {
                // Shapes and lists of numbers.
                let mut depth = 1;
                for d in chars.by_ref() {
                    match d {
                        '[' => depth += 1,
                        ']' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                out.push_str("[…]");
            }
            _ => out.push(c),
        }
    }
    shorten(&out, 160)
}
