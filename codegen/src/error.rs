//! Codegen errors: each names the node, value, kernel or port it is about (nodes as
//! `n3`, values as `%v3`, as the text IR and DOT output write them).

use crate::verify::PlanError;
use kiln_ir::{Handle, Node, Value};

/// Why a graph could not be lowered to kernels.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    /// A node the GPU path cannot compute (yet), or attributes it does not support.
    #[error("node n{} '{name}' ({op}): {reason}", node.index())]
    Node {
        node: Handle<Node>,
        /// The node's name in the model.
        name: String,
        op: &'static str,
        reason: String,
    },
    /// A tensor or dispatch of a node beyond what the device limits allow. `node` is
    /// `None` only from a lowering helper called outside a node's lowering: the
    /// dispatcher ([`crate::lower::lower_node`]) attributes every other one to its node.
    #[error("{}{reason}", about(node, name))]
    TooLarge {
        node: Option<Handle<Node>>,
        name: String,
        reason: String,
    },
    /// A node handed an operand or result placement its lowering does not honour (a
    /// kiln bug: the plan builder's layout decisions and the lowering disagree).
    #[error("internal: node n{} '{name}' ({op}) cannot honour its placement: {reason}", node.index())]
    Placement {
        node: Handle<Node>,
        name: String,
        op: &'static str,
        reason: String,
    },
    /// A narrow result ([`crate::lower::Placement::narrow`]) the kernels lowered for its
    /// node cannot store whole words of (the engine the product's shape takes owns
    /// single elements); the plan builder then stores it one word per element.
    #[error("internal: the kernels cannot store whole words of a narrow result: {0}")]
    WordStores(String),
    /// A template and the code filling it disagree (a kiln bug).
    #[error("internal: WGSL template: {0}")]
    Template(String),
    /// A kernel calls a math helper the helper library lacks (a kiln bug).
    #[error("internal: math helper '{0}' is not in the library")]
    MissingHelper(String),
    /// A value reached by the plan builder before any buffer holds it (a graph not in
    /// execution order).
    #[error("value %v{} has no buffer (graph not in execution order?)", value.index())]
    Unplaced { value: Handle<Value> },
    /// A graph output the builder placed in a slice of a buffer (a kiln bug: outputs
    /// own their buffers).
    #[error("internal: output '{port}' (%v{}) is a slice of a buffer", value.index())]
    OutputSlice { port: String, value: Handle<Value> },
    /// A generated shader naga rejects (a kiln bug).
    #[error("internal: kernel '{kernel}' does not validate: {message}")]
    Invalid { kernel: String, message: String },
    /// A built plan the plan verifier rejects (a kiln bug).
    #[error("internal: {0}")]
    Plan(#[from] PlanError),
}

/// `node n3 'name': ` for an attributed error, nothing otherwise.
fn about(node: &Option<Handle<Node>>, name: &str) -> String {
    match node {
        Some(node) => format!("node n{} '{name}': ", node.index()),
        None => String::new(),
    }
}

impl CodegenError {
    /// A [`CodegenError::TooLarge`] not (yet) attributed to a node.
    pub fn too_large(reason: impl Into<String>) -> CodegenError {
        CodegenError::TooLarge {
            node: None,
            name: String::new(),
            reason: reason.into(),
        }
    }

    /// `self`, with a [`CodegenError::TooLarge`] that names no node attributed to `node`
    /// (named `name`).
    pub fn about_node(self, node: Handle<Node>, name: &str) -> CodegenError {
        match self {
            CodegenError::TooLarge {
                node: None, reason, ..
            } => CodegenError::TooLarge {
                node: Some(node),
                name: name.to_string(),
                reason,
            },
            other => other,
        }
    }
}
