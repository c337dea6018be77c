//! Xavier (Glorot) and He initialization, as Keras draws them: a 512×512 dense kernel's sample
//! variance against the variance each scheme aims at (Glorot: 2/(fan_in+fan_out), uniform on
//! ±√(6/(fan_in+fan_out)); He normal: 2/fan_in, truncated at two standard deviations and rescaled
//! so the variance holds), and the same seed drawing the same weights.
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let (fan_in, fan_out) = (512usize, 512usize);
    for (init, target) in
        [("glorot_uniform", 2.0 / (fan_in + fan_out) as f64), ("he_normal", 2.0 / fan_in as f64), ("lecun_normal", 1.0 / fan_in as f64)]
    {
        let spec = dir.path().join(format!("{init}.toml"));
        std::fs::write(
            &spec,
            format!(
                "[model]\nname = \"{init}\"\ninput = {{ name = \"x\", shape = [{fan_in}] }}\nseed = 7\n\n[[layer]]\nkind = \"dense\"\nunits = {fan_out}\ninit = \"{init}\"\n"
            ),
        )?;
        let kernel = |spec: &Path| -> Result<Vec<f64>, Box<dyn std::error::Error>> {
            let model = onyx::compile_file(spec)?;
            let value = model.graph.params().find(|(_, v, _)| v.name.ends_with("kernel")).and_then(|(_, v, _)| v.init.as_ref()?.as_f32());
            Ok(value.ok_or("no kernel")?.into_iter().map(f64::from).collect())
        };
        let w = kernel(&spec)?;
        let mean = w.iter().sum::<f64>() / w.len() as f64;
        let variance = w.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / w.len() as f64;
        let ratio = variance / target;
        println!("{init:15} variance {variance:.6}, aimed at {target:.6} (ratio {ratio:.4}), mean {mean:+.5}");
        // 262,144 draws: the sample variance is within 2% of the true one, and the mean within five
        // standard errors of 0, but with odds too small to meet.
        if (ratio - 1.0).abs() > 0.02 || mean.abs() > 5.0 * target.sqrt() / (w.len() as f64).sqrt() {
            return Err(format!("{init}: the weights do not have the variance the scheme defines").into());
        }
        if kernel(&spec)? != w {
            return Err(format!("{init}: the same seed drew other weights").into());
        }
    }
    Ok(())
}
