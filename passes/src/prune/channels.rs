//! Structured channel pruning: which output channels of convs and matmuls can be removed
//! together ([`groups`]), in what order of importance ([`ranked`]), how many to keep
//! ([`keep_count`]), the smaller dense graph without them ([`prune`]) and what it costs
//! to run ([`flops`]).
//!
//! It runs on the canonical graph (plain IR ops, before the e-graph optimizer). Each
//! *producer* (a group-1 conv or conv-transpose, or a matmul, with a constant weight)
//! opens a *space* of output channels. A forward walk follows each value's channel axis
//! through the ops that keep channels apart: element-wise ops (constants broadcast along
//! the axis are sliced with it), batch and instance norms, depthwise convs (their
//! weights sliced), pooling, resizes and reductions of other axes, transposes, pads,
//! slices and splits of other axes, softmax over another axis, reshapes that keep the
//! axis whole (`[N, C, 1, 1] → [N, C]`) or merge it with the axes after it (`[N, C, H,
//! W] → [N, C·H·W]`: each channel a block of H·W entries), and concats (along the axis
//! a concat lays its operands' spaces side by side). Spaces added together (residual
//! partners) become one group. The walk ends at the next layers (convs, conv-transposes,
//! matmuls), whose input channels are cut from their weights.
//!
//! Anything else that reads the channels makes every space on that axis unprunable: a
//! graph output, an op that mixes channels or that this module does not know, a reshape
//! that splits the axis or merges it with the axes before, a grouped conv (neither
//! depthwise nor group 1), a depthwise conv with a channel multiplier, a non-constant
//! operand of full channel width (a graph input added to them), a max pool's indices.

use crate::copy::Copy;
use kiln_ir::{infer, interp, CoordTransform, Graph, Handle, Node, Op, Tensor, TensorType};
use std::collections::HashMap;

/// Output channels of one or more producers that must be removed together.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelGroup {
    /// The first producer's name (or its op and node handle when it has none).
    pub name: String,
    /// Every producer's name, in node order.
    pub producers: Vec<String>,
    /// The channels each producer has (the same for all).
    pub channels: usize,
    /// The producers' nodes, in node order.
    nodes: Vec<Handle<Node>>,
}

/// Every prunable group of `graph`'s channels with more than 4 channels (fewer can
/// keep nothing less: see [`keep_count`]), in the order of their first producers.
pub fn groups(graph: &Graph) -> Vec<ChannelGroup> {
    let mut a = Analysis::walk(graph);
    a.groups(graph).into_iter().map(|(_, g)| g).collect()
}

/// The channel indices of `group` ordered most important first: the L2 norm of each
/// channel's weights, scaled by the |gamma| / sqrt(var + eps) of a batch norm that is
/// the producer's only reader, summed over the producers. Ties keep index order.
pub fn ranked(graph: &Graph, group: &ChannelGroup) -> Vec<usize> {
    let mut score = vec![0.0f64; group.channels];
    for &p in &group.nodes {
        let Some(node) = graph.nodes.get(p) else {
            continue;
        };
        let Some((weight, axis)) = producer_weight(graph, node) else {
            continue;
        };
        let norms = channel_norms(weight, axis);
        let scale = batch_norm_scale(graph, node, norms.len());
        for (c, s) in score.iter_mut().enumerate() {
            *s += norms.get(c).copied().unwrap_or(0.0) * scale.get(c).copied().unwrap_or(1.0);
        }
    }
    let mut order: Vec<usize> = (0..group.channels).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]).then(a.cmp(&b)));
    order
}

/// How many of `channels` to keep when removing the fraction `s` of them: the nearest
/// multiple of 4 to `channels · (1 - s)`, at least 4 and at most `channels`. A group of
/// 4 channels or fewer, or an `s` that is not above 0, keeps all.
pub fn keep_count(channels: usize, s: f64) -> usize {
    if channels <= 4 || s.is_nan() || s <= 0.0 {
        return channels;
    }
    let want = channels as f64 * (1.0 - s.min(1.0));
    let k = ((want / 4.0).round() as usize).saturating_mul(4);
    let k = if k > channels { channels / 4 * 4 } else { k };
    k.max(4)
}

/// `graph` with each group of `cuts` reduced to the listed channels (strictly increasing
/// indices below the group's channel count): a smaller dense graph with the same ports,
/// in canonical form. `Err` when a group is not one of `graph`'s prunable groups, is
/// listed twice, or its list does not fit it.
pub fn prune(graph: &Graph, cuts: &[(&ChannelGroup, Vec<usize>)]) -> Result<Graph, String> {
    let mut a = Analysis::walk(graph);
    let found = a.groups(graph);
    let mut kept: HashMap<usize, Vec<usize>> = HashMap::new();
    for (group, keep) in cuts {
        let Some(&(root, _)) = found.iter().find(|(_, g)| g == *group) else {
            return Err(format!(
                "channel group '{}' is not a prunable group of this graph",
                group.name
            ));
        };
        if keep.is_empty() || keep.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!(
                "channel group '{}': the kept channels must be a non-empty increasing list",
                group.name
            ));
        }
        if let Some(&c) = keep.iter().find(|&&c| c >= group.channels) {
            return Err(format!(
                "channel group '{}' has {} channels, channel {c} cannot be kept",
                group.name, group.channels
            ));
        }
        if kept.insert(root, keep.clone()).is_some() {
            return Err(format!("channel group '{}' is cut twice", group.name));
        }
    }
    a.apply(graph, &kept)
}

/// Twice the multiply-adds of `graph`'s convolutions, transposed convolutions, matrix
/// products (sparse ones by the weights they store) and attention (fused ones counted
/// by their anchor): its FLOPs.
pub fn flops(graph: &Graph) -> u64 {
    graph
        .nodes
        .iter()
        .map(|(_, node)| {
            let types: Vec<&TensorType> = node.inputs.iter().map(|&v| graph.ty(v)).collect();
            match node.outputs.first() {
                Some(&out) => op_flops(&node.op, &types, graph.ty(out)),
                None => 0,
            }
        })
        .fold(0u64, u64::saturating_add)
}

fn op_flops(op: &Op, inputs: &[&TensorType], out: &TensorType) -> u64 {
    let dims = |i: usize| inputs.get(i).map_or(&[][..], |t| t.shape.dims());
    let prod = |d: &[usize]| d.iter().fold(1u64, |p, &x| p.saturating_mul(x as u64));
    let out_n = prod(out.shape.dims());
    let macs = match op {
        // Each result element sums (C_in / group) · kernel products: w's dims after the first.
        Op::Conv(_) | Op::ConvInteger(_) => {
            out_n.saturating_mul(prod(dims(1).get(1..).unwrap_or(&[])))
        }
        // Each input element is multiplied into (C_out / group) · kernel results.
        Op::ConvTranspose(_) => prod(dims(0)).saturating_mul(prod(dims(1).get(1..).unwrap_or(&[]))),
        Op::MatMul | Op::MatMulInteger => {
            out_n.saturating_mul(dims(0).last().copied().unwrap_or(0) as u64)
        }
        // q · kt ([.., S, T] results of D products) and p · v ([.., S, E] of T products).
        Op::Attention { .. } => {
            let d = dims(0).last().copied().unwrap_or(0) as u64;
            let t = dims(1).last().copied().unwrap_or(0) as u64;
            let e = out.shape.dims().last().copied().unwrap_or(0) as u64;
            let rows = out_n.checked_div(e).unwrap_or(0);
            rows.saturating_mul(t).saturating_mul(d.saturating_add(e))
        }
        // Each stored weight (blocks' padding included) multiplies into every row of a.
        Op::SparseMatMul { n, .. } | Op::SparseConv { n, .. } => out_n
            .checked_div(*n as u64)
            .unwrap_or(0)
            .saturating_mul(prod(dims(1))),
        Op::Fused { anchor, arity, .. } => {
            return op_flops(anchor, inputs.get(..*arity).unwrap_or(inputs), out)
        }
        _ => 0,
    };
    macs.saturating_mul(2)
}

/// A stretch of a channel axis: the `len` channels of space `space`, in order, each
/// `inner` consecutive entries long (more than 1 once a reshape has merged the channel
/// axis with the axes after it: `[N, C, H, W] → [N, C·H·W]`).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Seg {
    space: usize,
    len: usize,
    inner: usize,
}

/// The axis of a value that carries prunable channels, and whose channels lie there.
#[derive(Clone, Debug, PartialEq)]
struct Tag {
    axis: usize,
    segs: Vec<Seg>,
}

impl Tag {
    fn lens(&self) -> Vec<(usize, usize)> {
        self.segs.iter().map(|s| (s.len, s.inner)).collect()
    }

    /// One entry per channel: the axis is the channel axis itself.
    fn flat(&self) -> bool {
        self.segs.iter().all(|s| s.inner == 1)
    }
}

/// What cutting channels changes in one node.
#[derive(Debug)]
enum Change {
    /// Constant operand `operand` keeps, along `axis`, only the kept channels of `segs`.
    Slice {
        operand: usize,
        axis: usize,
        segs: Vec<Seg>,
    },
    /// The attribute that counts the channels of `segs` becomes the kept count: a
    /// depthwise conv's `group`, entry `index` of a reshape's shape or a slice's lens.
    Count { index: usize, segs: Vec<Seg> },
}

/// The walk's findings: the spaces, which are coupled (union-find) and unprunable, and
/// what cutting them changes in each node.
struct Analysis {
    /// Per space: its producer and channel count.
    spaces: Vec<(Handle<Node>, usize)>,
    parent: Vec<usize>,
    bad: Vec<bool>,
    changes: Vec<Vec<Change>>,
}

impl Analysis {
    fn walk(graph: &Graph) -> Analysis {
        let mut a = Analysis {
            spaces: Vec::new(),
            parent: Vec::new(),
            bad: Vec::new(),
            changes: (0..graph.nodes.len()).map(|_| Vec::new()).collect(),
        };
        let mut tags: Vec<Option<Tag>> = vec![None; graph.values.len()];
        for (h, node) in graph.nodes.iter() {
            let ins: Vec<Option<Tag>> = node
                .inputs
                .iter()
                .map(|v| tags[v.index()].clone())
                .collect();
            let outs = a.visit(graph, h, node, &ins);
            for (&v, t) in node.outputs.iter().zip(outs) {
                tags[v.index()] = t;
            }
        }
        for port in &graph.outputs {
            if let Some(t) = &tags[port.value.index()] {
                a.spoil(t);
            }
        }
        a
    }

    fn find(&mut self, mut s: usize) -> usize {
        while self.parent[s] != s {
            self.parent[s] = self.parent[self.parent[s]];
            s = self.parent[s];
        }
        s
    }

    fn union(&mut self, x: usize, y: usize) {
        let (rx, ry) = (self.find(x), self.find(y));
        if rx == ry {
            return;
        }
        let (lo, hi) = (rx.min(ry), rx.max(ry));
        self.parent[hi] = lo;
        self.bad[lo] |= self.bad[hi] || self.spaces[x].1 != self.spaces[y].1;
    }

    /// Marks every space on `tag`'s axis unprunable.
    fn spoil(&mut self, tag: &Tag) {
        for s in &tag.segs {
            let r = self.find(s.space);
            self.bad[r] = true;
        }
    }

    fn spoil_all(&mut self, ins: &[Option<Tag>]) {
        for t in ins.iter().flatten() {
            self.spoil(t);
        }
    }

    fn space(&mut self, producer: Handle<Node>, channels: usize) -> Seg {
        let space = self.spaces.len();
        self.spaces.push((producer, channels));
        self.parent.push(space);
        self.bad.push(false);
        Seg {
            space,
            len: channels,
            inner: 1,
        }
    }

    fn change(&mut self, h: Handle<Node>, c: Change) {
        self.changes[h.index()].push(c);
    }

    /// Records the changes of producer `h` (a conv, conv-transpose or matmul with
    /// constant weights): its weights (operand 1) lose the input channels `input`
    /// carries, along `in_axis` — when that tag lies on axis `tag_axis` (and is one flat
    /// run of channels, if `flat`), else the tag is spoiled — and its `channels` output
    /// channels become a new space, cut along `out_axis` and, when `bias`, in operand 2.
    fn producer(
        &mut self,
        h: Handle<Node>,
        input: &Option<Tag>,
        (tag_axis, flat): (usize, bool),
        (in_axis, out_axis): (usize, usize),
        channels: usize,
        bias: bool,
    ) -> Seg {
        if let Some(t) = input {
            if t.axis != tag_axis || (flat && !t.flat()) {
                self.spoil(t);
            } else {
                let segs = t.segs.clone();
                self.change(
                    h,
                    Change::Slice {
                        operand: 1,
                        axis: in_axis,
                        segs,
                    },
                );
            }
        }
        let seg = self.space(h, channels);
        self.change(
            h,
            Change::Slice {
                operand: 1,
                axis: out_axis,
                segs: vec![seg],
            },
        );
        if bias {
            self.change(
                h,
                Change::Slice {
                    operand: 2,
                    axis: 0,
                    segs: vec![seg],
                },
            );
        }
        seg
    }

    /// The tags of `node`'s results, given its operands' tags; records the node's changes.
    fn visit(
        &mut self,
        graph: &Graph,
        h: Handle<Node>,
        node: &Node,
        ins: &[Option<Tag>],
    ) -> Vec<Option<Tag>> {
        let n_out = node.outputs.len();
        let none = vec![None; n_out];
        let dims = |i: usize| {
            node.inputs
                .get(i)
                .map_or(&[][..], |&v| graph.ty(v).shape.dims())
        };
        let constant = |i: usize| node.inputs.get(i).and_then(|&v| graph.constant(v));
        let tag0 = ins.first().cloned().flatten();
        let only = |t: Option<Tag>| {
            let mut v = vec![None; n_out];
            if let Some(first) = v.first_mut() {
                *first = t;
            }
            v
        };
        match &node.op {
            Op::Conv(attrs) => {
                let (Some(w), [_, c_in, ..]) = (constant(1), dims(0)) else {
                    self.spoil_all(ins);
                    return none;
                };
                let (c_in, wd) = (*c_in, w.shape().dims());
                let Some(&c_out) = wd.first() else {
                    self.spoil_all(ins);
                    return none;
                };
                let bias_const = node.inputs.len() < 3 || constant(2).is_some();
                if attrs.group == 1 && bias_const && ins.iter().skip(1).all(Option::is_none) {
                    let bias = node.inputs.len() > 2;
                    let seg = self.producer(h, &tag0, (1, true), (1, 0), c_out, bias);
                    return only(Some(Tag {
                        axis: 1,
                        segs: vec![seg],
                    }));
                }
                let depthwise =
                    attrs.group == c_in && wd.first() == Some(&c_in) && wd.get(1) == Some(&1);
                match tag0 {
                    Some(t)
                        if depthwise
                            && bias_const
                            && t.axis == 1
                            && t.flat()
                            && ins.iter().skip(1).all(Option::is_none) =>
                    {
                        for operand in 1..node.inputs.len() {
                            let segs = t.segs.clone();
                            self.change(
                                h,
                                Change::Slice {
                                    operand,
                                    axis: 0,
                                    segs,
                                },
                            );
                        }
                        self.change(
                            h,
                            Change::Count {
                                index: 0,
                                segs: t.segs.clone(),
                            },
                        );
                        only(Some(t))
                    }
                    _ => {
                        // A grouped conv (or one reading channels as its weight) is a barrier.
                        self.spoil_all(ins);
                        none
                    }
                }
            }
            Op::ConvTranspose(attrs) => {
                let bias_const = node.inputs.len() < 3 || constant(2).is_some();
                match constant(1) {
                    Some(w)
                        if attrs.group == 1
                            && bias_const
                            && ins.iter().skip(1).all(Option::is_none)
                            && w.shape().rank() >= 2 =>
                    {
                        let (c_out, bias) = (w.shape().dims()[1], node.inputs.len() > 2);
                        let seg = self.producer(h, &tag0, (1, true), (0, 1), c_out, bias);
                        only(Some(Tag {
                            axis: 1,
                            segs: vec![seg],
                        }))
                    }
                    _ => {
                        self.spoil_all(ins);
                        none
                    }
                }
            }
            Op::MatMul => {
                let (a_rank, b) = (dims(0).len(), constant(1));
                match b {
                    Some(b)
                        if b.shape().rank() >= 2
                            && constant(0).is_none()
                            && ins.get(1).is_some_and(Option::is_none) =>
                    {
                        let rank = b.shape().rank();
                        let n = b.shape().dims()[rank - 1];
                        // a's last axis: whole channels or blocks of rows (a flattened map).
                        let tag_axis = a_rank.saturating_sub(1);
                        let seg = self.producer(
                            h,
                            &tag0,
                            (tag_axis, false),
                            (rank - 2, rank - 1),
                            n,
                            false,
                        );
                        let out_rank = node
                            .outputs
                            .first()
                            .map_or(0, |&y| graph.ty(y).shape.rank());
                        only(Some(Tag {
                            axis: out_rank.saturating_sub(1),
                            segs: vec![seg],
                        }))
                    }
                    _ => {
                        self.spoil_all(ins);
                        none
                    }
                }
            }
            _ if ins.iter().all(Option::is_none) => none,
            Op::BatchNorm { .. } | Op::InstanceNorm { .. } => match tag0 {
                Some(t)
                    if t.axis == 1
                        && t.flat()
                        && (1..node.inputs.len()).all(|i| {
                            constant(i).is_some() && ins[i].is_none() && dims(i).len() == 1
                        }) =>
                {
                    for operand in 1..node.inputs.len() {
                        let segs = t.segs.clone();
                        self.change(
                            h,
                            Change::Slice {
                                operand,
                                axis: 0,
                                segs,
                            },
                        );
                    }
                    only(Some(t))
                }
                _ => {
                    self.spoil_all(ins);
                    none
                }
            },
            Op::Unary(_) | Op::Cast { .. } | Op::Identity => only(tag0),
            Op::Binary(_) | Op::Where => only(self.elementwise(graph, h, node, ins)),
            Op::MaxPool(_) | Op::AveragePool(_) => match tag0 {
                Some(t) if t.axis < 2 && n_out == 1 => only(Some(t)),
                _ => {
                    self.spoil_all(ins);
                    none
                }
            },
            Op::Reduce { axes, keepdims, .. } => match tag0 {
                Some(t) if !axes.contains(&t.axis) => {
                    let axis = if *keepdims {
                        t.axis
                    } else {
                        t.axis - axes.iter().filter(|&&a| a < t.axis).count()
                    };
                    only(Some(Tag { axis, segs: t.segs }))
                }
                _ => {
                    self.spoil_all(ins);
                    none
                }
            },
            Op::Softmax { axis } | Op::LogSoftmax { axis } => match tag0 {
                Some(t) if t.axis != *axis => only(Some(t)),
                _ => {
                    self.spoil_all(ins);
                    none
                }
            },
            Op::Transpose { perm } => {
                match tag0.and_then(|t| Some((perm.iter().position(|&p| p == t.axis)?, t))) {
                    Some((axis, t)) => only(Some(Tag { axis, segs: t.segs })),
                    None => {
                        self.spoil_all(ins);
                        none
                    }
                }
            }
            Op::Reshape { shape } => {
                let old = dims(0);
                match tag0.and_then(|t| Some((kept_whole(old, t.axis, shape)?, t))) {
                    Some(((j, m), t)) => {
                        let segs: Vec<Seg> = t
                            .segs
                            .iter()
                            .map(|s| Seg {
                                inner: s.inner * m,
                                ..*s
                            })
                            .collect();
                        self.change(
                            h,
                            Change::Count {
                                index: j,
                                segs: segs.clone(),
                            },
                        );
                        only(Some(Tag { axis: j, segs }))
                    }
                    _ => {
                        self.spoil_all(ins);
                        none
                    }
                }
            }
            Op::Slice {
                starts,
                steps,
                lens,
            } => match tag0 {
                Some(t)
                    if starts.get(t.axis) == Some(&0)
                        && steps.get(t.axis) == Some(&1)
                        && lens.get(t.axis) == dims(0).get(t.axis) =>
                {
                    self.change(
                        h,
                        Change::Count {
                            index: t.axis,
                            segs: t.segs.clone(),
                        },
                    );
                    only(Some(t))
                }
                _ => {
                    self.spoil_all(ins);
                    none
                }
            },
            Op::Pad { pads, .. } => {
                let rank = dims(0).len();
                match tag0 {
                    Some(t)
                        if ins.iter().skip(1).all(Option::is_none)
                            && pads.get(t.axis) == Some(&0)
                            && pads.get(rank + t.axis) == Some(&0) =>
                    {
                        only(Some(t))
                    }
                    _ => {
                        self.spoil_all(ins);
                        none
                    }
                }
            }
            Op::Split { axis, .. } => match tag0 {
                Some(t) if t.axis != *axis => vec![Some(t); n_out],
                _ => {
                    self.spoil_all(ins);
                    none
                }
            },
            Op::Concat { axis } => only(self.concat(graph, h, node, *axis, ins)),
            // Resizing other axes leaves each channel to itself when the channel axis
            // keeps its size at scale 1 (every coordinate mode but a crop maps it onto itself).
            Op::Resize(r) => match tag0 {
                Some(t)
                    if r.coord != CoordTransform::TfCropAndResize
                        && r.sizes.get(t.axis) == dims(0).get(t.axis)
                        && r.scales.get(t.axis).is_none_or(|&s| s == 1.0)
                        && ins.iter().skip(1).all(Option::is_none) =>
                {
                    self.change(
                        h,
                        Change::Count {
                            index: t.axis,
                            segs: t.segs.clone(),
                        },
                    );
                    only(Some(t))
                }
                _ => {
                    self.spoil_all(ins);
                    none
                }
            },
            _ => {
                self.spoil_all(ins);
                none
            }
        }
    }

    /// The result tag of an element-wise op (numpy broadcasting): tagged operands must
    /// meet on one result axis (their spaces are coupled), constants that span it are
    /// sliced with it, and other operands must broadcast along it.
    fn elementwise(
        &mut self,
        graph: &Graph,
        h: Handle<Node>,
        node: &Node,
        ins: &[Option<Tag>],
    ) -> Option<Tag> {
        let out = graph.ty(*node.outputs.first()?).shape.dims().to_vec();
        let offset = |i: usize| out.len() - graph.ty(node.inputs[i]).shape.rank();
        let mut first: Option<(usize, Tag)> = None;
        let mut ok = true;
        for (i, t) in ins.iter().enumerate() {
            let Some(t) = t else { continue };
            let axis = t.axis + offset(i);
            let full = graph.ty(node.inputs[i]).shape.dims().get(t.axis) == out.get(axis);
            match &first {
                _ if !full => ok = false,
                None => first = Some((axis, t.clone())),
                Some((a, f)) if *a == axis && f.lens() == t.lens() => {
                    let pairs: Vec<(usize, usize)> = f
                        .segs
                        .iter()
                        .zip(&t.segs)
                        .map(|(x, y)| (x.space, y.space))
                        .collect();
                    for (x, y) in pairs {
                        self.union(x, y);
                    }
                }
                Some(_) => ok = false,
            }
        }
        let (axis, tag) = first?;
        let mut slices = Vec::new();
        for (i, t) in ins.iter().enumerate() {
            if t.is_some() || axis < offset(i) {
                continue;
            }
            let local = axis - offset(i);
            if graph.ty(node.inputs[i]).shape.dims().get(local) == Some(&1) {
                continue;
            }
            if graph.constant(node.inputs[i]).is_some() {
                slices.push(Change::Slice {
                    operand: i,
                    axis: local,
                    segs: tag.segs.clone(),
                });
            } else {
                ok = false;
            }
        }
        if !ok {
            self.spoil_all(ins);
            return None;
        }
        for c in slices {
            self.change(h, c);
        }
        Some(Tag {
            axis,
            segs: tag.segs,
        })
    }

    /// The result tag of a concat: along the channel axis its operands' spaces lie side
    /// by side; along another axis it is element-wise (constants sliced with it).
    fn concat(
        &mut self,
        graph: &Graph,
        h: Handle<Node>,
        node: &Node,
        axis: usize,
        ins: &[Option<Tag>],
    ) -> Option<Tag> {
        let along = ins.iter().flatten().any(|t| t.axis == axis);
        if !along {
            return self.elementwise(graph, h, node, ins);
        }
        if ins
            .iter()
            .any(|t| t.as_ref().is_none_or(|t| t.axis != axis))
        {
            self.spoil_all(ins);
            return None;
        }
        let segs = ins
            .iter()
            .flatten()
            .flat_map(|t| t.segs.iter().copied())
            .collect();
        Some(Tag { axis, segs })
    }

    /// The prunable groups: coupled spaces that nothing spoiled, with more than 4
    /// channels, by root, in the order of their first producers.
    fn groups(&mut self, graph: &Graph) -> Vec<(usize, ChannelGroup)> {
        let mut by_root: Vec<(usize, Vec<usize>)> = Vec::new();
        for s in 0..self.spaces.len() {
            let r = self.find(s);
            if self.bad[r] || self.spaces[s].1 <= 4 {
                continue;
            }
            match by_root.iter_mut().find(|(root, _)| *root == r) {
                Some((_, members)) => members.push(s),
                None => by_root.push((r, vec![s])),
            }
        }
        by_root
            .into_iter()
            .map(|(root, members)| {
                let nodes: Vec<Handle<Node>> = members.iter().map(|&s| self.spaces[s].0).collect();
                let producers: Vec<String> =
                    nodes.iter().map(|&n| crate::node_label(graph, n)).collect();
                let group = ChannelGroup {
                    name: producers[0].clone(),
                    channels: self.spaces[members[0]].1,
                    producers,
                    nodes,
                };
                (root, group)
            })
            .collect()
    }

    /// The kept indices along an axis laid out as `segs`, or `None` when nothing on it
    /// is cut.
    fn kept(&mut self, segs: &[Seg], kept: &HashMap<usize, Vec<usize>>) -> Option<Vec<usize>> {
        let roots: Vec<usize> = segs.iter().map(|s| self.find(s.space)).collect();
        if !roots.iter().any(|r| kept.contains_key(r)) {
            return None;
        }
        let mut out = Vec::new();
        let mut offset = 0;
        for (s, r) in segs.iter().zip(roots) {
            match kept.get(&r) {
                Some(k) => {
                    for &c in k {
                        let start = offset + c * s.inner;
                        out.extend(start..start + s.inner);
                    }
                }
                None => out.extend(offset..offset + s.len * s.inner),
            }
            offset += s.len * s.inner;
        }
        Some(out)
    }

    /// `graph` with the channels not in `kept` (per group root) removed.
    fn apply(&mut self, graph: &Graph, kept: &HashMap<usize, Vec<usize>>) -> Result<Graph, String> {
        let mut copy = Copy::start(graph, |_| true);
        let changes = std::mem::take(&mut self.changes);
        for (h, node) in graph.nodes.iter() {
            let name = crate::node_label(graph, h);
            let mut op = node.op.clone();
            let mut sliced: HashMap<usize, Tensor> = HashMap::new();
            for change in &changes[h.index()] {
                match change {
                    Change::Slice {
                        operand,
                        axis,
                        segs,
                    } => {
                        let Some(keep) = self.kept(segs, kept) else {
                            continue;
                        };
                        let current = match sliced.remove(operand) {
                            Some(t) => t,
                            None => node
                                .inputs
                                .get(*operand)
                                .and_then(|&v| graph.constant(v))
                                .ok_or_else(|| {
                                    format!("node '{name}': operand {operand} is not a constant")
                                })?
                                .clone(),
                        };
                        let t = take(&current, *axis, &keep)
                            .map_err(|e| format!("node '{name}': {e}"))?;
                        sliced.insert(*operand, t);
                    }
                    Change::Count { index, segs } => {
                        let Some(keep) = self.kept(segs, kept) else {
                            continue;
                        };
                        let n = keep.len();
                        match &mut op {
                            Op::Conv(attrs) => attrs.group = n,
                            Op::Reshape { shape } => set(shape, *index, n),
                            Op::Slice { lens, .. } => set(lens, *index, n),
                            Op::Resize(r) => set(&mut r.sizes, *index, n),
                            _ => {}
                        }
                    }
                }
            }
            let mut inputs = Vec::with_capacity(node.inputs.len());
            for (i, &v) in node.inputs.iter().enumerate() {
                let new = match sliced.remove(&i) {
                    Some(t) => copy.out.add_const(graph.values[v].name.clone(), t),
                    None => copy.value(v, &name)?,
                };
                inputs.push(new);
            }
            copy.node(node, op, &inputs)?;
        }
        let out = copy.finish()?;
        for (new, old) in out.outputs.iter().zip(&graph.outputs) {
            if out.ty(new.value) != graph.ty(old.value) {
                return Err(format!("output '{}' would change type", old.name));
            }
        }
        kiln_ir::verify::verify(&out).map_err(|e| e.to_string())?;
        Ok(out)
    }
}

fn set(v: &mut [usize], index: usize, n: usize) {
    if let Some(x) = v.get_mut(index) {
        *x = n;
    }
}

/// Where a reshape from `old` to `new` puts axis `axis` of `old` whole, as the leading
/// part of axis `j` of `new` that also holds the `m` entries of the axes after it (`m`
/// = 1: the axis alone, as `[N, C, 1, 1] → [N, C]`): `(j, m)`, or `None` when the
/// reshape splits it or merges it with the axes before.
fn kept_whole(old: &[usize], axis: usize, new: &[usize]) -> Option<(usize, usize)> {
    let before: usize = old.get(..axis)?.iter().product();
    let len = *old.get(axis)?;
    let mut prefix = 1usize;
    for (j, &d) in new.iter().enumerate() {
        if prefix == before && len > 0 && d % len == 0 {
            let m = d / len;
            let mut after = 1usize;
            // m must be the product of the axes right after `axis`.
            for &x in std::iter::once(&1).chain(&old[axis + 1..]) {
                after = after.saturating_mul(x);
                if after == m {
                    return Some((j, m));
                }
                if after > m {
                    break;
                }
            }
        }
        prefix = prefix.saturating_mul(d);
        if prefix > before {
            break;
        }
    }
    None
}

/// `t` with only the entries `keep` along `axis`.
fn take(t: &Tensor, axis: usize, keep: &[usize]) -> Result<Tensor, String> {
    let mut dims = t.shape().dims().to_vec();
    let Some(d) = dims.get_mut(axis) else {
        return Err(format!(
            "a constant of rank {} has no axis {axis}",
            t.shape().rank()
        ));
    };
    if keep.iter().any(|&k| k >= *d) {
        return Err(format!("a kept channel is beyond the {d} of axis {axis}"));
    }
    *d = keep.len();
    if t.is_splat() {
        return Tensor::splat(dims, t.stored().clone()).map_err(|e| e.to_string());
    }
    let idx: Vec<i32> = keep
        .iter()
        .map(|&k| i32::try_from(k))
        .collect::<Result<_, _>>()
        .map_err(|_| "a channel index beyond i32".to_string())?;
    let idx = Tensor::from_i32(vec![keep.len()], idx).map_err(|e| e.to_string())?;
    let op = Op::Gather { axis };
    let ty = infer::infer(&op, &[&t.ty(), &idx.ty()]).map_err(|e| e.to_string())?;
    let mut r = interp::eval_op(&op, &[t, &idx], &ty)?;
    r.pop().ok_or_else(|| "gather gave no result".to_string())
}

/// A producer's constant weight and the axis of its output channels.
fn producer_weight<'g>(graph: &'g Graph, node: &Node) -> Option<(&'g Tensor, usize)> {
    let w = graph.constant(*node.inputs.get(1)?)?;
    let axis = match node.op {
        Op::Conv(_) => 0,
        Op::ConvTranspose(_) => 1,
        Op::MatMul => w.shape().rank().checked_sub(1)?,
        _ => return None,
    };
    Some((w, axis))
}

/// The L2 norm of each slice of `t` along `axis`.
fn channel_norms(t: &Tensor, axis: usize) -> Vec<f64> {
    let dims = t.shape().dims();
    let Some(&n) = dims.get(axis) else {
        return Vec::new();
    };
    let inner: usize = dims[axis + 1..].iter().product();
    let mut sums = vec![0.0f64; n];
    for (i, x) in t.to_f64_vec().into_iter().enumerate() {
        if let Some(s) = sums.get_mut((i / inner.max(1)) % n) {
            *s += x * x;
        }
    }
    sums.into_iter().map(f64::sqrt).collect()
}

/// |gamma| / sqrt(var + eps) of the batch norm that alone reads `node`'s result (all 1
/// without one).
fn batch_norm_scale(graph: &Graph, node: &Node, channels: usize) -> Vec<f64> {
    let ones = vec![1.0; channels];
    let Some(&y) = node.outputs.first() else {
        return ones;
    };
    if graph.use_counts()[y.index()] != 1 {
        return ones;
    }
    let bn = graph.nodes.iter().find_map(|(_, n)| match n.op {
        Op::BatchNorm { epsilon } if n.inputs.first() == Some(&y) => Some((n, epsilon)),
        _ => None,
    });
    let Some((bn, eps)) = bn else {
        return ones;
    };
    let (Some(gamma), Some(var)) = (
        bn.inputs.get(1).and_then(|&v| graph.constant(v)),
        bn.inputs.get(4).and_then(|&v| graph.constant(v)),
    ) else {
        return ones;
    };
    let (gamma, var) = (gamma.to_f64_vec(), var.to_f64_vec());
    if gamma.len() != channels || var.len() != channels {
        return ones;
    }
    gamma
        .iter()
        .zip(&var)
        .map(|(g, v)| g.abs() / (v + eps as f64).sqrt())
        .collect()
}

#[cfg(test)]
#[path = "channels_tests.rs"]
mod tests;
