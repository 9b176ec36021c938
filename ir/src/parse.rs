//! The IR text parser: reads what [`crate::print`] writes.

use crate::Graph;

/// A syntax or consistency error in IR text, with its 1-based position.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}:{col}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Parses IR text into a graph.
pub fn parse(text: &str) -> Result<Graph, ParseError> {
    let _ = text;
    Err(ParseError { line: 1, col: 1, message: "parser not written yet".into() })
}
