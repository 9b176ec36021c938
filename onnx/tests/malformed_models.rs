//! Malformed models never panic the importer: byte-level and structural mutations of
//! real node-test models (and of hand-built ones, so the test means something without
//! the generated node tests) decode and import to `Ok` or `Err`, never a panic.

mod common;

use common::*;
use kiln_ir::Tensor;
use kiln_onnx::proto::tensor_shape_proto::dimension;
use kiln_onnx::proto::{
    attr_type, data_type, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto,
};
use kiln_onnx::{decode_tensor, import, ImportOptions, Model};
use prost::Message;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Node tests whose models exercise most lowerings (shape-like operands, attributes,
/// constants, loops).
const MODELS: &[&str] = &[
    "test_conv_with_strides_padding",
    "test_convtranspose_output_shape",
    "test_reshape_reordered_all_dims",
    "test_slice",
    "test_resize_upsample_sizes_nearest",
    "test_resize_downsample_scales_linear",
    "test_range_float_type_positive_delta_expanded",
    "test_range_int32_type_negative_delta_expanded",
    "test_constantofshape_int_zeros",
    "test_constant_pad",
    "test_split_equal_parts_1d_opset18",
    "test_tile",
    "test_expand_dim_changed",
    "test_gather_0",
    "test_maxpool_2d_pads",
    "test_averagepool_2d_same_upper",
    "test_layer_normalization_4d_axis0",
    "test_softmax_axis_0",
    "test_depthtospace_crd_mode_example",
    "test_spacetodepth",
    "test_gemm_all_attributes",
    "test_reduce_sum_keepdims_example",
    "test_batchnorm_epsilon_training_mode",
    "test_lrn",
    "test_flatten_axis0",
    "test_unsqueeze_two_axes",
    "test_transpose_all_permutations_0",
    "test_shape_start_1",
    "test_cast_FLOAT_to_FLOAT16",
    "test_dropout_default_mask_ratio",
    "test_attention_4d_gqa_with_past_and_present",
    "test_attention_3d_with_past_and_present_qk_matmul_softcap",
    "test_attention_4d_gqa_causal_nonpad_decode",
    "test_sce_mean_weight_ii_4d_log_prob",
    "test_nllloss_NCd1d2_with_weight_reduction_mean",
    "test_rms_normalization_3d_axis1_epsilon",
    "test_rotary_embedding_with_interleaved_rotary_dim",
    "test_swiglu_alpha",
    "test_mvn",
    "test_group_normalization_example",
    "test_reversesequence_batch",
    "test_center_crop_pad_crop_and_pad",
    "test_col2im_pads",
    "test_affine_grid_3d",
    "test_gridsample_bicubic",
];

/// Mutations per model (`KILN_FUZZ_MUTATIONS` overrides, with `KILN_FUZZ_SEED`, for
/// longer explorations).
const MUTATIONS: usize = 150;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Applies one to four byte edits (mostly overwrites, bit flips and boundary bytes,
/// which keep the protobuf framing; sometimes a deleted or inserted byte) and returns
/// the edited bytes and a description of the edits.
fn mutate_bytes(bytes: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut b = bytes.to_vec();
    let mut log = Vec::new();
    for _ in 0..1 + rng.below(4) {
        if b.is_empty() {
            break;
        }
        let at = rng.below(b.len());
        match rng.below(20) {
            0..=5 => {
                let v = rng.next() as u8;
                log.push(format!("set {at}={v:#04x}"));
                b[at] = v;
            }
            6..=11 => {
                let bit = rng.below(8);
                log.push(format!("flip {at}.{bit}"));
                b[at] ^= 1 << bit;
            }
            12..=17 => {
                let v = [0x00, 0x01, 0x7f, 0x80, 0xff][rng.below(5)];
                log.push(format!("set {at}={v:#04x}"));
                b[at] = v;
            }
            18 => {
                log.push(format!("delete {at}"));
                b.remove(at);
            }
            _ => {
                let v = rng.next() as u8;
                log.push(format!("insert {at}={v:#04x}"));
                b.insert(at, v);
            }
        }
    }
    (b, log.join(", "))
}

/// A random element of `v`.
fn pick<'a, T>(v: &'a mut [T], rng: &mut Rng) -> Option<&'a mut T> {
    let i = rng.below(v.len());
    v.get_mut(i)
}

/// Integers that break careless arithmetic.
const INTS: &[i64] = &[
    0,
    1,
    -1,
    2,
    -2,
    3,
    7,
    255,
    1 << 20,
    1 << 31,
    1 << 32,
    1 << 40,
    1 << 62,
    i64::MAX,
    i64::MIN,
    i32::MAX as i64,
    -(1 << 40),
];

const FLOATS: &[f32] = &[0.0, -1.0, 1e30, -1e30, f32::NAN, f32::INFINITY, 1e-30];

/// Calls `f` on every node of `g` and of its subgraphs (Loop bodies).
fn each_node(g: &mut GraphProto, f: &mut impl FnMut(&mut NodeProto)) {
    for n in &mut g.node {
        f(n);
        for a in &mut n.attribute {
            if let Some(body) = &mut a.g {
                each_node(body, f);
            }
        }
    }
}

/// One structural edit of a decoded model: an attribute, operand, op type,
/// initializer, declared input dim or opset set to a hostile value. Returns a
/// description, or `None` when the picked site does not exist.
fn mutate_proto(m: &mut ModelProto, rng: &mut Rng, ops: &[String]) -> Option<String> {
    let int = INTS[rng.below(INTS.len())];
    let g = m.graph.as_mut()?;
    let mut count = 0;
    each_node(g, &mut |_| count += 1);
    let target = rng.below(count);
    let kind = rng.below(14);
    if kind >= 10 {
        return match kind {
            10 => {
                let t = pick(&mut g.initializer, rng)?;
                match rng.below(4) {
                    0 => *pick(&mut t.dims, rng)? = int,
                    1 => t.data_type = rng.below(17) as i32,
                    2 => *pick(&mut t.int64_data, rng)? = int,
                    _ => {
                        t.raw_data.as_mut()?.pop();
                    }
                }
                Some(format!("initializer '{}' edited ({int})", t.name))
            }
            11 => {
                let vi = pick(&mut g.input, rng)?;
                let Some(type_proto::Value::TensorType(tt)) = vi.r#type.as_mut()?.value.as_mut()
                else {
                    return None;
                };
                let dims = &mut tt.shape.as_mut()?.dim;
                let d = pick(dims, rng)?;
                d.value = Some(if rng.below(4) == 0 {
                    dimension::Value::DimParam("q".into())
                } else {
                    dimension::Value::DimValue(int)
                });
                Some(format!("input '{}' dim = {int}", vi.name))
            }
            12 => {
                m.opset_import.first_mut()?.version = 1 + rng.below(30) as i64;
                Some("opset changed".into())
            }
            _ => {
                let out = g.output.pop()?;
                Some(format!("output '{}' removed", out.name))
            }
        };
    }
    let mut log = None;
    let mut seen = 0;
    let op = ops[rng.below(ops.len())].clone();
    let (pick, pick2) = (rng.next() as usize, rng.next() as usize);
    let float = FLOATS[pick2 % FLOATS.len()];
    each_node(g, &mut |n| {
        seen += 1;
        if seen - 1 != target {
            return;
        }
        let name = n.name.clone();
        log = match kind {
            0..=4 if !n.attribute.is_empty() => {
                let k = pick % n.attribute.len();
                let a = &mut n.attribute[k];
                match kind {
                    0 => a.i = int,
                    1 if !a.ints.is_empty() => {
                        let j = pick2 % a.ints.len();
                        a.ints[j] = int;
                    }
                    1 => a.ints.push(int),
                    2 => a.r#type = (pick2 % 9) as i32,
                    3 => a.f = float,
                    _ => {
                        n.attribute.remove(k);
                        return log = Some(format!("node '{name}': attribute #{k} removed"));
                    }
                }
                Some(format!(
                    "node '{name}': attribute '{}' edited ({int}, {float})",
                    a.name
                ))
            }
            5 if !n.input.is_empty() => {
                let k = pick % n.input.len();
                n.input[k] = ["", "bogus", "x"][pick2 % 3].to_string();
                Some(format!("node '{name}': input #{k} = '{}'", n.input[k]))
            }
            6 => {
                n.input.pop();
                Some(format!("node '{name}': last input removed"))
            }
            7 => {
                n.output.pop();
                Some(format!("node '{name}': last output removed"))
            }
            8 => {
                let old = std::mem::replace(&mut n.op_type, op.clone());
                Some(format!("node '{name}': {old} became {op}"))
            }
            _ => {
                n.attribute.push(AttributeProto {
                    name: [
                        "axis",
                        "axes",
                        "perm",
                        "group",
                        "blocksize",
                        "num_outputs",
                        "value",
                    ][pick % 7]
                        .into(),
                    r#type: [attr_type::INT, attr_type::INTS][pick2 % 2],
                    i: int,
                    ints: vec![int, 1],
                    ..Default::default()
                });
                Some(format!("node '{name}': attribute added ({int})"))
            }
        };
    });
    log
}

/// The op types of `models`, for op-swapping edits.
fn op_types(models: &[(String, Vec<u8>, BTreeMap<String, Tensor>)]) -> Vec<String> {
    let mut ops = std::collections::BTreeSet::new();
    for (_, bytes, _) in models {
        if let Ok(m) = ModelProto::decode(bytes.as_slice()) {
            let mut g = m.graph.unwrap_or_default();
            each_node(&mut g, &mut |n| {
                ops.insert(n.op_type.clone());
            });
        }
    }
    ops.into_iter().collect()
}

/// A byte-level or (as often) a structural mutation of a model.
fn mutate(bytes: &[u8], rng: &mut Rng, ops: &[String]) -> (Vec<u8>, String) {
    if rng.below(2) == 0 {
        return mutate_bytes(bytes, rng);
    }
    let Ok(mut m) = ModelProto::decode(bytes) else {
        return mutate_bytes(bytes, rng);
    };
    let mut log = Vec::new();
    for _ in 0..1 + rng.below(3) {
        log.extend(mutate_proto(&mut m, rng, ops));
    }
    (m.encode_to_vec(), log.join("; "))
}

/// What became of one (mutated) model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Undecodable,
    Rejected,
    Imported,
}

/// Decodes and imports `bytes` with and without the given input values; `Err` with a
/// message when either panics.
fn survives(bytes: &[u8], values: &BTreeMap<String, Tensor>) -> Result<Outcome, String> {
    catch_unwind(AssertUnwindSafe(|| {
        let Ok(model) = Model::decode(bytes) else {
            return Outcome::Undecodable;
        };
        let _ = model.inputs();
        let _ = model.outputs();
        let _ = import(&model, &ImportOptions::default());
        let opts = ImportOptions {
            shapes: BTreeMap::new(),
            values: values.clone(),
        };
        match import(&model, &opts) {
            Ok(_) => Outcome::Imported,
            Err(_) => Outcome::Rejected,
        }
    }))
    .map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "<non-string panic>".into())
    })
}

/// Mutates each `(label, bytes, values)` model and returns the panics found.
fn fuzz(
    models: &[(String, Vec<u8>, BTreeMap<String, Tensor>)],
    seed: u64,
) -> (BTreeMap<Outcome, usize>, Vec<String>) {
    let mut rng = Rng(seed);
    let ops = op_types(models);
    let mut panics = Vec::new();
    let mut outcomes = BTreeMap::new();
    for (label, bytes, values) in models {
        survives(bytes, values).unwrap_or_else(|p| panic!("{label} unmutated panics: {p}"));
        for i in 0..env_or("KILN_FUZZ_MUTATIONS", MUTATIONS as u64) {
            let (b, edits) = mutate(bytes, &mut rng, &ops);
            match survives(&b, values) {
                Ok(o) => *outcomes.entry(o).or_insert(0) += 1,
                Err(p) => panics.push(format!("{label} mutation #{i} ({edits}): {p}")),
            }
        }
    }
    (outcomes, panics)
}

fn node_tests_dir() -> Option<PathBuf> {
    kiln_testdata::data_dir("node", "malformed_models")
}

/// The model bytes and the test inputs (by model input name) of a node test.
fn node_test(dir: &Path) -> Option<(Vec<u8>, BTreeMap<String, Tensor>)> {
    let bytes = std::fs::read(dir.join("model.onnx")).ok()?;
    let model = Model::decode(&bytes).ok()?;
    let mut values = BTreeMap::new();
    for (i, info) in model.inputs().iter().enumerate() {
        let pb = dir.join(format!("test_data_set_0/input_{i}.pb"));
        let t = decode_tensor(&std::fs::read(pb).ok()?).ok()?;
        values.insert(info.name.clone(), t.tensor);
    }
    Some((bytes, values))
}

/// A Loop model (carried value, scan output, outer-scope read) and a Conv model.
fn hand_built() -> Vec<(String, Vec<u8>, BTreeMap<String, Tensor>)> {
    let body = GraphProto {
        name: "body".into(),
        node: vec![
            node("Add", &["acc", "step"], &["acc_out"], vec![]),
            node("Identity", &["cond"], &["cond_out"], vec![]),
            node("Mul", &["acc_out", "acc_out"], &["sq"], vec![]),
        ],
        input: vec![
            value_info("i", data_type::INT64, &[]),
            value_info("cond", data_type::BOOL, &[]),
            f32_input("acc", &[2]),
        ],
        output: vec![
            value_info("cond_out", data_type::BOOL, &[]),
            f32_input("acc_out", &[2]),
            f32_input("sq", &[2]),
        ],
        ..Default::default()
    };
    let looped = model(
        vec![node(
            "Loop",
            &["m", "", "x"],
            &["final", "squares"],
            vec![AttributeProto {
                name: "body".into(),
                r#type: attr_type::GRAPH,
                g: Some(body),
                ..Default::default()
            }],
        )],
        vec![f32_input("x", &[2])],
        vec![f32_input("final", &[2]), f32_input("squares", &[3, 2])],
        vec![
            i64_tensor("m", &[], &[3]),
            f32_tensor("step", &[2], &[1.0, 2.0]),
        ],
        13,
    );
    let conv = model(
        vec![node(
            "Conv",
            &["x", "w"],
            &["y"],
            vec![
                attr_ints("pads", &[1, 1, 1, 1]),
                attr_ints("strides", &[2, 2]),
            ],
        )],
        vec![f32_input("x", &[1, 1, 4, 4])],
        vec![f32_input("y", &[1, 1, 2, 2])],
        vec![f32_tensor("w", &[1, 1, 3, 3], &[0.5; 9])],
        13,
    );
    vec![
        ("hand-built Loop".into(), bytes(&looped), BTreeMap::new()),
        ("hand-built Conv".into(), bytes(&conv), BTreeMap::new()),
    ]
}

#[test]
fn mutated_models_import_or_fail_without_panicking() {
    std::panic::set_hook(Box::new(|_| {}));
    let mut models = hand_built();
    if let Some(root) = node_tests_dir() {
        for name in MODELS {
            let (bytes, values) = node_test(&root.join(name))
                .unwrap_or_else(|| panic!("node test {name} is missing or unreadable"));
            models.push((name.to_string(), bytes, values));
        }
    } else {
        eprintln!("node tests not generated; fuzzing hand-built models only");
    }
    let (outcomes, panics) = fuzz(&models, env_or("KILN_FUZZ_SEED", 0x6b69_6c6e_2d6f_6e78));
    let _ = std::panic::take_hook();
    eprintln!("outcomes: {outcomes:?}");
    assert!(
        panics.is_empty(),
        "{} mutations panicked (outcomes of the others: {outcomes:?}):\n{}",
        panics.len(),
        panics.join("\n")
    );
    // The mutations reach the importer, and some still import.
    let count = |o| outcomes.get(&o).copied().unwrap_or(0);
    assert!(
        count(Outcome::Rejected) > models.len() * MUTATIONS / 10,
        "{outcomes:?}"
    );
    assert!(
        count(Outcome::Imported) > models.len() * MUTATIONS / 10,
        "{outcomes:?}"
    );
}
