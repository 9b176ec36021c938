//! `insta` snapshots of the generated WGSL: every kernel of the plan of a few small
//! graphs (written as IR text), each headed by a comment with its op, workgroup size,
//! bindings and dispatches, after the graph the plan was built from. Every kernel is
//! validated with naga here too (the plan builder already does), so a snapshot never
//! holds a shader that does not compile.
//!
//! A changed snapshot fails the test; review it with `cargo insta review`, or accept
//! all with `INSTA_UPDATE=always` (never in CI, which sets `CI=true`).

use kiln::codegen::{Access, Limits};
use std::fmt::Write as _;

/// The plan of `text` (IR) at `opt_level`: the graph after the optimizer, then each
/// kernel's header and WGSL.
fn render(text: &str, opt_level: u8) -> String {
    let graph = kiln_ir::parse::parse(text).unwrap_or_else(|e| panic!("IR text: {e}"));
    let options = kiln::CompileOptions {
        opt_level,
        ..Default::default()
    };
    let graph = kiln::pipeline(&options)
        .and_then(|p| Ok(p.run(graph)?))
        .expect("optimize");
    let compiled = kiln::codegen::build_plan_with(
        &graph,
        &Limits::default(),
        &kiln::plan_options(
            opt_level,
            &Limits::default(),
            &kiln::DeviceProfile::default(),
        ),
    )
    .expect("build the plan");
    let plan = &compiled.plan;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// --opt {opt_level}: the graph the plan is built from"
    );
    for line in kiln_ir::print::print(&graph).lines() {
        let _ = writeln!(out, "// {line}");
    }
    for (i, kernel) in plan.kernels.iter().enumerate() {
        if let Err(e) = kiln::codegen::validate_wgsl(&kernel.wgsl) {
            panic!("kernel {i} '{}' does not validate: {e}", kernel.name);
        }
        let dispatches: Vec<String> = plan
            .dispatches
            .iter()
            .filter(|d| d.kernel == i)
            .map(|d| format!("{:?}", d.workgroups))
            .collect();
        let bindings: Vec<&str> = kernel
            .bindings
            .iter()
            .map(|a| match a {
                Access::Read => "read",
                Access::ReadWrite => "read_write",
            })
            .collect();
        let _ = writeln!(out);
        let _ = writeln!(out, "// kernel {i}: {} ({})", kernel.name, kernel.op);
        let _ = writeln!(
            out,
            "// entry point {}, workgroup size {:?}, {} bytes of workgroup memory",
            kernel.entry_point, kernel.workgroup_size, kernel.workgroup_storage_bytes
        );
        let _ = writeln!(out, "// bindings: {}", bindings.join(", "));
        let _ = writeln!(out, "// dispatches (workgroups): {}", dispatches.join(", "));
        out.push_str(&kernel.wgsl);
        if !kernel.wgsl.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// A binary op broadcasting `[3,1]` against `[2,3,4]`.
const BROADCAST_ADD: &str = r#"graph "broadcast_add" {
  input %v0 "a" : f32[2,3,4]
  input %v1 "b" : f32[3,1]
  %v2 "y" = add(%v0, %v1) : f32[2,3,4]
  output "y" = %v2
}
"#;

/// A padded 3x3 convolution followed by ReLU.
const CONV_RELU: &str = r#"graph "conv_relu" {
  input %v0 "x" : f32[1,2,5,5]
  input %v1 "w" : f32[3,2,3,3]
  %v2 = conv{strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1}(%v0, %v1) : f32[1,3,5,5]
  %v3 "y" = relu(%v2) : f32[1,3,5,5]
  output "y" = %v3
}
"#;

/// A mean over the last axis, kept.
const REDUCE_MEAN: &str = r#"graph "reduce_mean" {
  input %v0 "x" : f32[2,3,5]
  %v1 "y" = reduce_mean{axes=[2], keepdims=true}(%v0) : f32[2,3,1]
  output "y" = %v1
}
"#;

/// A softmax over the last axis.
const SOFTMAX: &str = r#"graph "softmax" {
  input %v0 "x" : f32[2,7]
  %v1 "y" = softmax{axis=1}(%v0) : f32[2,7]
  output "y" = %v1
}
"#;

/// MatMul, bias add and ReLU: one kernel with an epilogue at `--opt 2`.
const MATMUL_BIAS_RELU: &str = r#"graph "matmul_bias_relu" {
  input %v0 "x" : f32[4,8]
  input %v1 "w" : f32[8,3]
  input %v2 "bias" : f32[3]
  %v3 = matmul(%v0, %v1) : f32[4,3]
  %v4 = add(%v3, %v2) : f32[4,3]
  %v5 "y" = relu(%v4) : f32[4,3]
  output "y" = %v5
}
"#;

/// An element-wise chain: one `Elementwise` program at `--opt 2`.
const ELEMENTWISE_CHAIN: &str = r#"graph "elementwise_chain" {
  input %v0 "a" : f32[2,5]
  input %v1 "b" : f32[5]
  input %v2 "c" : f32[2,5]
  %v3 = add(%v0, %v1) : f32[2,5]
  %v4 = mul(%v3, %v2) : f32[2,5]
  %v5 = relu(%v4) : f32[2,5]
  %v6 "y" = sigmoid(%v5) : f32[2,5]
  output "y" = %v6
}
"#;

#[test]
fn broadcast_add() {
    insta::assert_snapshot!("broadcast_add_o0", render(BROADCAST_ADD, 0));
}

#[test]
fn conv_relu() {
    insta::assert_snapshot!("conv_relu_o0", render(CONV_RELU, 0));
    insta::assert_snapshot!("conv_relu_o2", render(CONV_RELU, 2));
}

#[test]
fn reduce_mean() {
    insta::assert_snapshot!("reduce_mean_o0", render(REDUCE_MEAN, 0));
}

#[test]
fn softmax() {
    insta::assert_snapshot!("softmax_o0", render(SOFTMAX, 0));
}

#[test]
fn matmul_bias_relu() {
    insta::assert_snapshot!("matmul_bias_relu_o0", render(MATMUL_BIAS_RELU, 0));
    insta::assert_snapshot!("matmul_bias_relu_o2", render(MATMUL_BIAS_RELU, 2));
}

#[test]
fn elementwise_chain() {
    insta::assert_snapshot!("elementwise_chain_o2", render(ELEMENTWISE_CHAIN, 2));
}

/// The snapshots show what they claim: `--opt 2` fuses each multi-op graph into one
/// kernel, `--opt 0` keeps one kernel per op.
#[test]
fn kernel_counts() {
    let kernels = |text: &str, opt_level: u8| {
        let graph = kiln_ir::parse::parse(text).unwrap();
        let options = kiln::CompileOptions {
            opt_level,
            ..Default::default()
        };
        let graph = kiln::pipeline(&options).unwrap().run(graph).unwrap();
        let compiled = kiln::codegen::build_plan_with(
            &graph,
            &Limits::default(),
            &kiln::plan_options(
                opt_level,
                &Limits::default(),
                &kiln::DeviceProfile::default(),
            ),
        )
        .unwrap();
        compiled.plan.dispatches.len()
    };
    assert_eq!(kernels(CONV_RELU, 0), 2);
    assert_eq!(kernels(CONV_RELU, 2), 1);
    assert_eq!(kernels(MATMUL_BIAS_RELU, 0), 3);
    assert_eq!(kernels(MATMUL_BIAS_RELU, 2), 1);
    assert_eq!(kernels(ELEMENTWISE_CHAIN, 0), 4);
    assert_eq!(kernels(ELEMENTWISE_CHAIN, 2), 1);
}
