//! WGSL code generation: lowers an optimized graph to a kernel plan (the GPU-path issue builds it).
