//! Hand-written WGSL kernel templates, one per kernel family (the GPU-path issue fills it).
