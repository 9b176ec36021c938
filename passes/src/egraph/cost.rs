//! The device cost model: bytes moved / bandwidth + flops / rate + a launch cost per
//! kernel, from a small [`DeviceProfile`]; what depends on how codegen's engines
//! compute an op is asked of the [`KernelTarget`].

use kiln_ir::{Graph, KernelTarget, Op, Program, TensorType};
use std::fmt;

/// What one device costs: memory bandwidth, arithmetic rate and kernel launch overhead.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceProfile {
    /// Name shown in reports (`cpu-emulation`, ...).
    pub name: String,
    /// Sustained memory bandwidth, GB/s.
    pub bandwidth_gbs: f64,
    /// Sustained f32 arithmetic rate, GFLOP/s.
    pub gflops: f64,
    /// Sustained rate of the integer products (i32 multiply-adds of `matmul_integer`
    /// and `conv_integer`), G/s: what decides between an integer kernel and its exact
    /// f32 form. wgpu cannot say whether a device's integer dot products are fast;
    /// `kiln bench --calibrate` measures it.
    pub int_gops: f64,
    /// Sustained rate of integer products of 8-bit operands packed four to a word
    /// (`dot4I8Packed`), G multiply-adds ×2 per second. Where it beats `int_gops`
    /// ([`DeviceProfile::packed_dot`]) the plan runs such products on the packed engine
    /// and the cost model prices them at this rate.
    pub dot4_gops: f64,
    /// Sustained rate of the sparse kernels, per stored weight (multiply-adds × 2 of
    /// the weights a format stores), G/s: `[blocks, csr, n_of_m]` (4×4 blocks, 1×1
    /// blocks, N:M). What decides between a sparse kernel and the dense product; `kiln
    /// bench --calibrate` measures it.
    pub sparse_gops: [f64; 3],
    /// Cost of one kernel dispatch, microseconds.
    pub launch_us: f64,
    /// Whether f16 element-wise steps compute in f16 on this device (WGSL's `f16`):
    /// it has `SHADER_F16` and computes them faster so than in f32 rounded to f16 after
    /// each step. No preset assumes the feature; `kiln run` and `kiln bench` set it for
    /// an adapter that has it, `kiln bench --calibrate` measures it.
    pub f16_arithmetic: bool,
}

impl DeviceProfile {
    /// The preset names [`DeviceProfile::preset`] knows.
    pub const PRESETS: [&'static str; 3] = ["discrete", "integrated", "cpu-emulation"];

    /// A discrete GPU: fast memory, fast arithmetic, cheap launches; packed 8-bit dot
    /// products at [`GPU_DOT4_SHARE`] of the f32 rate.
    pub fn discrete() -> Self {
        DeviceProfile::new("discrete", 400.0, 10_000.0, 5.0).with_gpu_dot4()
    }

    /// An integrated GPU sharing system memory; packed 8-bit dot products at
    /// [`GPU_DOT4_SHARE`] of the f32 rate.
    pub fn integrated() -> Self {
        DeviceProfile::new("integrated", 50.0, 1_000.0, 10.0).with_gpu_dot4()
    }

    /// `self` with packed 8-bit dot products at [`GPU_DOT4_SHARE`] of the f32 rate.
    fn with_gpu_dot4(self) -> Self {
        DeviceProfile {
            dot4_gops: GPU_DOT4_SHARE * self.gflops,
            ..self
        }
    }

    /// A CPU Vulkan implementation such as lavapipe: slow memory, slow arithmetic,
    /// expensive launches. The default, since it is what kiln is tested on. The figures
    /// are `kiln bench --calibrate` on lavapipe (Mesa 22.3, llvmpipe on 2 x86-64 cores,
    /// quiet machine): 4.5–5.0 GB/s, 22–23 GFLOP/s, 27–35 µs per dispatch; the exact
    /// integer products (f32 arithmetic, zero points subtracted at each load) run at
    /// 0.85 of the f32 rate there, the packed 8-bit engine (naga's polyfill of
    /// `dot4I8Packed`: lavapipe has no dot-product instructions) at DOT4_LAVAPIPE; the
    /// sparse kernels at the fractions of [`SPARSE_SHARE`].
    pub fn cpu_emulation() -> Self {
        DeviceProfile {
            int_gops: 19.5,
            dot4_gops: DOT4_LAVAPIPE,
            ..DeviceProfile::new("cpu-emulation", 4.8, 23.0, 30.0)
        }
    }

    /// The preset called `name` (see [`DeviceProfile::PRESETS`]).
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "discrete" => Some(Self::discrete()),
            "integrated" => Some(Self::integrated()),
            "cpu-emulation" => Some(Self::cpu_emulation()),
            _ => None,
        }
    }

    /// A profile whose integer products run at the f32 rate and its sparse kernels at
    /// lavapipe's shares of it ([`SPARSE_SHARE`]) (a preset: nothing is known of the
    /// device's units until `kiln bench --calibrate` measures them).
    pub fn new(name: &str, bandwidth_gbs: f64, gflops: f64, launch_us: f64) -> Self {
        DeviceProfile {
            name: name.to_string(),
            bandwidth_gbs,
            gflops,
            int_gops: gflops,
            dot4_gops: gflops,
            sparse_gops: SPARSE_SHARE.map(|s| s * gflops),
            launch_us,
            f16_arithmetic: false,
        }
    }

    /// `flops` of a sparse kernel storing weights in `format` as the f32 operations
    /// that take as long.
    pub fn sparse_as_f32_flops(&self, format: kiln_ir::SparseFormat, flops: f64) -> f64 {
        flops * self.gflops / self.sparse_gops[sparse_index(format)]
    }

    /// Microseconds one kernel takes that moves `bytes` and does `flops`.
    pub fn kernel_us(&self, bytes: f64, flops: f64) -> f64 {
        self.launch_us + bytes / (self.bandwidth_gbs * 1e3) + flops / (self.gflops * 1e3)
    }

    /// `flops` of integer products (whose operands are 8-bit, as shape inference
    /// requires) as the f32 operations that take as long, at the rate of the engine
    /// [`DeviceProfile::packed_dot`] picks for them.
    pub fn as_f32_flops(&self, int_ops: f64) -> f64 {
        let rate = if self.packed_dot() {
            self.dot4_gops
        } else {
            self.int_gops
        };
        int_ops * self.gflops / rate
    }

    /// Whether some integer product runs faster than f32 arithmetic here: only then does
    /// the optimizer offer a product of dequantized 8-bit values as an integer product
    /// (`dequantized-product-as-integer`). On lavapipe (integer 19.5, packed 9.5 against
    /// 23 GFLOP/s) the integer forms the cost model picked for QDQ models ran slower
    /// (measured, `kiln bench` interleaved: cnn-qdq 1.15×, bert-qdq 1.3× the f32
    /// forms' latency): the model overrates what a dequantizing prologue costs there.
    pub fn integer_faster(&self) -> bool {
        self.int_gops.max(self.dot4_gops) > self.gflops
    }

    /// Whether integer products of 8-bit operands run faster packed for `dot4I8Packed`
    /// than as exact f32 arithmetic: what `PlanOptions::packed_dot` follows.
    pub fn packed_dot(&self) -> bool {
        self.dot4_gops > self.int_gops
    }
}

impl Default for DeviceProfile {
    fn default() -> Self {
        DeviceProfile::cpu_emulation()
    }
}

impl fmt::Display for DeviceProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} GB/s, {} GFLOP/s, {} G int ops/s, {} G packed 8-bit ops/s, {} µs/launch)",
            self.name,
            self.bandwidth_gbs,
            self.gflops,
            self.int_gops,
            self.dot4_gops,
            self.launch_us
        )
    }
}

/// The packed 8-bit engine's rate in the GPU presets, as a share of the f32 rate: GPUs
/// of the last years (NVIDIA since Pascal, AMD since RDNA 2, Intel Xe) multiply four
/// byte pairs per instruction at about the f32 instruction rate. A device without such
/// units runs naga's polyfill; `kiln bench --calibrate` measures which.
pub const GPU_DOT4_SHARE: f64 = 4.0;

/// The packed 8-bit engine on lavapipe, G/s: naga's polyfill of `dot4I8Packed` extracts
/// and multiplies the bytes one by one, half the rate of the exact f32 engine
/// (`kiln bench --calibrate`, Mesa 22.3, 2 busy cores: 3.67 against 7.33 G/s).
const DOT4_LAVAPIPE: f64 = 9.5;

/// The sparse kernels' rates per stored weight as shares of the dense product's:
/// `[blocks, csr, n_of_m]` (they load an index per stored block or weight and cannot
/// tile). Measured on lavapipe: 4×4 blocks 0.40 and CSR 0.14 of the dense matmul with
/// 2048² weights and 64 rows (`scripts/bench-sparse.sh`); `kiln bench --calibrate` (256
/// rows, 1024² weights, a loaded machine) gave 0.25, 0.064 and 0.089 for 2:4. The
/// presets use these shares; a calibrated profile has its own rates.
pub const SPARSE_SHARE: [f64; 3] = [0.4, 0.15, 0.1];

/// Which entry of [`DeviceProfile::sparse_gops`] prices `format`.
pub fn sparse_index(format: kiln_ir::SparseFormat) -> usize {
    match format {
        kiln_ir::SparseFormat::Blocks { rows: 1, cols: 1 } => 1,
        kiln_ir::SparseFormat::Blocks { .. } => 0,
        kiln_ir::SparseFormat::NOfM { .. } => 2,
    }
}

/// Arithmetic per result element of an element-wise program or op.
fn program_flops(op: &Op) -> f64 {
    match op {
        Op::Elementwise { program } => program.steps.len() as f64,
        Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast { .. } => 1.0,
        _ => 0.0,
    }
}

/// Floating-point operations of `op` (an estimate; data movement is 0).
pub fn flops(target: &dyn KernelTarget, op: &Op, inputs: &[&TensorType], out: &TensorType) -> f64 {
    let n = out.shape.numel() as f64;
    let in0 = inputs.first().map_or(0.0, |t| t.shape.numel() as f64);
    match op {
        Op::MatMul | Op::MatMulInteger => {
            let k = inputs
                .first()
                .and_then(|t| t.shape.dims().last().copied())
                .unwrap_or(1);
            2.0 * n * k as f64
        }
        Op::SparseMatMul { n: cols, .. } | Op::SparseConv { n: cols, .. } => {
            // Multiply-adds of the stored weights only (at the sparse rate: `node_cost`).
            let stored = inputs.get(1).map_or(0, |t| t.shape.numel()) as f64;
            let rows = n / (*cols).max(1) as f64;
            2.0 * rows * stored
        }
        Op::Conv(_) | Op::ConvInteger(_) => {
            let w = inputs.get(1).map(|t| t.shape.dims()).unwrap_or(&[]);
            let per_out: usize = w.iter().skip(1).product();
            2.0 * n * per_out as f64
        }
        Op::ConvTranspose(_) => {
            let w = inputs.get(1).map(|t| t.shape.dims()).unwrap_or(&[]);
            let per_in: usize = w.iter().skip(1).product();
            2.0 * in0 * per_in as f64
        }
        Op::MaxPool(p) | Op::AveragePool(p) => n * p.kernel.iter().product::<usize>() as f64,
        Op::Lrn { size, .. } => n * (*size as f64 + 4.0),
        Op::Reduce { .. } | Op::ArgReduce { .. } => in0,
        Op::MinMax { .. } => 2.0 * in0,
        Op::Softmax { .. } | Op::LogSoftmax { .. } => 4.0 * n,
        Op::BatchNorm { .. }
        | Op::LayerNorm { .. }
        | Op::RmsNorm { .. }
        | Op::InstanceNorm { .. } => 5.0 * in0,
        Op::Resize(_) => 8.0 * n,
        Op::Attention { .. } => {
            let q = inputs.first().map(|t| t.shape.dims()).unwrap_or(&[]);
            let v = inputs.get(2).map(|t| t.shape.dims()).unwrap_or(&[]);
            let d = q.last().copied().unwrap_or(1) as f64;
            let t = v.iter().rev().nth(1).copied().unwrap_or(1) as f64;
            let e = v.last().copied().unwrap_or(1) as f64;
            let rows = n / e.max(1.0);
            rows * t * (2.0 * d + 2.0 * e + 5.0)
        }
        Op::Fused {
            anchor,
            prologue,
            arity,
            epilogue,
        } => {
            let (anchor_in, extra) = inputs.split_at((*arity).min(inputs.len()));
            let pro = prologue
                .as_deref()
                .map_or(0.0, |p| prologue_flops(target, p, anchor, anchor_in, extra));
            flops(target, anchor, anchor_in, out) + n * epilogue.steps.len() as f64 + pro
        }
        _ => n * program_flops(op),
    }
}

/// Arithmetic of a fused node's prologue (a max pool before a 1×1 conv, or an
/// element-wise program such as a dequantization before any conv): evaluated
/// where the anchor's engine loads its input, a window of loads per pooled element
/// each time the engine loads it ([`KernelTarget::prologue_evaluations`]).
fn prologue_flops(
    target: &dyn KernelTarget,
    prologue: &Op,
    anchor: &Op,
    anchor_in: &[&TensorType],
    extra: &[&TensorType],
) -> f64 {
    let Ok(pooled) = kiln_ir::infer::prologue_type(prologue, anchor, anchor_in, extra) else {
        return 0.0;
    };
    // Work per evaluation: a max pool's window, an element-wise program's steps on the
    // loaded element (codegen computes the others once per invocation).
    let per = match prologue {
        Op::MaxPool(p) => p.kernel.iter().product::<usize>() as f64,
        Op::Elementwise { program } => varying_flops(program),
        op => program_flops(op),
    };
    let mut engine_in = anchor_in.to_vec();
    if let Some(first) = engine_in.first_mut() {
        *first = &pooled;
    }
    let loads = target.prologue_evaluations(anchor, &engine_in) as f64;
    pooled.shape.numel() as f64 * per * loads
}

/// The arithmetic of the computed steps of `program` that depend on its input 0: what
/// each evaluation of a GPU prologue pays, which computes the others once
/// ([`kiln_ir::Program::hoist_invariant`]), each weighted by what it costs
/// ([`step_flops`]): a prologue runs once per load, at every tap of a conv.
fn varying_flops(program: &Program) -> f64 {
    program
        .steps
        .iter()
        .zip(program.depends_on(0))
        .filter(|(_, d)| *d)
        .map(|(s, _)| step_flops(s))
        .sum()
}

/// The f32 operations one evaluation of `step` takes, at the device's rate: a
/// quantize is a division, a round to even, the zero point's addition, a NaN test and
/// a clamp (`k_f32_to_u32`), about 4 (measured: `kiln bench`, lavapipe, the
/// dynamically quantized CNN: a depthwise 3×3 conv over 16 channels of 32 × 32 that
/// quantizes and dequantizes its input at each of its 147k taps took 0.28 ms, the
/// same conv in f32 0.25 ms: 0.2 ns, 5 f32 operations at lavapipe's 23 GFLOP/s, per
/// evaluation of both); every other step 1.
fn step_flops(step: &kiln_ir::Step) -> f64 {
    use kiln_ir::Step;
    match step {
        Step::Input(_) | Step::Const { .. } => 0.0,
        Step::Quantize { .. } => 4.0,
        _ => 1.0,
    }
}

/// Microseconds for one node: 0 for aliases, else launch + bytes + flops. Operands are
/// read once each (`inputs` lists distinct operand values).
pub fn node_cost(
    profile: &DeviceProfile,
    target: &dyn KernelTarget,
    op: &Op,
    inputs: &[&TensorType],
    outputs: &[&TensorType],
) -> f64 {
    if op.is_view() {
        return 0.0;
    }
    let bytes: usize = inputs
        .iter()
        .chain(outputs.iter())
        .map(|t| t.size_bytes())
        .sum();
    let out = outputs.first().copied();
    let f = out.map_or(0.0, |o| flops(target, op, inputs, o));
    let f = match op.anchor() {
        Op::SparseMatMul { format, .. } | Op::SparseConv { format, .. } => {
            profile.sparse_as_f32_flops(*format, f)
        }
        _ if op.is_integer_product() => profile.as_f32_flops(f),
        _ => f,
    };
    profile.kernel_us(bytes as f64, f)
}

/// Nodes of `graph` computing an exact integer product (fused or not).
pub fn integer_products(graph: &Graph) -> usize {
    graph
        .nodes
        .iter()
        .filter(|(_, n)| n.op.is_integer_product())
        .count()
}

/// Nodes of `graph` that launch a kernel (every node but reshapes and identities).
pub fn kernel_count(graph: &Graph) -> usize {
    graph.nodes.iter().filter(|(_, n)| !n.op.is_view()).count()
}

/// The cost of running `graph` once under `profile`, in microseconds. A node the plan
/// computes when it is uploaded ([`KernelTarget::computed_at_upload`]) costs nothing.
pub fn graph_cost(graph: &Graph, profile: &DeviceProfile, target: &dyn KernelTarget) -> f64 {
    graph
        .nodes
        .iter()
        .map(|(_, node)| {
            let types: Vec<&TensorType> = node.inputs.iter().map(|&v| graph.ty(v)).collect();
            let constant = node.inputs.iter().all(|&v| graph.constant(v).is_some());
            if constant && target.computed_at_upload(&node.op, &types) {
                return 0.0;
            }
            let mut seen = Vec::new();
            for &v in &node.inputs {
                if !seen.contains(&v) {
                    seen.push(v);
                }
            }
            let inputs: Vec<&TensorType> = seen.iter().map(|&v| graph.ty(v)).collect();
            let outputs: Vec<&TensorType> = node.outputs.iter().map(|&v| graph.ty(v)).collect();
            node_cost(profile, target, &node.op, &inputs, &outputs)
        })
        .sum()
}
