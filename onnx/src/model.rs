//! A decoded ONNX model, its declared inputs and outputs, and `.pb` tensor files.

use crate::error::ImportError;
use crate::proto::{
    data_type, tensor_shape_proto::dimension, type_proto, ModelProto, TensorProto, ValueInfoProto,
};
use crate::tensor_proto;
use kiln_ir::Tensor;
use prost::Message;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// A decoded ONNX model. Decoding checks the protobuf only; [`crate::import`] checks
/// everything else.
#[derive(Clone, Debug)]
pub struct Model {
    /// The decoded protobuf.
    pub proto: ModelProto,
    /// The directory external data paths are relative to (set by [`Model::load`]).
    pub dir: Option<PathBuf>,
}

/// One dimension of a declared input or output shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    /// A fixed extent.
    Fixed(usize),
    /// A symbolic extent (`batch`, `N`), bound at import.
    Symbolic(String),
    /// Neither a value nor a name.
    Unknown,
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(d) => write!(f, "{d}"),
            Dim::Symbolic(s) => f.write_str(s),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

/// A declared graph input or output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputInfo {
    pub name: String,
    /// ONNX element type name: `float`, `float16`, `int64`, `int32`, `bool`, ...
    /// (`non-tensor` for sequence, map and optional types).
    pub dtype: String,
    /// Declared dims; `None` when the model declares no shape at all.
    pub dims: Option<Vec<Dim>>,
}

/// A graph output is described like an input.
pub type OutputInfo = InputInfo;

/// A tensor read from a TensorProto (`.pb`) file.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// The name stored in the file (may be empty).
    pub name: String,
    pub tensor: Tensor,
    /// The file holds int64, uint64 or double data (narrowed to i32, u32 or f32 in
    /// `tensor`).
    pub wide: kiln_ir::Wide,
}

impl Model {
    /// Decodes a model from bytes. External data cannot be resolved without a
    /// directory; use [`Model::load`] for such models.
    pub fn decode(bytes: &[u8]) -> Result<Model, ImportError> {
        let proto = ModelProto::decode(bytes).map_err(|e| ImportError::Decode(e.to_string()))?;
        let Some(graph) = &proto.graph else {
            return Err(ImportError::Decode(format!(
                "no graph in {} bytes",
                bytes.len()
            )));
        };
        if proto.ir_version <= 0 {
            return Err(ImportError::Decode(format!(
                "ir_version {} is not valid",
                proto.ir_version
            )));
        }
        if graph.output.is_empty() {
            return Err(ImportError::Decode("the graph declares no outputs".into()));
        }
        Ok(Model { proto, dir: None })
    }

    /// Reads and decodes a model file; external data is read relative to its directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Model, ImportError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| ImportError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut model = Model::decode(&bytes)?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        model.dir = Some(if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        });
        Ok(model)
    }

    /// The default-domain (`ai.onnx`) opset version the model imports.
    pub fn opset(&self) -> Option<i64> {
        self.proto
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
    }

    /// The inputs a caller provides: graph inputs that are not initializers.
    pub fn inputs(&self) -> Vec<InputInfo> {
        let Some(graph) = &self.proto.graph else {
            return Vec::new();
        };
        let inits: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        graph
            .input
            .iter()
            .filter(|v| !inits.contains(v.name.as_str()))
            .map(info)
            .collect()
    }

    /// The graph outputs.
    pub fn outputs(&self) -> Vec<OutputInfo> {
        self.proto
            .graph
            .as_ref()
            .map(|g| g.output.iter().map(info).collect())
            .unwrap_or_default()
    }
}

/// The tensor type of a value: element type and dims, or `None` when not a tensor.
pub(crate) fn tensor_type(v: &ValueInfoProto) -> Option<(i32, Option<Vec<Dim>>)> {
    let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref()?.value.as_ref() else {
        return None;
    };
    let dims = t.shape.as_ref().map(|s| {
        s.dim
            .iter()
            .map(|d| match &d.value {
                Some(dimension::Value::DimValue(v)) if *v >= 0 => Dim::Fixed(*v as usize),
                Some(dimension::Value::DimParam(p)) if !p.is_empty() => Dim::Symbolic(p.clone()),
                _ => Dim::Unknown,
            })
            .collect()
    });
    Some((t.elem_type, dims))
}

fn info(v: &ValueInfoProto) -> InputInfo {
    match tensor_type(v) {
        Some((elem, dims)) => InputInfo {
            name: v.name.clone(),
            dtype: data_type::name(elem).to_string(),
            dims,
        },
        None => InputInfo {
            name: v.name.clone(),
            dtype: "non-tensor".into(),
            dims: None,
        },
    }
}

/// Decodes a TensorProto (the `.pb` files of the ONNX test data). int64, uint64 and
/// double data are narrowed to i32, u32 and f32; a value that does not fit is an error.
pub fn decode_tensor(bytes: &[u8]) -> Result<NamedTensor, ImportError> {
    let proto = TensorProto::decode(bytes).map_err(|e| ImportError::Tensor {
        name: "<file>".into(),
        reason: format!("not a TensorProto: {e}"),
    })?;
    let wide = tensor_proto::ir_dtype(proto.data_type).map_or(kiln_ir::Wide::No, |(_, w)| w);
    let tensor = tensor_proto::decode(&proto, None)?.into_tensor(&proto.name)?;
    Ok(NamedTensor {
        name: proto.name,
        tensor,
        wide,
    })
}
