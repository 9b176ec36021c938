//! The plan builder: assigns buffers (with liveness-based reuse) as the layout decisions
//! say, lowers each node, dedupes and validates kernels, records what the device must
//! offer and verifies the plan.

use crate::layout::{split_offsets, Layout, PlanDecisions, PlanOptions};
use crate::lower::range::RangeWord;
use crate::lower::{
    lower_node, node_placement_support, Limits, Lowered, NodeCtx, PackedScale, PackedWeight,
    Placement, Slot,
};
use crate::plan::*;
use crate::requirements::requirements;
use crate::storage::{data_words, dequantized_at_upload, dequantized_encoding, pack};
use crate::verify::verify_layout;
use crate::{validated_workgroup_storage_bytes, CodegenError};
use half::f16;
use kiln_ir::{Graph, Handle, Op, Tensor, Value, ValueDef};
use std::collections::{HashMap, HashSet};

/// A plan and the constant data its `Constant` buffers point into.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledPlan {
    pub plan: KernelPlan,
    pub weights: Vec<u8>,
    /// What the builder did beyond one kernel and one buffer per node.
    pub decisions: PlanDecisions,
}

/// Lowers a verified graph to a kernel plan for a device with `limits`, one kernel
/// (or a few) per node.
pub fn build_plan(graph: &Graph, limits: &Limits) -> Result<CompiledPlan, CodegenError> {
    build_plan_with(graph, limits, &PlanOptions::default())
}

/// [`build_plan`] with [`PlanOptions`]: decides the layout, places and lowers every
/// node in execution order, then records the outputs and requirements and verifies the
/// plan.
pub fn build_plan_with(
    graph: &Graph,
    limits: &Limits,
    options: &PlanOptions,
) -> Result<CompiledPlan, CodegenError> {
    let layout = Layout::decide(graph, limits, options);
    let mut b = Builder::new(graph);
    b.packed_weights = options.packed_weights;
    b.packed_dot = options.packed_dot;
    b.f16_arithmetic = options.f16_arithmetic;
    b.fold_for = range_folds(graph);
    if options.narrow {
        b.narrow_views = narrow_values(graph, &layout, limits);
        b.narrow = b.narrow_views.values().flatten().copied().collect();
    }
    b.assign_ports_and_constants()?;
    let last_use = last_uses(graph);
    let mut split_views = 0;
    for (handle, node) in graph.nodes.iter() {
        if let Some(parts) = load_time_dequantize(graph, node) {
            // Computed when the plan is uploaded: no kernel, no per-run cost.
            b.bind_dequantized(node, parts);
        } else if layout.is_alias(node) {
            // Same elements in the same order (or a transpose its reader folds into its
            // index map): the result shares the operand's buffer.
            let view = b.view_of(node.inputs[0])?;
            b.bind_value(node.outputs[0], view);
        } else if layout.written_transposed.contains(&node.outputs[0]) {
            // A transpose its producer wrote already (see `folded_result_transposes`).
        } else if let Some(offsets) = split_offsets(graph, node).filter(|_| options.split_views) {
            b.bind_split_views(node, offsets)?;
            split_views += node.outputs.len();
        } else if b.words_read_decoded(handle, limits) {
            // A `min_max` whose results are its range words, decoded by their readers.
            b.bind_range_results(handle, node);
        } else {
            b.place_results(node, &layout);
            b.lower_or_widen(handle, node, &layout, limits)?;
        }
        b.release_last_uses(handle, node, &last_use);
    }
    b.finish(layout.decisions(split_views))
}

/// The constants of a `dequantize` the runtime computes when it uploads the plan: dense
/// integer weights of at most 16 bits (stored packed), f32 or f16 scales, integer zero
/// points. `None` for any other node (it runs as a kernel).
fn load_time_dequantize<'g>(graph: &'g Graph, node: &kiln_ir::Node) -> Option<Dequantized<'g>> {
    let Op::Dequantize { axis, block } = node.op else {
        return None;
    };
    let [x, s, z] = node.inputs[..] else {
        return None;
    };
    let (x, s, z) = (graph.constant(x)?, graph.constant(s)?, graph.constant(z)?);
    let fits = !x.is_splat() && dequantized_at_upload(x.dtype(), s.dtype(), z.dtype());
    fits.then_some(Dequantized {
        parts: [x, s, z],
        axis,
        block,
    })
}

/// The constant operands (weights, scales, zero points) and layout of a
/// [`load_time_dequantize`].
struct Dequantized<'g> {
    parts: [&'g Tensor; 3],
    axis: usize,
    block: usize,
}

/// The values every reader of which is a [`load_time_dequantize`] (and that are no
/// graph output): their data lives in those constants, and they need no buffer of their
/// own. One pass over the nodes.
fn only_dequantized(graph: &Graph) -> HashSet<Handle<Value>> {
    let (mut dequantized, mut other) = (HashSet::new(), HashSet::new());
    for (_, node) in graph.nodes.iter() {
        let readers = if load_time_dequantize(graph, node).is_some() {
            &mut dequantized
        } else {
            &mut other
        };
        readers.extend(node.inputs.iter().copied());
    }
    other.extend(graph.outputs.iter().map(|p| p.value));
    dequantized.retain(|v| !other.contains(v));
    dequantized
}

/// Bytes of a buffer holding `numel` 32-bit words (never zero: empty tensors get one word).
fn buffer_bytes(numel: usize) -> u64 {
    (numel.max(1) * 4) as u64
}

fn plan_port(graph: &Graph, port: &kiln_ir::Port, buffer: BufferId) -> PlanPort {
    let ty = &graph.values[port.value].ty;
    PlanPort {
        name: port.name.clone(),
        dtype: ty.dtype,
        shape: ty.shape.0.clone(),
        wide: port.wide,
        buffer,
    }
}

/// Where a value lives: a whole buffer, or `size` bytes of one bound from `offset`,
/// the value starting `elems` 32-bit elements after it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct View {
    buffer: BufferId,
    offset: u64,
    size: Option<u64>,
    elems: u32,
}

impl View {
    fn whole(buffer: BufferId) -> View {
        View {
            buffer,
            offset: 0,
            size: None,
            elems: 0,
        }
    }

    /// The `size` bytes of `buffer` from byte `start`. A binding offset must be a
    /// multiple of [`BINDING_ALIGN`]: an unaligned slice is bound from the aligned offset
    /// below it, and the kernels add `elems` to their indices (only kernels that do are
    /// given one: see [`crate::PlacementSupport`]).
    fn slice(buffer: BufferId, start: u64, size: u64) -> View {
        let rem = start % BINDING_ALIGN;
        View {
            buffer,
            offset: start - rem,
            size: Some(size + rem),
            elems: (rem / 4) as u32,
        }
    }
}

/// For each value, the index of the last node that reads it; `None` when a graph
/// output reads it or nothing does (its buffer is then never reused).
fn last_uses(graph: &Graph) -> Vec<Option<usize>> {
    let mut last = vec![None; graph.values.len()];
    for (handle, node) in graph.nodes.iter() {
        for &v in &node.inputs {
            last[v.index()] = Some(handle.index());
        }
    }
    for port in &graph.outputs {
        last[port.value.index()] = None;
    }
    last
}

struct Builder<'g> {
    graph: &'g Graph,
    plan: KernelPlan,
    weights: Vec<u8>,
    value_buffer: HashMap<Handle<Value>, View>,
    /// How many live values share each buffer; pinned buffers are never freed.
    refs: Vec<usize>,
    pinned: Vec<bool>,
    free: Vec<BufferId>,
    kernel_ids: HashMap<(String, String, [u32; 3]), usize>,
    /// Keep weights packed on the device where their readers decode them
    /// ([`PlanOptions::packed_weights`]).
    packed_weights: bool,
    /// Integer products of 8-bit operands run on the packed engine
    /// ([`PlanOptions::packed_dot`]).
    packed_dot: bool,
    /// f16 steps compute in f16 ([`PlanOptions::f16_arithmetic`]).
    f16_arithmetic: bool,
    /// Integer products lowered to the packed 8-bit engine.
    packed_products: usize,
    /// The constant buffers whose elements also exist packed: each f32 twin → how the
    /// packed form is stored and its part buffers ([`Slot::Packed`]).
    packed: HashMap<BufferId, (PackedWeight, Vec<BufferId>)>,
    /// Producers asked to fold the range of their result 0, and the `min_max` node
    /// that reads it ([`range_folds`]).
    fold_for: HashMap<Handle<kiln_ir::Node>, Handle<kiln_ir::Node>>,
    /// The range words (one buffer: low, high) of each `min_max` node whose operand's
    /// producer folded them.
    ranges: HashMap<Handle<kiln_ir::Node>, BufferId>,
    /// The range words [`Slot::Range`] binds in the node being emitted.
    range_words: Option<BufferId>,
    /// Values that are range words their readers decode (a `min_max` that runs no
    /// kernel: its results are the words).
    range_values: HashMap<Handle<Value>, RangeWord>,
    /// Intermediate tensors stored narrow, each with its views ([`narrow_values`]).
    narrow_views: HashMap<Handle<Value>, Vec<Handle<Value>>>,
    /// Those tensors and their views.
    narrow: HashSet<Handle<Value>>,
}

/// The tensors stored narrow, several elements to a word ([`crate::lower::narrow`]),
/// each with the views of it that share its buffer (reshapes, transposes folded into
/// their readers): of an 8- or 16-bit dtype, neither it nor a view of it a graph
/// output, read (itself or through its views) only by kernels that decode it at every
/// operand it is, and either
/// - the only result of a kernel that writes whole words of it into a buffer of its
///   own, or
/// - a constant (not a splat, more than one word's worth of elements): the bundle
///   holds its elements packed at their width already ([`pack`]), in the narrow
///   words' layout, so the device keeps those bytes as they are instead of widening
///   them to a word per element.
fn narrow_values(
    graph: &Graph,
    layout: &Layout,
    limits: &Limits,
) -> HashMap<Handle<Value>, Vec<Handle<Value>>> {
    let outputs: HashSet<Handle<Value>> = graph.outputs.iter().map(|p| p.value).collect();
    let mut readers: HashMap<Handle<Value>, Vec<Handle<kiln_ir::Node>>> = HashMap::new();
    for (handle, node) in graph.nodes.iter() {
        for &v in &node.inputs {
            readers.entry(v).or_default().push(handle);
        }
    }
    let dequantized = |node: &kiln_ir::Node| load_time_dequantize(graph, node).is_some();
    // `v` and its views, when each is read only by views or by kernels decoding it.
    let decoded_group = |v: Handle<Value>| {
        let dtype = graph.values[v].ty.dtype;
        let mut group = vec![v];
        let mut next = 0;
        while next < group.len() {
            let u = group[next];
            next += 1;
            if outputs.contains(&u) || layout.members.contains_key(&u) {
                return None;
            }
            for &r in readers.get(&u).into_iter().flatten() {
                let reader = &graph.nodes[r];
                if dequantized(reader) {
                    return None;
                } else if layout.is_alias(reader) {
                    // The same bytes: a view of the same dtype joins the group.
                    let view = reader.outputs[0];
                    if graph.values[view].ty.dtype != dtype {
                        return None;
                    }
                    group.push(view);
                } else {
                    let support = node_placement_support(graph, r, limits);
                    let decodes = reader
                        .inputs
                        .iter()
                        .enumerate()
                        .all(|(i, &w)| w != u || support.reads_narrow(i));
                    if !decodes {
                        return None;
                    }
                }
            }
        }
        Some(group)
    };
    let narrowable = |v: Handle<Value>| {
        let ty = &graph.values[v].ty;
        crate::lower::narrow::per_word(ty.dtype).is_some() && ty.shape.numel() > 0
    };
    let mut narrow = HashMap::new();
    for (handle, node) in graph.nodes.iter() {
        let [v] = node.outputs[..] else {
            continue;
        };
        let writes = node_placement_support(graph, handle, limits).writes_narrow();
        if !narrowable(v)
            || !writes
            || layout.is_alias(node)
            || dequantized(node)
            || layout.folded_results.contains_key(&v)
            || layout.written_transposed.contains(&v)
        {
            continue;
        }
        if let Some(group) = decoded_group(v) {
            narrow.insert(v, group);
        }
    }
    for (v, value) in graph.values.iter() {
        let ValueDef::Const(tensor) = &value.def else {
            continue;
        };
        // One word holds the whole of a small constant either way: decoding it would
        // only cost its readers. (Every narrow dtype packs: see `pack`.)
        let per_word = crate::lower::narrow::per_word(value.ty.dtype).unwrap_or(1) as usize;
        if !narrowable(v) || value.ty.shape.numel() <= per_word || tensor.is_splat() {
            continue;
        }
        if let Some(group) = decoded_group(v) {
            narrow.insert(v, group);
        }
    }
    narrow
}

/// The `min_max` nodes whose range the kernel storing their operand could fold as it
/// stores it ([`crate::lower::range`]), by that operand's producer: a `min_max` of a
/// whole f32 tensor, traced back through reshapes, identities and transposes (the same
/// values) to the node computing it, one `min_max` per producer. A producer whose
/// lowering cannot fold leaves its `min_max` a reduction.
fn range_folds(graph: &Graph) -> HashMap<Handle<kiln_ir::Node>, Handle<kiln_ir::Node>> {
    let mut producer = HashMap::new();
    for (handle, node) in graph.nodes.iter() {
        if let Some(&out) = node.outputs.first() {
            producer.insert(out, handle);
        }
    }
    let mut folds = HashMap::new();
    for (handle, node) in graph.nodes.iter() {
        let Op::MinMax { .. } = node.op else {
            continue;
        };
        let whole = node
            .outputs
            .iter()
            .all(|&o| graph.values[o].ty.shape.numel() == 1);
        let mut v = node.inputs[0];
        let ty = &graph.values[v].ty;
        if !whole || ty.dtype != kiln_ir::DType::F32 || ty.shape.numel() == 0 {
            continue;
        }
        while let Some(&p) = producer.get(&v) {
            let source = &graph.nodes[p];
            match source.op {
                Op::Reshape { .. } | Op::Identity | Op::Transpose { .. } => v = source.inputs[0],
                _ => {
                    folds.entry(p).or_insert(handle);
                    break;
                }
            }
        }
    }
    folds
}

impl<'g> Builder<'g> {
    fn new(graph: &'g Graph) -> Self {
        Builder {
            graph,
            plan: KernelPlan {
                inputs: Vec::new(),
                outputs: Vec::new(),
                buffers: Vec::new(),
                kernels: Vec::new(),
                dispatches: Vec::new(),
                weights_len: 0,
                requirements: Requirements::default(),
                checks: Vec::new(),
                extents: Vec::new(),
                zeroed: Vec::new(),
            },
            weights: Vec::new(),
            value_buffer: HashMap::new(),
            refs: Vec::new(),
            pinned: Vec::new(),
            free: Vec::new(),
            kernel_ids: HashMap::new(),
            packed_weights: false,
            packed_dot: false,
            f16_arithmetic: false,
            packed_products: 0,
            packed: HashMap::new(),
            fold_for: HashMap::new(),
            ranges: HashMap::new(),
            range_words: None,
            range_values: HashMap::new(),
            narrow_views: HashMap::new(),
            narrow: HashSet::new(),
        }
    }

    fn new_buffer(&mut self, size: u64, kind: BufferKind, pinned: bool) -> BufferId {
        self.plan.buffers.push(BufferDesc { size, kind });
        self.refs.push(0);
        self.pinned.push(pinned);
        self.plan.buffers.len() - 1
    }

    /// Graph inputs get input buffers, constants constant or splat buffers.
    fn assign_ports_and_constants(&mut self) -> Result<(), CodegenError> {
        let graph = self.graph;
        for (i, port) in graph.inputs.iter().enumerate() {
            let bytes = buffer_bytes(graph.values[port.value].ty.shape.numel());
            let buffer = self.new_buffer(bytes, BufferKind::Input(i), true);
            self.bind_value(port.value, View::whole(buffer));
            self.plan.inputs.push(plan_port(graph, port, buffer));
        }
        let dequantized = only_dequantized(graph);
        for (handle, value) in graph.values.iter() {
            let ValueDef::Const(tensor) = &value.def else {
                continue;
            };
            if dequantized.contains(&handle) {
                continue;
            }
            let buffer = if tensor.is_splat() {
                let bytes = buffer_bytes(tensor.numel());
                let word = data_words(tensor.stored())[0];
                self.new_buffer(bytes, BufferKind::Splat { word }, true)
            } else if self.narrow.contains(&handle) {
                // Packed in the bundle and kept so on the device: its readers decode it.
                let (packed, _, _) = pack(tensor.stored()).expect("a narrow dtype packs");
                let offset = self.append_aligned(&packed);
                self.raw_buffer(offset, packed.len() as u64)
            } else if let Some((packed, bits, signed)) = pack(tensor.stored()) {
                // Low-bit weights stay packed in the bundle (unpacked when uploaded).
                let offset = self.packed_offset();
                let len = packed.len() as u64;
                self.weights.extend(packed);
                let half = tensor.dtype() == kiln_ir::DType::F16;
                let kind = BufferKind::Packed {
                    offset,
                    bits,
                    signed,
                    half,
                };
                let buffer = self.new_buffer(buffer_bytes(tensor.numel()), kind, true);
                if half && self.packed_weights {
                    // f16 values its readers may decode where they load them.
                    let weight = PackedWeight {
                        bits,
                        signed: false,
                        scale: None,
                    };
                    let part = self.raw_buffer(offset, len);
                    self.packed.insert(buffer, (weight, vec![part]));
                }
                buffer
            } else {
                self.constant_buffer(&data_words(tensor.stored()))
            };
            self.bind_value(handle, View::whole(buffer));
        }
        Ok(())
    }

    /// Binds the result of a load-time `dequantize` (see [`load_time_dequantize`]) to a
    /// pinned [`BufferKind::Dequantized`] buffer, its parts appended to the weights.
    fn bind_dequantized(&mut self, node: &kiln_ir::Node, d: Dequantized<'_>) {
        let ([x, s, z], axis, block) = (d.parts, d.axis, d.block);
        let (packed, bits, signed) = pack(x.stored()).expect("an integer of at most 16 bits");
        let q = self.packed_offset();
        let q_len = packed.len() as u64;
        self.weights.extend(packed);
        // Scales that are all f16 values take two bytes each; one zero point for all, one word.
        let (scales_half, zero_splat) = dequantized_encoding(s, z);
        let scale_values = s.to_f64_vec();
        let mut floats = |values: &[f64], half: bool| {
            let offset = self.weights.len().next_multiple_of(4);
            self.weights.resize(offset, 0);
            for &v in values {
                if half {
                    self.weights.extend(f16::from_f64(v).to_le_bytes());
                } else {
                    self.weights.extend((v as f32).to_le_bytes());
                }
            }
            offset as u64
        };
        let scales = floats(&scale_values, scales_half);
        let zero_values = if zero_splat {
            z.stored().to_f64_vec()
        } else {
            z.to_f64_vec()
        };
        let zeros = floats(&zero_values, false);
        let out = node.outputs[0];
        let kind = BufferKind::Dequantized(Box::new(DequantizedConst {
            q,
            bits,
            signed,
            scales,
            zeros,
            x_dims: x.shape().dims().to_vec(),
            scale_dims: s.shape().dims().to_vec(),
            zero_dims: z.shape().dims().to_vec(),
            axis,
            block,
            half: self.graph.values[out].ty.dtype == kiln_ir::DType::F16,
            scales_half,
            zero_splat,
        }));
        let buffer = self.new_buffer(buffer_bytes(x.numel()), kind, true);
        self.bind_value(out, View::whole(buffer));
        let f32_result = self.graph.values[out].ty.dtype == kiln_ir::DType::F32;
        if self.packed_weights && f32_result {
            // The same values, decoded by the readers that can where they load them.
            let scale_bytes = if scales_half { 2 } else { 4 };
            let mut parts = vec![
                self.raw_buffer(q, q_len),
                self.raw_buffer(scales, scale_bytes * s.numel() as u64),
            ];
            let zero_literal = if zero_splat {
                Some((zero_values[0] as f32).to_bits())
            } else {
                parts.push(self.raw_buffer(zeros, 4 * z.numel() as u64));
                None
            };
            let weight = PackedWeight {
                bits,
                signed,
                scale: Some(PackedScale {
                    x_dims: x.shape().dims().to_vec(),
                    scale_dims: s.shape().dims().to_vec(),
                    scales_half,
                    zero_literal,
                    zero_dims: z.shape().dims().to_vec(),
                    axis,
                    block,
                }),
            };
            self.packed.insert(buffer, (weight, parts));
        }
    }

    /// Where the next packed constant starts in the weights: word-aligned when kernels
    /// may bind its words as they are ([`Builder::raw_buffer`]).
    fn packed_offset(&mut self) -> u64 {
        if self.packed_weights {
            let offset = self.weights.len().next_multiple_of(4);
            self.weights.resize(offset, 0);
        }
        self.weights.len() as u64
    }

    /// A pinned constant buffer of the `len` weight bytes at `offset` (word-aligned) as
    /// they are, rounded up to whole words ([`Builder::finish`] pads the weights to
    /// cover the last one).
    fn raw_buffer(&mut self, offset: u64, len: u64) -> BufferId {
        let kind = BufferKind::Constant { offset };
        self.new_buffer(len.next_multiple_of(4).max(4), kind, true)
    }

    /// A pinned constant buffer holding `words`, appended (word-aligned) to the weights.
    fn constant_buffer(&mut self, words: &[u32]) -> BufferId {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let offset = self.append_aligned(&bytes);
        if words.is_empty() {
            self.weights.extend([0u8; 4]);
        }
        let kind = BufferKind::Constant { offset };
        self.new_buffer(buffer_bytes(words.len()), kind, true)
    }

    /// Appends `bytes` to the weights at the next word boundary; returns where they
    /// start. Each constant is uploaded into a buffer of its own, so its bytes need
    /// only word alignment in the weights (no per-constant padding in the bundle).
    fn append_aligned(&mut self, bytes: &[u8]) -> u64 {
        let offset = self.weights.len().next_multiple_of(4);
        self.weights.resize(offset, 0);
        self.weights.extend_from_slice(bytes);
        offset as u64
    }

    /// A free intermediate buffer of at least `bytes` (the smallest that fits), or a new one.
    fn acquire(&mut self, bytes: u64) -> BufferId {
        let best = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, &b)| {
                self.plan.buffers[b].size >= bytes && self.plan.buffers[b].size <= bytes * 2
            })
            .min_by_key(|(_, &b)| self.plan.buffers[b].size)
            .map(|(i, _)| i);
        match best {
            Some(i) => self.free.swap_remove(i),
            None => self.new_buffer(bytes, BufferKind::Intermediate, false),
        }
    }

    fn release(&mut self, buffer: BufferId) {
        if !self.pinned[buffer] && self.refs[buffer] == 0 {
            self.free.push(buffer);
        }
    }

    fn bind_value(&mut self, value: Handle<Value>, view: View) {
        self.value_buffer.insert(value, view);
        self.refs[view.buffer] += 1;
    }

    fn release_value(&mut self, value: Handle<Value>) {
        if let Some(view) = self.value_buffer.get(&value).copied() {
            self.refs[view.buffer] -= 1;
            self.release(view.buffer);
        }
    }

    fn view_of(&self, value: Handle<Value>) -> Result<View, CodegenError> {
        self.value_buffer
            .get(&value)
            .copied()
            .ok_or(CodegenError::Unplaced { value })
    }

    /// Binds each result of a Split as a contiguous slice of its operand (see
    /// [`View::slice`] for unaligned ones). The operand's buffer lives while any view of
    /// it does (each view holds a reference to it).
    fn bind_split_views(
        &mut self,
        node: &kiln_ir::Node,
        offsets: Vec<u64>,
    ) -> Result<(), CodegenError> {
        let graph = self.graph;
        let view = self.view_of(node.inputs[0])?;
        for (&out, offset) in node.outputs.iter().zip(offsets) {
            let size = buffer_bytes(graph.values[out].ty.shape.numel());
            let start = view.offset + 4 * view.elems as u64 + offset;
            self.bind_value(out, View::slice(view.buffer, start, size));
        }
        Ok(())
    }

    /// Gives each result of `node` its buffer: its own, the buffer of the transpose its
    /// producer writes, or its slice of a concat result it is written into in place.
    fn place_results(&mut self, node: &kiln_ir::Node, layout: &Layout) {
        let graph = self.graph;
        for &out in &node.outputs {
            if self.value_buffer.contains_key(&out) {
                // A concat result allocated when its first in-place operand was made.
                continue;
            }
            if let Some((transposed, _)) = layout.folded_results.get(&out) {
                // Written transposed, straight into the buffer of the transpose's result.
                let bytes = buffer_bytes(graph.values[*transposed].ty.shape.numel());
                let buffer = self.acquire(bytes);
                self.bind_value(*transposed, View::whole(buffer));
                self.bind_value(out, View::whole(buffer));
                continue;
            }
            if let Some(&(concat_out, offset)) = layout.members.get(&out) {
                let base = match self.value_buffer.get(&concat_out) {
                    Some(view) => view.buffer,
                    None => {
                        let bytes = buffer_bytes(graph.values[concat_out].ty.shape.numel());
                        let buffer = self.acquire(bytes);
                        self.bind_value(concat_out, View::whole(buffer));
                        buffer
                    }
                };
                // An unaligned slice is written at an element base by its producer
                // (see `PlacementSupport::writes_at_offset`).
                let size = buffer_bytes(graph.values[out].ty.shape.numel());
                self.bind_value(out, View::slice(base, offset, size));
                continue;
            }
            let ty = &graph.values[out].ty;
            let bytes = if self.narrow.contains(&out) {
                crate::lower::narrow::bytes(ty.dtype, ty.shape.numel())
            } else {
                None
            };
            let buffer = self.acquire(bytes.unwrap_or_else(|| buffer_bytes(ty.shape.numel())));
            self.bind_value(out, View::whole(buffer));
        }
    }

    /// Where each operand of `node` and its result 0 sit in their bindings. A concat
    /// operand written in place gets the default: no kernel of the concat reads it.
    /// Operands its kernels may read packed (`packed`) get their packed form where the
    /// plan keeps one.
    fn placements(
        &self,
        node: &kiln_ir::Node,
        layout: &Layout,
        packed: crate::OperandSet,
    ) -> Result<(Vec<Placement>, Placement), CodegenError> {
        let in_place = |v: &Handle<Value>| {
            matches!(node.op, Op::Concat { .. }) && layout.members.contains_key(v)
        };
        let operands = node
            .inputs
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if in_place(v) {
                    return Ok(Placement::default());
                }
                let view = self.view_of(*v)?;
                let packed = (packed.contains(i) && view.offset == 0 && view.elems == 0)
                    .then(|| self.packed.get(&view.buffer))
                    .flatten();
                Ok(Placement {
                    base: view.elems,
                    strides: layout.folded.get(v).cloned(),
                    shuffle: layout.shuffles.get(v).map(|s| (s.groups, s.per_group)),
                    packed: packed.map(|(weight, _)| weight.clone()),
                    range: self.range_values.get(v).copied(),
                    narrow: self.narrow.contains(v),
                })
            })
            .collect::<Result<Vec<Placement>, CodegenError>>()?;
        let result = Placement {
            base: self.view_of(node.outputs[0])?.elems,
            strides: layout
                .folded_results
                .get(&node.outputs[0])
                .map(|(_, s)| s.clone()),
            shuffle: None,
            packed: None,
            range: None,
            narrow: self.narrow.contains(&node.outputs[0]),
        };
        Ok((operands, result))
    }

    /// [`Builder::lower`], storing the result one word per element after all where it
    /// was to be narrow but the engine `node`'s shape takes stores single elements
    /// ([`CodegenError::WordStores`]); its readers, lowered later, then read it so.
    fn lower_or_widen(
        &mut self,
        handle: Handle<kiln_ir::Node>,
        node: &kiln_ir::Node,
        layout: &Layout,
        limits: &Limits,
    ) -> Result<(), CodegenError> {
        let out = node.outputs[0];
        match self.lower(handle, node, layout, limits) {
            Err(CodegenError::WordStores(_)) if self.narrow_views.contains_key(&out) => {
                for view in self.narrow_views.remove(&out).unwrap_or_default() {
                    self.narrow.remove(&view);
                }
                self.release_value(out);
                self.value_buffer.remove(&out);
                self.place_results(node, layout);
                self.lower(handle, node, layout, limits)
            }
            lowered => lowered,
        }
    }

    /// Lowers `node` and adds its kernels, tables, scratch buffers, device checks and
    /// dispatches to the plan.
    fn lower(
        &mut self,
        handle: Handle<kiln_ir::Node>,
        node: &kiln_ir::Node,
        layout: &Layout,
        limits: &Limits,
    ) -> Result<(), CodegenError> {
        let support = node_placement_support(self.graph, handle, limits);
        let packed = support.packed_reads;
        let (places, result_place) = self.placements(node, layout, packed)?;
        let ctx = NodeCtx {
            graph: self.graph,
            node: handle,
            limits,
            operand_places: &places,
            result_place: result_place.clone(),
            packed_dot: self.packed_dot,
            f16_arithmetic: self.f16_arithmetic,
            fold_range: self.fold_for.contains_key(&handle),
        };
        if let Some(&words) = self.ranges.get(&handle) {
            // A `min_max` whose operand's producer folded the range, read by a kernel
            // that cannot decode the words: decoded into its results.
            self.range_words = Some(words);
            let lowered = crate::lower::range::decode(&ctx)?;
            return self.emit(node, lowered);
        }
        let lower_with = |fold_range: bool| -> Result<Lowered, CodegenError> {
            let ctx = NodeCtx {
                operand_places: &places,
                result_place: result_place.clone(),
                fold_range,
                ..ctx
            };
            match lower_node(&ctx) {
                // Packed parts bind more buffers: past the device's limit (a fused node
                // reading many operands), the node reads the f32 words instead.
                Err(_) if places.iter().any(|p| p.packed.is_some()) => {
                    let (places, _) = self.placements(node, layout, crate::OperandSet::NONE)?;
                    lower_node(&NodeCtx {
                        operand_places: &places,
                        ..ctx
                    })
                }
                lowered => lowered,
            }
        };
        let most = limits.max_storage_buffers_per_shader_stage as usize;
        let fits = |l: &Lowered| l.kernels.iter().all(|k| k.bindings.len() <= most);
        let mut lowered = match lower_with(ctx.fold_range) {
            Ok(lowered) if fits(&lowered) => lowered,
            // The range words are one binding more: past the device's limit the node
            // stores as it did, and its `min_max` reduces the tensor.
            _ if ctx.fold_range => lower_with(false)?,
            lowered => lowered?,
        };
        if matches!(node.op, Op::Concat { .. }) {
            // Operands written in place need no copy dispatch.
            let in_place = |slot: &Slot| match *slot {
                Slot::Operand(i) => layout.members.contains_key(&node.inputs[i]),
                _ => false,
            };
            lowered
                .kernels
                .retain(|k| !k.bindings.iter().any(|b| in_place(&b.slot)));
        }
        self.range_words = None;
        if crate::lower::range::folds(&lowered) {
            let reader = self.fold_for[&handle];
            let words = self.new_buffer(8, BufferKind::Intermediate, true);
            self.plan.zeroed.push(words);
            self.ranges.insert(reader, words);
            self.range_words = Some(words);
        }
        self.emit(node, lowered)
    }

    /// Adds `lowered`'s constant tables, scratch buffers (released after its
    /// dispatches), device checks, kernels and dispatches to the plan.
    fn emit(&mut self, node: &kiln_ir::Node, lowered: Lowered) -> Result<(), CodegenError> {
        self.packed_products += usize::from(lowered.packed_dot);
        let tables: Vec<BufferId> = lowered
            .tables
            .iter()
            .map(|words| self.constant_buffer(words))
            .collect();
        let scratch: Vec<BufferId> = lowered
            .scratch_bytes
            .iter()
            .map(|&s| self.acquire(s))
            .collect();
        // Each device check gets two words of its own, never reused, so nothing but its
        // kernel writes them during a run.
        let checks: Vec<BufferId> = lowered
            .checks
            .iter()
            .map(|what| {
                let buffer = self.new_buffer(8, BufferKind::Intermediate, true);
                self.plan.checks.push(Check {
                    buffer,
                    node: node.name.clone(),
                    op: node.op.name().to_string(),
                    what: what.clone(),
                });
                buffer
            })
            .collect();
        for k in lowered.kernels {
            let mut bindings = Vec::with_capacity(k.bindings.len());
            for binding in &k.bindings {
                let view = match binding.slot {
                    Slot::Operand(i) => self.view_of(node.inputs[i])?,
                    Slot::Result(i) => self.view_of(node.outputs[i])?,
                    Slot::Scratch(i) => View::whole(scratch[i]),
                    Slot::Table(i) => View::whole(tables[i]),
                    Slot::Check(i) => View::whole(checks[i]),
                    Slot::Range => View::whole(self.range_words.ok_or(CodegenError::Unplaced {
                        value: node.outputs[0],
                    })?),
                    Slot::Packed { operand, part } => {
                        let twin = self.view_of(node.inputs[operand])?.buffer;
                        let part = self.packed.get(&twin).and_then(|(_, p)| p.get(part));
                        View::whole(*part.ok_or(CodegenError::Unplaced {
                            value: node.inputs[operand],
                        })?)
                    }
                };
                let (offset, size) = match binding.range {
                    Some((offset, size)) => (view.offset + offset, Some(size)),
                    None => (view.offset, view.size),
                };
                bindings.push(BufferBinding {
                    buffer: view.buffer,
                    offset,
                    size,
                });
            }
            let access = k.bindings.iter().map(|b| b.access).collect();
            let kernel = self.intern_kernel(
                k.name,
                node.op.name(),
                k.wgsl,
                k.entry_point,
                k.workgroup_size,
                access,
            )?;
            self.plan.dispatches.push(Dispatch {
                kernel,
                workgroups: k.workgroups,
                bindings,
            });
        }
        for s in scratch {
            self.release(s);
        }
        Ok(())
    }

    /// Releases the operands `node` (at `handle`) is the last reader of.
    fn release_last_uses(
        &mut self,
        handle: Handle<kiln_ir::Node>,
        node: &kiln_ir::Node,
        last_use: &[Option<usize>],
    ) {
        let mut released = Vec::new();
        for &v in &node.inputs {
            if last_use[v.index()] == Some(handle.index()) && !released.contains(&v) {
                released.push(v);
                self.release_value(v);
            }
        }
    }

    /// Removes the packed weights' buffers no dispatch binds: the f32 twin when every
    /// reader decodes the packed form (its words are then never uploaded), the parts
    /// when none does. Returns how many weights are read packed.
    fn drop_unbound_twins(&mut self) -> usize {
        let mut bound = vec![false; self.plan.buffers.len()];
        for d in &self.plan.dispatches {
            for b in &d.bindings {
                bound[b.buffer] = true;
            }
        }
        let mut drop = vec![false; self.plan.buffers.len()];
        let mut read_packed = 0;
        for (&twin, (_, parts)) in &self.packed {
            drop[twin] = !bound[twin];
            for &p in parts {
                drop[p] = !bound[p];
            }
            read_packed += usize::from(bound[parts[0]]);
        }
        if !drop.contains(&true) {
            return read_packed;
        }
        let mut new_id = vec![usize::MAX; drop.len()];
        let mut kept = Vec::new();
        for (i, desc) in std::mem::take(&mut self.plan.buffers)
            .into_iter()
            .enumerate()
        {
            if !drop[i] {
                new_id[i] = kept.len();
                kept.push(desc);
            }
        }
        self.plan.buffers = kept;
        let plan = &mut self.plan;
        for b in plan
            .dispatches
            .iter_mut()
            .flat_map(|d| d.bindings.iter_mut())
        {
            b.buffer = new_id[b.buffer];
        }
        let ports = plan.inputs.iter_mut().chain(plan.outputs.iter_mut());
        for port in ports {
            port.buffer = new_id[port.buffer];
        }
        for check in &mut plan.checks {
            check.buffer = new_id[check.buffer];
        }
        for buffer in &mut plan.zeroed {
            *buffer = new_id[*buffer];
        }
        read_packed
    }

    /// Records the outputs, requirements and weights length, and verifies the plan.
    fn finish(mut self, mut decisions: PlanDecisions) -> Result<CompiledPlan, CodegenError> {
        let graph = self.graph;
        for port in &graph.outputs {
            let view = self.view_of(port.value)?;
            if view.offset != 0 {
                return Err(CodegenError::OutputSlice {
                    port: port.name.clone(),
                    value: port.value,
                });
            }
            self.plan.outputs.push(plan_port(graph, port, view.buffer));
        }
        self.plan.extents = graph.extents.clone();
        decisions.packed_weights = self.drop_unbound_twins();
        // The last packed part is bound in whole words.
        let end = self.plan.buffers.iter().filter_map(|b| match b.kind {
            BufferKind::Constant { offset } => Some(offset + b.size),
            _ => None,
        });
        let end = end.max().unwrap_or(0) as usize;
        if end > self.weights.len() {
            self.weights.resize(end, 0);
        }
        self.plan.requirements = requirements(&self.plan);
        self.plan.weights_len = self.weights.len() as u64;
        // Every kernel was validated by naga as it was interned.
        verify_layout(&self.plan, self.weights.len() as u64)?;
        decisions.device_checks = self.plan.checks.len();
        decisions.packed_products = self.packed_products;
        decisions.ranges_folded = self.ranges.len();
        decisions.ranges_read_as_words = self.range_values.len() / 2;
        decisions.narrow_tensors = self.narrow_views.len();
        let constant = |v: &&Handle<Value>| self.graph.constant(**v).is_some();
        decisions.narrow_constants = self.narrow_views.keys().filter(constant).count();
        Ok(CompiledPlan {
            plan: self.plan,
            weights: self.weights,
            decisions,
        })
    }

    /// The index of an identical kernel already in the plan, or a new validated one.
    fn intern_kernel(
        &mut self,
        name: String,
        op: &str,
        wgsl: String,
        entry_point: String,
        workgroup_size: [u32; 3],
        bindings: Vec<Access>,
    ) -> Result<usize, CodegenError> {
        let wgsl = crate::portable::runtime_non_finite(wgsl);
        let wgsl = if crate::lower::uses_f16(&wgsl) {
            format!("enable f16;\n{wgsl}")
        } else {
            wgsl
        };
        let key = (wgsl, entry_point, workgroup_size);
        if let Some(&id) = self.kernel_ids.get(&key) {
            return Ok(id);
        }
        let id = self.plan.kernels.len();
        let name = format!("{name}_{id}");
        let workgroup_storage_bytes =
            validated_workgroup_storage_bytes(&key.0).map_err(|message| CodegenError::Invalid {
                kernel: name.clone(),
                message,
            })?;
        self.plan.kernels.push(Kernel {
            name,
            op: op.to_string(),
            wgsl: key.0.clone(),
            entry_point: key.1.clone(),
            workgroup_size,
            bindings,
            workgroup_storage_bytes,
        });
        self.kernel_ids.insert(key, id);
        Ok(id)
    }
}

impl Builder<'_> {
    /// True when `node` is a `min_max` whose operand's producer folded its range and
    /// every reader of its two results decodes range words where it loads them (no
    /// graph output among them): the results can be the words themselves.
    fn words_read_decoded(&self, node: Handle<kiln_ir::Node>, limits: &Limits) -> bool {
        if !self.ranges.contains_key(&node) {
            return false;
        }
        let graph = self.graph;
        let results = &graph.nodes[node].outputs;
        if graph.outputs.iter().any(|p| results.contains(&p.value)) {
            return false;
        }
        graph.nodes.iter().all(|(reader, n)| {
            let support = node_placement_support(graph, reader, limits);
            n.inputs
                .iter()
                .enumerate()
                .all(|(i, v)| !results.contains(v) || support.reads_range(i))
        })
    }

    /// Binds `node`'s results (a `min_max` of a folded range) to its range words.
    fn bind_range_results(&mut self, handle: Handle<kiln_ir::Node>, node: &kiln_ir::Node) {
        let words = self.ranges[&handle];
        for (&out, word) in node.outputs.iter().zip([RangeWord::Low, RangeWord::High]) {
            self.bind_value(out, View::whole(words));
            self.range_values.insert(out, word);
        }
    }
}
