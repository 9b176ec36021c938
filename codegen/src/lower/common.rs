//! What every op family's lowering shares: the kernel description, binding slots,
//! device limits, launch geometry and template rendering.

use crate::plan::{Access, StorageType};
use crate::CodegenError;
use kiln_ir::{DType, TensorType};

/// Storage buffers one shader stage may bind under WebGPU's default limits, which
/// plans are built within unless the caller raises [`Limits`].
pub const MAX_STORAGE_BUFFERS: u32 = 8;

/// The device a plan is built for: its limits (WebGPU's defaults unless the caller
/// asks for more; whatever is used beyond them is recorded in the plan's
/// requirements) and whether it is a CPU driver, which kernels are shaped for.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    pub max_storage_buffers_per_shader_stage: u32,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_compute_workgroup_storage_size: u32,
    /// A CPU driver (lavapipe): product engines compute larger register blocks per
    /// invocation, which such drivers reward and GPUs (register files of a few dozen
    /// words per thread) punish. Correct either way; only speed differs.
    pub cpu_driver: bool,
}

impl Default for Limits {
    /// WebGPU's default limits.
    fn default() -> Self {
        Limits {
            max_storage_buffers_per_shader_stage: MAX_STORAGE_BUFFERS,
            max_storage_buffer_binding_size: 128 << 20,
            max_buffer_size: 256 << 20,
            max_compute_invocations_per_workgroup: 256,
            max_compute_workgroups_per_dimension: 65535,
            max_compute_workgroup_storage_size: 16384,
            cpu_driver: false,
        }
    }
}

/// What a kernel binding refers to, relative to the node being lowered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    /// Operand `i` of the node.
    Operand(usize),
    /// Result `i` of the node.
    Result(usize),
    /// Scratch buffer `i` of [`Lowered::scratch_bytes`], live only during this node.
    Scratch(usize),
    /// Constant table `i` of [`Lowered::tables`] (read-only).
    Table(usize),
    /// The two words where check `i` of [`Lowered::checks`] reports: the kernel sets
    /// word 0 non-zero when the condition fails and stores the offending value in word 1.
    Check(usize),
    /// Part `part` of operand `operand`, which the plan keeps packed (see
    /// [`super::packed::PackedWeight`]): 0 its packed words, 1 its scales, 2 its zero
    /// points.
    Packed { operand: usize, part: usize },
    /// The two words the kernel storing a tensor folds its range into, for the
    /// `min_max` of it (see [`super::range`]).
    Range,
}

/// One binding of a kernel: binding `i` of group 0 is `bindings[i]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    pub slot: Slot,
    pub access: Access,
    /// A byte range of the slot's buffer (offset a multiple of
    /// [`crate::BINDING_ALIGN`]), or all of it.
    pub range: Option<(u64, u64)>,
}

impl Binding {
    /// Reads the whole buffer of `slot`.
    pub fn read(slot: Slot) -> Self {
        Binding {
            slot,
            access: Access::Read,
            range: None,
        }
    }

    /// Writes (and may read) the whole buffer of `slot`.
    pub fn write(slot: Slot) -> Self {
        Binding {
            slot,
            access: Access::ReadWrite,
            range: None,
        }
    }
}

/// One kernel launch produced for a node, in execution order.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelSrc {
    /// Short family name for the kernel's readable name (`conv`, `add`, ...).
    pub name: String,
    pub wgsl: String,
    pub entry_point: String,
    pub workgroup_size: [u32; 3],
    pub workgroups: [u32; 3],
    pub bindings: Vec<Binding>,
}

impl KernelSrc {
    /// A kernel (entry point `main`) of one-dimensional workgroups of `wg` invocations,
    /// `threads` invocations in all, laid out by [`grid_1d`].
    pub fn linear(
        name: &str,
        wgsl: String,
        threads: usize,
        wg: u32,
        limits: &Limits,
        bindings: Vec<Binding>,
    ) -> Result<KernelSrc, CodegenError> {
        Ok(KernelSrc {
            name: name.to_string(),
            wgsl,
            entry_point: "main".into(),
            workgroup_size: [wg, 1, 1],
            workgroups: grid_1d(threads, wg, limits)?,
            bindings,
        })
    }
}

/// The kernels of one node plus the scratch buffers they need (bytes each) and the
/// constant tables the lowering computed (32-bit words each, uploaded with the weights).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lowered {
    pub kernels: Vec<KernelSrc>,
    pub scratch_bytes: Vec<u64>,
    pub tables: Vec<Vec<u32>>,
    /// Conditions the kernels check on the device (see [`Slot::Check`]), each as the
    /// text of the error a run fails with when it does not hold.
    pub checks: Vec<String>,
    /// An integer product on the packed 8-bit engine (counted in
    /// `PlanDecisions::packed_products`).
    pub packed_dot: bool,
}

/// The WGSL storage scalar of an IR dtype.
pub fn wgsl_type(dtype: DType) -> &'static str {
    StorageType::of(dtype).wgsl()
}

/// `var<storage, read> NAME: array<T>;` declarations for `bindings`, named by `names`.
pub fn binding_decls(entries: &[(&str, DType, Access)]) -> String {
    binding_decls_from(0, entries)
}

/// [`binding_decls`] numbered from binding `first`.
pub fn binding_decls_from(first: usize, entries: &[(&str, DType, Access)]) -> String {
    let mut out = String::new();
    for (i, (name, dtype, access)) in entries.iter().enumerate() {
        let mode = match access {
            Access::Read => "read",
            Access::ReadWrite => "read_write",
        };
        out.push_str(&format!(
            "@group(0) @binding({}) var<storage, {mode}> {name}: array<{}>;\n",
            first + i,
            wgsl_type(*dtype)
        ));
    }
    out
}

/// Workgroup counts for `threads` invocations in 1-D workgroups of `wg` threads,
/// spread over x and y when x alone would exceed the per-dimension limit. The
/// kernel recovers its linear index with [`LINEAR_INDEX`] (threads past `threads`
/// must return early).
pub fn grid_1d(threads: usize, wg: u32, limits: &Limits) -> Result<[u32; 3], CodegenError> {
    let groups = threads.div_ceil(wg as usize).max(1);
    let max = limits.max_compute_workgroups_per_dimension as usize;
    if groups <= max {
        return Ok([groups as u32, 1, 1]);
    }
    let y = groups.div_ceil(max);
    if y > max {
        return Err(CodegenError::too_large(format!(
            "{threads} invocations exceed the dispatch limits"
        )));
    }
    Ok([max as u32, y as u32, 1])
}

/// WGSL expression for the linear invocation index under [`grid_1d`]; needs the
/// builtins `gid: vec3<u32>` (global_invocation_id) and `nwg: vec3<u32>` (num_workgroups)
/// and a `WG` constant equal to the workgroup size.
pub const LINEAR_INDEX: &str = "(gid.x + gid.y * nwg.x * WG)";

/// Replaces every `{{KEY}}` in `template` with its value. Every placeholder must be
/// given and every given key must occur (catches template/codegen drift at once).
pub fn render(template: &str, values: &[(&str, String)]) -> Result<String, CodegenError> {
    let mut out = template.to_string();
    for (key, value) in values {
        let pattern = format!("{{{{{key}}}}}");
        if !out.contains(&pattern) {
            return Err(CodegenError::Template(format!(
                "placeholder {pattern} not in template"
            )));
        }
        out = out.replace(&pattern, value);
    }
    if let Some(start) = out.find("{{") {
        let end = out[start..].find("}}").map_or(out.len(), |e| start + e + 2);
        return Err(CodegenError::Template(format!(
            "placeholder {} not given",
            &out[start..end]
        )));
    }
    Ok(out)
}

/// A WGSL f32 literal that parses back to exactly `v` (non-finite values spelled via bitcast).
pub fn f32_literal(v: f32) -> String {
    if v.is_finite() {
        let s = format!("{v:?}");
        if s.contains('.') || s.contains('e') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        format!("bitcast<f32>({}u)", v.to_bits())
    }
}

/// Row-major strides of a type's shape.
pub fn strides(ty: &TensorType) -> Vec<usize> {
    ty.shape.strides()
}
