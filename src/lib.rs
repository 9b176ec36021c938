//! kiln: compiles ONNX models to GPU kernels. This facade ties the pipeline together.
