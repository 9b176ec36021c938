//! The import driver: initializers, graph inputs (dims bound, shape-like inputs
//! specialised), the node list (lowered by [`crate::control::lower_nodes`]), outputs.

use crate::bf16;
use crate::builder::{checked_numel, Importer, Scope};
use crate::control::lower_nodes;
use crate::error::ImportError;
use crate::model::{tensor_type, Dim, Model};
use crate::proto::{data_type, GraphProto, ValueInfoProto};
use crate::specialise;
use crate::tensor_proto::{self, ir_dtype, Decoded};
use kiln_ir::{Graph, Tensor, TensorType, Wide};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The newest ai.onnx opset kiln knows.
pub const MAX_OPSET: i64 = 28;

/// How to bind a model's free parameters at import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Full dims per graph input name; binds its symbolic dims (and those of other
    /// inputs that share the symbol names).
    pub shapes: BTreeMap<String, Vec<usize>>,
    /// Given input data. An input whose values decide a shape (Reshape shape, Slice
    /// bounds, axes, pads, sizes, ...) becomes a constant and is removed from the
    /// graph's inputs; any other given input stays an input, its dims taken from
    /// the data. int64, uint64 and double data are given narrowed to i32, u32 and f32.
    pub values: BTreeMap<String, Tensor>,
}

/// Lowers a decoded model to a kiln graph with static shapes.
pub fn import(model: &Model, opts: &ImportOptions) -> Result<Graph, ImportError> {
    let g = model
        .proto
        .graph
        .as_ref()
        .ok_or_else(|| ImportError::Model("the model has no graph".into()))?;
    let mut imp = Importer::new(&g.name);
    for o in &model.proto.opset_import {
        let domain = if o.domain == "ai.onnx" {
            String::new()
        } else {
            o.domain.clone()
        };
        imp.opsets.insert(domain, o.version);
    }
    let opset = *imp
        .opsets
        .get("")
        .ok_or_else(|| ImportError::Model("the model imports no ai.onnx opset".into()))?;
    if !(1..=MAX_OPSET).contains(&opset) {
        return Err(ImportError::Model(format!(
            "ai.onnx opset {opset} is not supported (kiln supports up to {MAX_OPSET})"
        )));
    }
    for f in &model.proto.functions {
        imp.functions.insert((f.domain.clone(), f.name.clone()), f);
    }
    let mut scope = Scope::new();
    for t in &g.initializer {
        let v = match tensor_proto::decode(t, model.dir.as_deref())? {
            Decoded::Ir(tensor) => imp.graph.add_const(Some(t.name.clone()), tensor),
            Decoded::I64(k) => imp.add_known(Some(t.name.clone()), k)?,
        };
        if t.data_type == data_type::BFLOAT16 {
            bf16::mark(&mut imp, v, true);
        }
        scope.insert(t.name.clone(), v);
    }
    add_inputs(&mut imp, &mut scope, g, opset, opts)?;
    lower_nodes(&mut imp, &mut scope, &g.node, opset, 0)?;
    let mut output_names = HashSet::new();
    for out in &g.output {
        if !output_names.insert(out.name.as_str()) {
            return Err(ImportError::Model(format!(
                "graph output '{}' is declared twice",
                out.name
            )));
        }
        let v = *scope.get(&out.name).ok_or_else(|| {
            ImportError::Model(format!(
                "graph output '{}' is not computed by any node",
                out.name
            ))
        })?;
        let mut v = v;
        let wide = match tensor_type(out).and_then(|(elem, _)| ir_dtype(elem)) {
            // Converted back only when the graph computes the type standing for it.
            Some((dtype, wide)) if imp.graph.ty(v).dtype == dtype => wide,
            _ => Wide::No,
        };
        if wide == Wide::Bf16 {
            v = bf16::exact(&mut imp, v, &out.name)?;
        }
        imp.graph.add_output(out.name.clone(), v, wide);
    }
    add_extents(&mut imp)?;
    check_saturated(&imp)?;
    Ok(imp.graph)
}

/// Makes each data-dependent result that is a graph output cut to its count (a count
/// output after the model's outputs, and an [`kiln_ir::Extent`]); one that a node reads
/// is an error (one neither read nor output is dead and goes).
fn add_extents(imp: &mut Importer) -> Result<(), ImportError> {
    let dynamic = std::mem::take(&mut imp.dynamic);
    let g = &imp.graph;
    for d in &dynamic {
        if g.nodes.iter().any(|(_, n)| n.inputs.contains(&d.value)) {
            return Err(ImportError::Model(format!(
                "node '{}': its output's length depends on the data, which kiln supports only \
                 where that output is a graph output read by no other node",
                d.node
            )));
        }
    }
    let model = imp.graph.outputs.len();
    for d in &dynamic {
        for output in 0..model {
            if imp.graph.outputs[output].value != d.value {
                continue;
            }
            let name = format!("{}#count", imp.graph.outputs[output].name);
            let count = imp.graph.outputs.len();
            imp.graph.add_output(name, d.count, Wide::No);
            imp.graph.extents.push(kiln_ir::Extent {
                output,
                axis: d.axis,
                count,
            });
        }
    }
    Ok(())
}

/// Adds graph inputs (those that are not initializers): specialised to constants
/// when given and shape-like, real inputs with bound dims otherwise.
fn add_inputs(
    imp: &mut Importer,
    scope: &mut Scope,
    g: &GraphProto,
    opset: i64,
    opts: &ImportOptions,
) -> Result<(), ImportError> {
    let inputs: Vec<&ValueInfoProto> = g
        .input
        .iter()
        .filter(|v| !scope.contains_key(&v.name))
        .collect();
    let mut input_names = HashSet::new();
    if let Some(dup) = inputs.iter().find(|v| !input_names.insert(v.name.as_str())) {
        return Err(ImportError::Input {
            input: dup.name.clone(),
            reason: "the graph declares this input twice".into(),
        });
    }
    check_option_names(&inputs, opts)?;
    let needed = specialise::needed_values(&g.node, opset, &imp.functions);
    let mut symbols: HashMap<String, usize> = HashMap::new();
    for vi in &inputs {
        let given = opts
            .shapes
            .get(&vi.name)
            .cloned()
            .or_else(|| opts.values.get(&vi.name).map(|t| t.shape().dims().to_vec()));
        if let (Some(dims), Some((_, Some(declared)))) = (given, tensor_type(vi)) {
            for (d, &v) in declared.iter().zip(&dims) {
                if let Dim::Symbolic(s) = d {
                    symbols.entry(s.clone()).or_insert(v);
                }
            }
        }
    }
    for vi in inputs {
        let name = vi.name.as_str();
        let err = |reason: String| ImportError::Input {
            input: name.to_string(),
            reason,
        };
        let (elem, declared) =
            tensor_type(vi).ok_or_else(|| err("only tensor inputs are supported".into()))?;
        let (dtype, wide) = ir_dtype(elem).ok_or_else(|| {
            err(format!("dtype {} is not supported (kiln supports float, double, float16, bfloat16, int64, uint64, int32, uint32, int16, uint16, int8, uint8, bool and the 4-, 2- and 8-bit types)", data_type::name(elem)))
        })?;
        let given_value = opts.values.get(name);
        let dims = match opts
            .shapes
            .get(name)
            .map(Vec::as_slice)
            .or(given_value.map(|t| t.shape().dims()))
        {
            Some(dims) => check_given_dims(name, declared.as_deref(), dims)?,
            None => bind_dims(name, declared.as_deref(), &symbols)?,
        };
        if checked_numel(&dims).is_none() {
            return Err(err(format!(
                "dims {dims:?} are too large (kiln imports values of at most 2^40 elements)"
            )));
        }
        let ty = TensorType::new(dtype, dims);
        if let Some(t) = given_value {
            if t.ty() != ty {
                return Err(err(format!(
                    "given value is {} but the model declares {ty}",
                    t.ty()
                )));
            }
        }
        let v = match given_value {
            Some(t) if needed.contains(name) => {
                imp.graph.add_const(Some(name.to_string()), t.clone())
            }
            _ => imp.graph.add_input(name, ty, wide),
        };
        if wide == Wide::Bf16 {
            crate::bf16::mark(imp, v, true);
        }
        scope.insert(name.to_string(), v);
    }
    Ok(())
}

/// Fails when [`ImportOptions`] name something that is not a model input.
fn check_option_names(inputs: &[&ValueInfoProto], opts: &ImportOptions) -> Result<(), ImportError> {
    let names: Vec<&str> = inputs.iter().map(|v| v.name.as_str()).collect();
    let given = opts
        .shapes
        .keys()
        .map(|n| ("--shape", n))
        .chain(opts.values.keys().map(|n| ("--input", n)));
    for (flag, name) in given {
        if !names.contains(&name.as_str()) {
            return Err(ImportError::Model(format!(
                "{flag} names '{name}', which is not an input of the model (inputs: {})",
                names.join(", ")
            )));
        }
    }
    Ok(())
}

fn check_given_dims(
    name: &str,
    declared: Option<&[Dim]>,
    dims: &[usize],
) -> Result<Vec<usize>, ImportError> {
    if let Some(declared) = declared {
        if declared.len() != dims.len() {
            let want: Vec<String> = declared.iter().map(|d| d.to_string()).collect();
            return Err(ImportError::Input {
                input: name.to_string(),
                reason: format!(
                    "given dims {dims:?} have rank {} but the model declares rank {} ([{}])",
                    dims.len(),
                    declared.len(),
                    want.join(", ")
                ),
            });
        }
        let fixed_ok = declared
            .iter()
            .zip(dims)
            .all(|(d, &v)| !matches!(d, Dim::Fixed(f) if *f != v));
        if declared.len() != dims.len() || !fixed_ok {
            let want: Vec<String> = declared.iter().map(|d| d.to_string()).collect();
            return Err(ImportError::Input {
                input: name.to_string(),
                reason: format!(
                    "given dims {dims:?} do not fit the declared [{}]",
                    want.join(", ")
                ),
            });
        }
    }
    Ok(dims.to_vec())
}

fn bind_dims(
    name: &str,
    declared: Option<&[Dim]>,
    symbols: &HashMap<String, usize>,
) -> Result<Vec<usize>, ImportError> {
    let fix = format!("pass its dims with --shape {name}=DIMS (e.g. --shape {name}=1x3x224x224)");
    let declared = declared.ok_or_else(|| ImportError::Input {
        input: name.to_string(),
        reason: format!("the model declares no shape; {fix}"),
    })?;
    declared
        .iter()
        .enumerate()
        .map(|(axis, d)| match d {
            Dim::Fixed(v) => Ok(*v),
            Dim::Symbolic(s) if symbols.contains_key(s) => Ok(symbols[s]),
            _ if axis == 0 => Ok(1),
            _ => Err(ImportError::Input {
                input: name.to_string(),
                reason: format!("dim {axis} ('{d}') is not fixed; {fix}"),
            }),
        })
        .collect()
}

/// Fails when a constant whose int64 values were saturated to i32 is still read by
/// the part of the graph that computes the outputs.
fn check_saturated(imp: &Importer) -> Result<(), ImportError> {
    if imp.saturated.is_empty() {
        return Ok(());
    }
    let g = &imp.graph;
    let mut live = vec![false; g.values.len()];
    for p in &g.outputs {
        live[p.value.index()] = true;
    }
    let nodes: Vec<_> = g.nodes.iter().collect();
    for (_, node) in nodes.iter().rev() {
        if node.outputs.iter().any(|o| live[o.index()]) {
            for i in &node.inputs {
                live[i.index()] = true;
            }
        }
    }
    for (v, label) in &imp.saturated {
        if live[v.index()] {
            return Err(ImportError::tensor(
                label,
                "int64 values do not fit in i32 (kiln computes int64 as i32)",
            ));
        }
    }
    Ok(())
}
