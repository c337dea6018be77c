//! Per-node time of one model on tract:
//! `cargo run --example profile_step -- MODEL.onnx BATCH [RUNS] [NODES SHOWN]`.
//! Feeds seeded values to every input (integer inputs get small class indices) after fixing the batch.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use tract_onnx::prelude::*;

fn main() -> TractResult<()> {
    // As `onyx train` runs.
    onyx_runtime::memory::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    let (path, batch) = (&args[1], args[2].parse::<usize>()?);
    let runs: usize = args.get(3).map_or(Ok(20), |r| r.parse::<usize>())?.max(1);
    let proto = onyx_proto::read_model(std::path::Path::new(path)).map_err(|e| TractError::msg(e.to_string()))?;
    let proto = onyx_compiler::passes::for_tract(&onyx_compiler::passes::fix_batch(&proto, batch)).map_err(|e| TractError::msg(e.to_string()))?;
    let bytes = onyx_proto::encode_model(&proto);
    let loading = Instant::now();
    let plan = tract_onnx::onnx().model_for_read(&mut bytes.as_slice())?.into_optimized()?.into_runnable()?;
    let load_ms = loading.elapsed().as_secs_f64() * 1e3;
    let model = plan.model();
    let inputs: TVec<TValue> = model
        .input_outlets()?
        .iter()
        .map(|o| {
            let fact = model.outlet_fact(*o)?;
            let shape: Vec<usize> = fact.shape.as_concrete().expect("fixed shapes").to_vec();
            let n: usize = shape.iter().product();
            Ok(if fact.datum_type == i64::datum_type() {
                tract_ndarray::ArrayD::from_shape_vec(shape, (0..n).map(|i| (i % 10) as i64).collect())?.into_tvalue()
            } else {
                tract_ndarray::ArrayD::from_shape_vec(shape, (0..n).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect())?.into_tvalue()
            })
        })
        .collect::<TractResult<_>>()?;
    let mut state = tract_onnx::tract_core::plan::SimpleState::new(&plan)?;
    state.run(inputs.clone())?;
    let mut per_node: HashMap<usize, Duration> = HashMap::new();
    let start = Instant::now();
    let mut per_run = vec![];
    for _ in 0..runs {
        let run = Instant::now();
        state.run_plan_with_eval(inputs.clone(), |session, op_state, node, input| {
            let t = Instant::now();
            let r = tract_onnx::tract_core::plan::eval(session, op_state, node, input);
            *per_node.entry(node.id).or_default() += t.elapsed();
            r
        })?;
        per_run.push(run.elapsed().as_secs_f64() * 1e3);
    }
    per_run.sort_by(f64::total_cmp);
    let total = start.elapsed().as_secs_f64() * 1e3 / runs as f64;
    let mut rows: Vec<(usize, Duration)> = per_node.into_iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1));
    let mut by_op: HashMap<String, f64> = HashMap::new();
    for (id, d) in &rows {
        *by_op.entry(model.node(*id).op().name().to_string()).or_default() += d.as_secs_f64() * 1e3 / runs as f64;
    }
    println!("{total:.2} ms per run over {runs} runs (median {:.2}, fastest {:.2}), {} nodes", per_run[runs / 2], per_run[0], model.nodes().len());
    println!("{load_ms:.0} ms to load and optimize the plan");
    let mut ops: Vec<_> = by_op.into_iter().collect();
    ops.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (op, ms) in ops.iter().take(15) {
        println!("{ms:8.3} ms  {op}");
    }
    // Per layer, forward and gradient apart: the node name up to its second '/' ("conv2d/Conv",
    // "conv2d/Conv/grad" and its pieces fall in "conv2d/Conv" and "conv2d/Conv/grad").
    let mut by_layer: HashMap<String, f64> = HashMap::new();
    for (id, d) in &rows {
        let name = &model.node(*id).name;
        let parts: Vec<&str> = name.split(['/', '.']).collect();
        let key = match parts.get(2) {
            Some(&"grad") => parts[..3].join("/"),
            _ => parts[..parts.len().min(2)].join("/"),
        };
        *by_layer.entry(key).or_default() += d.as_secs_f64() * 1e3 / runs as f64;
    }
    let mut layers: Vec<_> = by_layer.into_iter().collect();
    layers.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!();
    for (layer, ms) in layers.iter().take(15) {
        println!("{ms:8.3} ms  {layer}");
    }
    println!();
    let shown: usize = args.get(4).map_or(Ok(25), |r| r.parse())?;
    for (id, d) in rows.iter().take(shown) {
        let node = model.node(*id);
        println!(
            "{:8.3} ms  {} {} {:?}",
            d.as_secs_f64() * 1e3 / runs as f64,
            node.op().name(),
            node.name,
            model.outlet_fact(OutletId::new(*id, 0)).map(|f| format!("{:?}", f.shape)).unwrap_or_default()
        );
    }
    Ok(())
}
