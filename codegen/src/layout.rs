//! The plan builder's layout decisions: which values get no kernel or no buffer of
//! their own (concat operands written in place, split results as views, transposes and
//! channel shuffles read through index maps or written by their producer), each
//! decided from the graph and from what the lowerings honour.

use crate::lower::{node_placement_support, placement_support, Limits};
use crate::plan::BINDING_ALIGN;
use kiln_ir::{DType, Graph, Handle, Op, Value, ValueDef};
use std::collections::{HashMap, HashSet};

/// Choices the plan builder makes beyond one kernel per node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanOptions {
    /// Let the producers of a Concat's operands write straight into their slices of
    /// the result (no copy dispatch) where the slices are contiguous and aligned.
    pub concat_in_place: bool,
    /// Bind a Split's results as views into its operand's buffer (no dispatch) where
    /// the slices are contiguous and aligned.
    pub split_views: bool,
    /// Let a transpose (or a channel shuffle) be an index map of the op that reads it,
    /// or be written by the op that produces its operand, instead of a copy kernel
    /// (see `layout.rs` for which ops can).
    pub fold_transposes: bool,
    /// Keep quantized and f16 weights packed on the device where the kernels reading
    /// them (matmul, conv) decode each element as they load it, instead of widening
    /// them to f32 words when the plan is uploaded.
    pub packed_weights: bool,
    /// Run integer products of 8-bit operands (`matmul_integer`, `conv_integer`) on the
    /// packed engine, four multiply-adds per `dot4I8Packed`, instead of exact f32
    /// arithmetic: for devices whose packed dot products are faster than f32 ones.
    pub packed_dot: bool,
    /// Store intermediate 8- and 16-bit tensors narrow, several elements to a word,
    /// where the kernel computing one stores whole words and every reader decodes it
    /// (see `lower/narrow.rs`).
    pub narrow: bool,
    /// Compute the f16 steps of element-wise code in f16 (WGSL's `f16`, which needs the
    /// device's `SHADER_F16`) where the result stays within one f16 ulp of the
    /// reference's (see `lower/elementwise/half.rs`), instead of in f32 rounded to f16
    /// after every step.
    pub f16_arithmetic: bool,
}

/// The layout decisions of the plan builder, for reports: values that got no kernel
/// or no buffer of their own.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlanDecisions {
    /// Transposes read through permuted strides by their reader.
    pub transposes_read_strided: usize,
    /// Transposes written directly by the producer of their operand.
    pub transposes_written_by_producer: usize,
    /// Channel shuffles remapped by the convolution reading them.
    pub channel_shuffles: usize,
    /// Concat operands written in place into the concat's result.
    pub concat_operands_in_place: usize,
    /// Split results that are views of the split's operand.
    pub split_views: usize,
    /// Conditions kernels check on the device.
    pub device_checks: usize,
    /// Weights kept packed on the device, decoded by the kernels reading them (absent
    /// from manifests when none is).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub packed_weights: usize,
    /// Integer products run on the packed 8-bit engine (`dot4I8Packed`) (absent from
    /// manifests when none is).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub packed_products: usize,
    /// Whole-tensor ranges (`min_max`) folded by the kernel storing the tensor; of
    /// them, those whose readers decode the range words themselves, so the `min_max`
    /// runs no kernel (both absent from manifests when none is).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ranges_folded: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ranges_read_as_words: usize,
    /// Intermediate 8- and 16-bit tensors stored narrow, several elements to a word
    /// (absent from manifests when none is).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub narrow_tensors: usize,
    /// Of them, 8- and 16-bit constants the device keeps at their width, as the bundle
    /// packs them (absent from manifests when none is).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub narrow_constants: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl std::fmt::Display for PlanDecisions {
    /// `5 transposes read through strides, 1 concat operand written in place`, or
    /// `none`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [
            (
                self.transposes_read_strided,
                "transpose read through strides",
                "transposes read through strides",
            ),
            (
                self.transposes_written_by_producer,
                "transpose written by its producer",
                "transposes written by their producers",
            ),
            (
                self.channel_shuffles,
                "channel shuffle remapped by its conv",
                "channel shuffles remapped by their convs",
            ),
            (
                self.concat_operands_in_place,
                "concat operand written in place",
                "concat operands written in place",
            ),
            (
                self.split_views,
                "split result as a view",
                "split results as views",
            ),
            (self.device_checks, "device check", "device checks"),
            (
                self.packed_weights,
                "weight kept packed on the device",
                "weights kept packed on the device",
            ),
            (
                self.packed_products,
                "integer product on packed dot products",
                "integer products on packed dot products",
            ),
            (
                self.ranges_folded,
                "range folded where its tensor is stored",
                "ranges folded where their tensors are stored",
            ),
            (
                self.ranges_read_as_words,
                "range decoded by its readers (no kernel)",
                "ranges decoded by their readers (no kernel)",
            ),
            (
                self.narrow_tensors,
                "8- or 16-bit tensor stored narrow",
                "8- and 16-bit tensors stored narrow",
            ),
            (
                self.narrow_constants,
                "of them a constant",
                "of them constants",
            ),
        ]
        .into_iter()
        .filter(|(n, ..)| *n > 0)
        .map(|(n, one, many)| format!("{n} {}", if n == 1 { one } else { many }))
        .collect();
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// Concat operands that can be written in place: operand value → (concat result,
/// byte offset of its slice). A concat qualifies when every axis before the
/// concatenation axis has extent 1 (so each operand is one contiguous slice); an
/// operand of it qualifies when it is a non-empty kernel result read by nothing but
/// this concat (not a graph output, input, constant or alias, nor a Split result,
/// which may be a view of the Split's operand), and its slice starts at an aligned
/// offset or its producer writes at an element offset
/// ([`PlacementSupport::writes_at_offset`](crate::PlacementSupport::writes_at_offset)). The other
/// operands are still copied.
pub(crate) fn in_place_concats(graph: &Graph) -> HashMap<Handle<Value>, (Handle<Value>, u64)> {
    let uses = graph.use_counts();
    let mut members = HashMap::new();
    for (_, node) in graph.nodes.iter() {
        let Op::Concat { axis } = node.op else {
            continue;
        };
        let out = node.outputs[0];
        if graph.values[out].ty.shape.dims()[..axis]
            .iter()
            .any(|&d| d != 1)
        {
            continue;
        }
        let mut offset = 0u64;
        for &v in &node.inputs {
            let numel = graph.values[v].ty.shape.numel();
            let here = offset;
            offset += 4 * numel as u64;
            let writable = match graph.values[v].def {
                ValueDef::Node { node: producer, .. } => {
                    let op = &graph.nodes[producer].op;
                    !(op.is_view()
                        || widens_constant(graph, &graph.nodes[producer])
                        || matches!(op, Op::Concat { .. } | Op::Split { .. }))
                        && (here.is_multiple_of(BINDING_ALIGN)
                            || placement_support(op).writes_at_offset())
                }
                _ => false,
            };
            if writable && uses[v.index()] == 1 && numel > 0 {
                members.insert(v, (out, here));
            }
        }
    }
    members
}

/// Transposes folded into their reader: transpose result → the element strides of its
/// axes in the transpose operand's (row-major) buffer. A transpose qualifies when its
/// result is read once, by a node whose lowering reads that operand strided
/// ([`PlacementSupport::reads_strided`](crate::PlacementSupport::reads_strided)),
/// is no graph output, and its operand is not itself a folded transpose.
pub(crate) fn folded_transposes(
    graph: &Graph,
    limits: &Limits,
) -> HashMap<Handle<Value>, Vec<usize>> {
    let uses = graph.use_counts();
    let outputs: Vec<Handle<Value>> = graph.outputs.iter().map(|p| p.value).collect();
    let mut folded = HashMap::new();
    for (handle, node) in graph.nodes.iter() {
        let support = node_placement_support(graph, handle, limits);
        for (i, &v) in node.inputs.iter().enumerate() {
            let ValueDef::Node { node: producer, .. } = graph.values[v].def else {
                continue;
            };
            let Op::Transpose { perm } = &graph.nodes[producer].op else {
                continue;
            };
            let source = graph.nodes[producer].inputs[0];
            if !support.reads_strided(i)
                || uses[v.index()] != 1
                || outputs.contains(&v)
                || folded.contains_key(&source)
            {
                continue;
            }
            let row_major = graph.values[source].ty.shape.strides();
            folded.insert(v, perm.iter().map(|&p| row_major[p]).collect());
        }
    }
    folded
}

/// Transposes folded into the node that produces their operand: producer result →
/// (transpose result, element strides of the producer result's axes in the transpose
/// result's row-major buffer). A transpose qualifies when its operand is result 0 of
/// an op whose lowering writes strided
/// ([`PlacementSupport::writes_strided`](crate::PlacementSupport::writes_strided)), read by nothing else and no graph
/// output, and its own result is no in-place concat operand candidate (it must own a
/// whole buffer) nor folded into its own reader.
pub(crate) fn folded_result_transposes(
    graph: &Graph,
    folded: &HashMap<Handle<Value>, Vec<usize>>,
) -> HashMap<Handle<Value>, (Handle<Value>, Vec<usize>)> {
    let uses = graph.use_counts();
    let concat_inputs: Vec<Handle<Value>> = graph
        .nodes
        .iter()
        .filter(|(_, n)| matches!(n.op, Op::Concat { .. }))
        .flat_map(|(_, n)| n.inputs.iter().copied())
        .collect();
    let mut results = HashMap::new();
    for (_, node) in graph.nodes.iter() {
        let Op::Transpose { perm } = &node.op else {
            continue;
        };
        let (source, out) = (node.inputs[0], node.outputs[0]);
        let ValueDef::Node {
            node: producer,
            output: 0,
        } = graph.values[source].def
        else {
            continue;
        };
        if !placement_support(&graph.nodes[producer].op).writes_strided()
            || uses[source.index()] != 1
            || concat_inputs.contains(&out)
            || folded.contains_key(&out)
        {
            continue;
        }
        let out_strides = graph.values[out].ty.shape.strides();
        let mut strides = vec![0; perm.len()];
        for (j, &p) in perm.iter().enumerate() {
            strides[p] = out_strides[j];
        }
        results.insert(source, (out, strides));
    }
    results
}

/// A channel shuffle folded into the convolution that reads it.
pub(crate) struct Shuffle {
    /// The transpose in the middle, which runs no kernel.
    pub transposed: Handle<Value>,
    pub groups: usize,
    pub per_group: usize,
}

/// Channel shuffles (`reshape [N, G, C/G, ...] → transpose(0, 2, 1, ...) → reshape [N,
/// C, ...]`) read only as an operand 0 whose lowering remaps its channels
/// ([`PlacementSupport::reads_shuffled`](crate::PlacementSupport::reads_shuffled): a
/// convolution's input, with or without a max-pool prologue), by the shuffle's result: the convolution
/// reads the unshuffled tensor through a channel remap
/// ([`Placement::shuffle`](crate::lower::Placement::shuffle)) and the transpose runs no
/// kernel. Every value of the chain is read once and none is a graph output.
pub(crate) fn channel_shuffles(graph: &Graph) -> HashMap<Handle<Value>, Shuffle> {
    let uses = graph.use_counts();
    let once = |v: Handle<Value>| uses[v.index()] == 1;
    let producer = |v: Handle<Value>| match graph.values[v].def {
        ValueDef::Node { node, .. } => Some(&graph.nodes[node]),
        _ => None,
    };
    let mut found = HashMap::new();
    for (_, reader) in graph.nodes.iter() {
        if !placement_support(&reader.op).reads_shuffled(0) {
            continue;
        }
        let shuffled = reader.inputs[0];
        let Some(merge) = producer(shuffled).filter(|n| matches!(n.op, Op::Reshape { .. })) else {
            continue;
        };
        let transposed = merge.inputs[0];
        let Some(transpose) = producer(transposed) else {
            continue;
        };
        let Op::Transpose { perm } = &transpose.op else {
            continue;
        };
        let grouped = transpose.inputs[0];
        let Some(split) = producer(grouped).filter(|n| matches!(n.op, Op::Reshape { .. })) else {
            continue;
        };
        let source = split.inputs[0];
        let dims = |v: Handle<Value>| graph.values[v].ty.shape.dims();
        let (x, g, y) = (dims(source), dims(grouped), dims(shuffled));
        let swap: Vec<usize> = [0, 2, 1].into_iter().chain(3..g.len()).collect();
        let is_shuffle = x.len() >= 3
            && x == y
            && g.len() == x.len() + 1
            && g[0] == x[0]
            && g[1] * g[2] == x[1]
            && g[3..] == x[2..]
            && *perm == swap;
        if is_shuffle && [shuffled, transposed, grouped].into_iter().all(once) {
            found.insert(
                shuffled,
                Shuffle {
                    transposed,
                    groups: g[1],
                    per_group: g[2],
                },
            );
        }
    }
    found
}

/// The byte offset of each result's slice in the operand when `node` is a Split whose
/// results can be views of its operand: every axis before the split axis has extent
/// 1 (so each slice is contiguous), every slice is non-empty and starts at an aligned
/// offset or is read only by kernels that read at an element offset
/// ([`PlacementSupport::reads_at_offset`](crate::PlacementSupport::reads_at_offset)),
/// and no result is (an alias of) a graph output, which must own its buffer.
pub(crate) fn split_offsets(graph: &Graph, node: &kiln_ir::Node) -> Option<Vec<u64>> {
    let Op::Split { axis, .. } = node.op else {
        return None;
    };
    let dims = graph.values[node.inputs[0]].ty.shape.dims();
    if dims[..axis.min(dims.len())].iter().any(|&d| d != 1) {
        return None;
    }
    let mut offsets = Vec::with_capacity(node.outputs.len());
    let mut offset = 0u64;
    for &out in &node.outputs {
        let numel = graph.values[out].ty.shape.numel();
        let is_output = graph.outputs.iter().any(|p| aliases(graph, p.value, out));
        let readers_at_base = || {
            graph.nodes.iter().all(|(_, n)| {
                n.inputs
                    .iter()
                    .enumerate()
                    .all(|(i, &v)| v != out || placement_support(&n.op).reads_at_offset(i))
            })
        };
        if numel == 0 || is_output || !(offset.is_multiple_of(BINDING_ALIGN) || readers_at_base()) {
            return None;
        }
        offsets.push(offset);
        offset += 4 * numel as u64;
    }
    Some(offsets)
}

/// True when `value` is `target` or a Reshape/Identity alias of it.
fn aliases(graph: &Graph, mut value: Handle<Value>, target: Handle<Value>) -> bool {
    loop {
        if value == target {
            return true;
        }
        match graph.values[value].def {
            ValueDef::Node { node, .. } if graph.nodes[node].op.is_view() => {
                value = graph.nodes[node].inputs[0];
            }
            _ => return false,
        }
    }
}

/// The layout decisions for one graph, as the plan builder applies them.
#[derive(Default)]
pub(crate) struct Layout {
    /// Concat operands written in place: operand → (concat result, byte offset).
    pub(crate) members: HashMap<Handle<Value>, (Handle<Value>, u64)>,
    /// Transposes read through strides by their reader: result → strides.
    pub(crate) folded: HashMap<Handle<Value>, Vec<usize>>,
    /// Transposes written by their operand's producer: operand → (result, strides).
    pub(crate) folded_results: HashMap<Handle<Value>, (Handle<Value>, Vec<usize>)>,
    /// Channel shuffles remapped by their convolution: shuffled value → shuffle.
    pub(crate) shuffles: HashMap<Handle<Value>, Shuffle>,
    /// Transposes of channel shuffles read through a remap: they alias their operand.
    pub(crate) shuffle_transposes: HashSet<Handle<Value>>,
    /// Transpose results their operand's producer writes (no kernel of their own).
    pub(crate) written_transposed: HashSet<Handle<Value>>,
    /// Casts of f16 constants to f32 (see [`widens_constant`]).
    pub(crate) widened: HashSet<Handle<Value>>,
}

/// True when `node` casts an f16 constant to f32: on the GPU every f16 element is held
/// as its f32 value already (the constant is widened when uploaded), so the result
/// shares the constant's buffer and no kernel runs. This is how f16-stored weights
/// (`--quantize f16`) cost nothing per run.
pub(crate) fn widens_constant(graph: &Graph, node: &kiln_ir::Node) -> bool {
    matches!(node.op, Op::Cast { to: DType::F32 })
        && graph
            .constant(node.inputs[0])
            .is_some_and(|t| t.dtype() == DType::F16)
}

impl Layout {
    pub(crate) fn decide(graph: &Graph, limits: &Limits, options: &PlanOptions) -> Layout {
        let mut layout = Layout::default();
        if options.concat_in_place {
            layout.members = in_place_concats(graph);
        }
        if options.fold_transposes {
            layout.folded = folded_transposes(graph, limits);
            layout.folded_results = folded_result_transposes(graph, &layout.folded);
            layout.shuffles = channel_shuffles(graph);
        }
        layout.widened = graph
            .nodes
            .iter()
            .filter(|(_, n)| widens_constant(graph, n))
            .map(|(_, n)| n.outputs[0])
            .collect();
        layout.shuffle_transposes = layout.shuffles.values().map(|s| s.transposed).collect();
        layout.written_transposed = layout.folded_results.values().map(|(t, _)| *t).collect();
        layout
    }

    /// True when `node`'s result shares its operand's buffer: a reshape, an identity, a
    /// transpose folded into its reader, the transpose of a channel shuffle or an f16
    /// constant widened to f32.
    pub(crate) fn is_alias(&self, node: &kiln_ir::Node) -> bool {
        node.op.is_view()
            || self.widened.contains(&node.outputs[0])
            || self.folded.contains_key(&node.outputs[0])
            || self.shuffle_transposes.contains(&node.outputs[0])
    }

    pub(crate) fn decisions(&self, split_views: usize) -> PlanDecisions {
        PlanDecisions {
            transposes_read_strided: self.folded.len(),
            transposes_written_by_producer: self.folded_results.len(),
            channel_shuffles: self.shuffles.len(),
            concat_operands_in_place: self.members.len(),
            split_views,
            device_checks: 0,
            packed_weights: 0,
            packed_products: 0,
            ranges_folded: 0,
            ranges_read_as_words: 0,
            narrow_tensors: 0,
            narrow_constants: 0,
        }
    }
}
