//! The wgpu runtime that executes kernel bundles (the GPU-path issue builds it).
