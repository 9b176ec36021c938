//! Host I/O: reading input tensors from `.npy` or ONNX `.pb` files, and writing a
//! graph's (or a kernel plan's) outputs as `DIR/output_<i>.npy` atomically.

use crate::npy::{read_npy, write_npy, HostTensor};
use crate::{Error, Result};
use kiln_codegen::KernelPlan;
use kiln_ir::{Graph, Tensor, TensorType};
use std::path::{Path, PathBuf};

const NPY_MAGIC: &[u8] = b"\x93NUMPY";

/// Reads a tensor file: `.npy` (by its magic bytes) or an ONNX `TensorProto` (`.pb`).
pub fn read_tensor_file(path: impl AsRef<Path>) -> Result<HostTensor> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::file(path, format!("cannot read ({e})")))?;
    if bytes.starts_with(NPY_MAGIC) || path.extension().is_some_and(|e| e == "npy") {
        return read_npy(path, &bytes);
    }
    let named = kiln_onnx::decode_tensor(&bytes).map_err(|e| {
        Error::file(
            path,
            format!("not a .npy file nor an ONNX TensorProto .pb file ({e})"),
        )
    })?;
    let name = Some(named.name).filter(|n| !n.is_empty());
    Ok(HostTensor {
        name,
        tensor: named.tensor,
        wide: named.wide,
    })
}

/// Reads the input sets under `dir` (`--calibration`): each subfolder (in name order)
/// is one set, or `dir` itself when it holds tensor files directly; each `.npy` or
/// `.pb` file in a set is one input, named by the name a `.pb` tensor carries, else by
/// its file stem (`image.npy`, or `input_0.npy` for the first input). Files named
/// `output_*` (the expected outputs of ONNX test sets) are skipped.
pub fn read_input_sets(
    dir: impl AsRef<Path>,
) -> Result<Vec<std::collections::BTreeMap<String, Tensor>>> {
    let dir = dir.as_ref();
    let list = |d: &Path| -> Result<Vec<PathBuf>> {
        let entries = std::fs::read_dir(d)
            .map_err(|e| Error::file(d, format!("cannot read the folder ({e})")))?;
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        Ok(paths)
    };
    let is_tensor = |p: &Path| {
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        p.is_file()
            && p.extension().is_some_and(|e| e == "npy" || e == "pb")
            && !stem.starts_with("output_")
    };
    let entries = list(dir)?;
    let mut folders: Vec<PathBuf> = entries.iter().filter(|p| p.is_dir()).cloned().collect();
    if entries.iter().any(|p| is_tensor(p)) {
        folders = vec![dir.to_path_buf()];
    }
    let mut sets = Vec::new();
    for folder in folders {
        let mut set = std::collections::BTreeMap::new();
        for path in list(&folder)?.into_iter().filter(|p| is_tensor(p)) {
            let host = read_tensor_file(&path)?;
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            set.insert(host.name.unwrap_or_else(|| stem.to_string()), host.tensor);
        }
        if !set.is_empty() {
            sets.push(set);
        }
    }
    if sets.is_empty() {
        return Err(Error::file(
            dir,
            "holds no input sets: give a folder of folders (one per set) of .npy or .pb \
             files, one per model input"
                .to_string(),
        ));
    }
    Ok(sets)
}

/// The path `output_<index>.npy` in `dir`.
pub fn output_path(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("output_{index}.npy"))
}

/// Writes `outputs` (one per graph output, in order) to `dir/output_<i>.npy`, with the
/// dtype and shape each output port declares (an `int64` port is written as int64).
/// Creates `dir` if needed. Every file is written to a temporary name first and
/// renamed only once all were written, so a failure leaves no partial output files.
/// Returns the paths written.
pub fn write_outputs(
    dir: impl AsRef<Path>,
    graph: &Graph,
    outputs: &[Tensor],
) -> Result<Vec<PathBuf>> {
    let ports: Vec<(&str, TensorType, kiln_ir::Wide)> = graph
        .model_outputs()
        .iter()
        .map(|p| (p.name.as_str(), graph.ty(p.value).clone(), p.wide))
        .collect();
    write_checked(dir.as_ref(), &ports, &graph.extents, outputs)
}

/// Like [`write_outputs`] for the outputs of a kernel plan (a bundle carries no graph).
pub fn write_plan_outputs(
    dir: impl AsRef<Path>,
    plan: &KernelPlan,
    outputs: &[Tensor],
) -> Result<Vec<PathBuf>> {
    let extents = &plan.extents;
    let ports: Vec<(&str, TensorType, kiln_ir::Wide)> = plan
        .model_outputs()
        .iter()
        .map(|p| (p.name.as_str(), crate::gpu::port_type(p), p.wide))
        .collect();
    write_checked(dir.as_ref(), &ports, extents, outputs)
}

/// Checks `outputs` against `(name, type, declared width)` ports (an output of
/// data-dependent length, per `extents`, up to its port's length on that axis) and
/// writes them atomically, widening int64, uint64 and double ports back to 64 bits.
fn write_checked(
    dir: &Path,
    ports: &[(&str, TensorType, kiln_ir::Wide)],
    extents: &[kiln_ir::Extent],
    outputs: &[Tensor],
) -> Result<Vec<PathBuf>> {
    if outputs.len() != ports.len() {
        return Err(Error::Input(format!(
            "{} output tensors given for a graph with {} outputs",
            outputs.len(),
            ports.len()
        )));
    }
    for (i, ((name, want, _), tensor)) in ports.iter().zip(outputs).enumerate() {
        let dims = want.shape.dims();
        let fits = kiln_ir::extent::fits(extents, i, dims, tensor.shape().dims());
        if tensor.dtype() != want.dtype || !fits {
            return Err(Error::Input(format!(
                "output '{name}' is {} but the graph declares {want}",
                tensor.ty()
            )));
        }
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::file(dir, format!("cannot create the output directory ({e})")))?;
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| {
        for (i, ((_, _, wide), tensor)) in ports.iter().zip(outputs).enumerate() {
            let path = output_path(dir, i);
            let tmp = dir.join(format!(".output_{i}.npy.{}.tmp", std::process::id()));
            staged.push((tmp.clone(), path));
            write_file(&tmp, tensor, *wide)?;
        }
        for (tmp, path) in &staged {
            std::fs::rename(tmp, path)
                .map_err(|e| Error::file(path, format!("cannot write ({e})")))?;
        }
        Ok(staged.iter().map(|(_, p)| p.clone()).collect())
    })();
    if result.is_err() {
        for (tmp, _) in &staged {
            let _ = std::fs::remove_file(tmp);
        }
    }
    result
}

fn write_file(path: &Path, tensor: &Tensor, wide: kiln_ir::Wide) -> Result<()> {
    let err = |e: std::io::Error| Error::file(path, format!("cannot write ({e})"));
    let file = std::fs::File::create(path).map_err(err)?;
    let mut w = std::io::BufWriter::new(file);
    write_npy(&mut w, tensor, wide).map_err(err)?;
    let file = w.into_inner().map_err(|e| err(e.into_error()))?;
    file.sync_all().map_err(err)
}

/// A one-line summary of a tensor's values: `min=.. max=.. mean=..` for numbers,
/// `true=N/M` for bools, plus the first few elements.
pub fn summarize(tensor: &Tensor) -> String {
    let values = tensor.to_f64_vec();
    let head: Vec<String> = values.iter().take(4).map(|x| format!("{x:.4}")).collect();
    let more = if values.len() > 4 { ", ..." } else { "" };
    let head = format!("[{}{more}]", head.join(", "));
    if values.is_empty() {
        return "empty".to_string();
    }
    if tensor.dtype() == kiln_ir::DType::Bool {
        let trues = values.iter().filter(|&&x| x != 0.0).count();
        return format!("true={trues}/{} {head}", values.len());
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    format!("min={min:.4} max={max:.4} mean={mean:.4} {head}")
}
