//! kiln's pass manager and canonicalization passes.
