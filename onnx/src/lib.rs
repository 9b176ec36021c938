//! ONNX import: decodes models with `prost` and lowers them to kiln's IR.
