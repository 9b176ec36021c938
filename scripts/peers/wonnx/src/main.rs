//! Scores wonnx (0.5.1, wgpu) on a list of ONNX backend node tests with kiln's pass rule;
//! see `scripts/peers/README.md`.
//!
//! Usage: `score-wonnx LIST NODE_DIR` (LIST: one test name a line, `#` comments; NODE_DIR:
//! `$KILN_TEST_DATA/node`). Prints `N of M passed` and each failure with its reason.
//!
//! Each test's model is loaded with `wonnx::Session::from_model` (on the first adapter wgpu
//! finds) and run once, input `i` of the test feeding the model's `i`-th graph input that is
//! not an initializer. wonnx's inputs and outputs are f32, i32, i64 or u8: a test with any
//! other input dtype fails. A test passes when every output has the expected dtype and element
//! count (wonnx returns flat data, so the shape itself cannot be checked) and matches
//! elementwise: floats within `|out - expected| <= 1e-7 + 1e-3 * |expected|` (NaN matches
//! NaN, an infinity only itself), integers exactly. A load or run error, or a panic, is a
//! failure.

use protobuf::Message;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use wonnx::onnx::{ModelProto, TensorProto};
use wonnx::utils::{InputTensor, OutputTensor};

const ATOL: f64 = 1e-7;
const RTOL: f64 = 1e-3;

/// A test tensor's data in one of wonnx's four dtypes.
enum Data {
    F32(Vec<f32>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
}

/// `raw` read as little-endian `N`-byte words.
fn words<const N: usize, T>(raw: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
    raw.chunks_exact(N)
        .map(|c| from(c.try_into().expect("N bytes")))
        .collect()
}

/// The data of `t` (raw or typed fields), or why wonnx cannot take it.
fn data(t: &TensorProto) -> Result<Data, String> {
    let raw = t.get_raw_data();
    Ok(match t.get_data_type() {
        1 if !raw.is_empty() => Data::F32(words(raw, f32::from_le_bytes)),
        1 => Data::F32(t.get_float_data().to_vec()),
        6 if !raw.is_empty() => Data::I32(words(raw, i32::from_le_bytes)),
        6 => Data::I32(t.get_int32_data().to_vec()),
        7 if !raw.is_empty() => Data::I64(words(raw, i64::from_le_bytes)),
        7 => Data::I64(t.get_int64_data().to_vec()),
        2 if !raw.is_empty() => Data::U8(raw.to_vec()),
        2 => Data::U8(t.get_int32_data().iter().map(|&v| v as u8).collect()),
        other => return Err(format!("ONNX dtype {other} has no wonnx tensor type")),
    })
}

/// `prefix_0.pb`, `prefix_1.pb`, ... of `dir`: each tensor's data and element count.
fn read_tensors(dir: &Path, prefix: &str) -> Result<Vec<(Data, usize)>, String> {
    let mut tensors = Vec::new();
    loop {
        let path = dir.join(format!("{prefix}_{}.pb", tensors.len()));
        if !path.exists() {
            return Ok(tensors);
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let proto = TensorProto::parse_from_bytes(&bytes)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let count = proto.get_dims().iter().product::<i64>() as usize;
        tensors.push((
            data(&proto).map_err(|e| format!("{prefix}_{}: {e}", tensors.len()))?,
            count,
        ));
    }
}

/// `Ok` when `got` matches `want` by the pass rule, else why not.
fn compare(got: &OutputTensor, want: &Data, count: usize) -> Result<(), String> {
    let (g, w): (Vec<f64>, Vec<f64>) = match (got, want) {
        (OutputTensor::F32(g), Data::F32(w)) => (
            g.iter().map(|&v| v as f64).collect(),
            w.iter().map(|&v| v as f64).collect(),
        ),
        (OutputTensor::I32(g), Data::I32(w)) => {
            return exact(g, w, count);
        }
        (OutputTensor::I64(g), Data::I64(w)) => {
            return exact(g, w, count);
        }
        (OutputTensor::U8(g), Data::U8(w)) => {
            return exact(g, w, count);
        }
        _ => return Err("dtype differs from the expected".into()),
    };
    if g.len() != count {
        return Err(format!("{} elements but expected {count}", g.len()));
    }
    let bad = g
        .iter()
        .zip(&w)
        .filter(|&(&a, &b)| {
            !(a == b
                || (a.is_nan() && b.is_nan())
                || (b.is_finite() && (a - b).abs() <= ATOL + RTOL * b.abs()))
        })
        .count();
    if bad == 0 {
        Ok(())
    } else {
        Err(format!("{bad} of {count} elements differ"))
    }
}

fn exact<T: PartialEq>(got: &[T], want: &[T], count: usize) -> Result<(), String> {
    if got.len() != count {
        Err(format!("{} elements but expected {count}", got.len()))
    } else if got != want {
        Err("values differ".into())
    } else {
        Ok(())
    }
}

/// Runs one test folder; `Err` says why it fails.
fn run_test(folder: &Path) -> Result<(), String> {
    let data_dir = folder.join("test_data_set_0");
    let inputs = read_tensors(&data_dir, "input")?;
    let expected = read_tensors(&data_dir, "output")?;
    let bytes = std::fs::read(folder.join("model.onnx")).map_err(|e| e.to_string())?;
    let model = ModelProto::parse_from_bytes(&bytes).map_err(|e| format!("load: {e}"))?;
    let graph = model.get_graph();
    let inits: Vec<&str> = graph
        .get_initializer()
        .iter()
        .map(|t| t.get_name())
        .collect();
    let names: Vec<String> = graph
        .get_input()
        .iter()
        .map(|i| i.get_name().to_string())
        .filter(|n| !inits.contains(&n.as_str()))
        .collect();
    let outputs: Vec<String> = graph
        .get_output()
        .iter()
        .map(|o| o.get_name().to_string())
        .collect();
    let feeds: HashMap<String, InputTensor> = names
        .into_iter()
        .zip(&inputs)
        .map(|(name, (d, _))| {
            let tensor = match d {
                Data::F32(v) => InputTensor::F32(Cow::Borrowed(v)),
                Data::I32(v) => InputTensor::I32(Cow::Borrowed(v)),
                Data::I64(v) => InputTensor::I64(Cow::Borrowed(v)),
                Data::U8(v) => InputTensor::U8(Cow::Borrowed(v)),
            };
            (name, tensor)
        })
        .collect();
    let got = pollster::block_on(async {
        let session = wonnx::Session::from_model(model)
            .await
            .map_err(|e| format!("load: {e}"))?;
        session.run(&feeds).await.map_err(|e| format!("run: {e}"))
    })?;
    if outputs.len() != expected.len() {
        return Err(format!(
            "{} outputs but expected {}",
            outputs.len(),
            expected.len()
        ));
    }
    for (i, (name, (want, count))) in outputs.iter().zip(&expected).enumerate() {
        let tensor = got
            .get(name)
            .ok_or_else(|| format!("output {i} ({name}) missing"))?;
        compare(tensor, want, *count).map_err(|e| format!("output {i}: {e}"))?;
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, list, node_dir] = &args[..] else {
        eprintln!("usage: score-wonnx LIST NODE_DIR");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(list).unwrap_or_else(|e| panic!("{list}: {e}"));
    let tests: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    std::panic::set_hook(Box::new(|_| {})); // a panic is reported as the test's failure
    let mut failures = Vec::new();
    for test in &tests {
        let folder = Path::new(node_dir).join(test);
        let result =
            std::panic::catch_unwind(|| run_test(&folder)).unwrap_or_else(|_| Err("panic".into()));
        if let Err(why) = result {
            failures.push((test, why));
        }
    }
    println!(
        "wonnx 0.5.1 (wgpu) on {list}: {} of {} passed",
        tests.len() - failures.len(),
        tests.len()
    );
    for (test, why) in failures {
        println!("  FAIL {test}: {}", why.lines().next().unwrap_or(""));
    }
}
