//! Builds an [`Op`] from its text name and parsed attributes.

use super::ParseError;
use crate::print::op_text;
use crate::print::{
    from_word, ARG, COORD_TRANSFORMS, DEPTH_TO_SPACE_MODES, NEAREST_MODES, PAD_MODES, PLAIN_UNARY,
    REDUCE, RESIZE_MODES, SCATTER_REDUCTIONS,
};
use crate::{
    BinaryOp, ConvAttrs, ConvTransposeAttrs, CumOp, DType, Op, PoolAttrs, Program, ResizeAttrs,
    SparseFormat, Step, UnaryOp,
};

/// An attribute value as written: a word or number, a list, or a nested op with
/// attributes (`conv{...}`; a nested op without attributes reads as a word).
#[derive(Clone, Debug)]
pub(super) enum Lit {
    Atom(String),
    List(Vec<Item>),
    Op(Box<Op>),
}

/// One entry of a `[...]` list: a word or number, or a program step with operands.
#[derive(Clone, Debug)]
pub(super) enum Item {
    Atom(String),
    Step(Step),
}

/// The program a `[...]` list spells (`[in0, in1, add(%0,%1)]`), or `None` when an
/// entry is neither a step nor an input `inK`.
pub(super) fn program_of(items: &[Item]) -> Option<Program> {
    items
        .iter()
        .map(|item| match item {
            Item::Step(step) => Some(step.clone()),
            Item::Atom(s) => s
                .strip_prefix("in")
                .filter(|k| k.starts_with(|c: char| c.is_ascii_digit()))
                .and_then(|k| k.parse().ok())
                .map(Step::Input),
        })
        .collect::<Option<Vec<Step>>>()
        .map(|steps| Program { steps })
}

impl std::fmt::Display for Lit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lit::Atom(s) => f.write_str(s),
            Lit::List(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|item| match item {
                        Item::Atom(s) => s.clone(),
                        Item::Step(step) => step.to_string(),
                    })
                    .collect();
                write!(f, "[{}]", items.join(","))
            }
            Lit::Op(op) => f.write_str(&op_text(op)),
        }
    }
}

/// `name=value` inside an op's braces, with the position of the name.
#[derive(Clone, Debug)]
pub(super) struct Attr {
    pub name: String,
    pub line: usize,
    pub col: usize,
    pub value: Lit,
}

/// The op called `name` at `line:col`, with `attrs`. Every attribute of the op must be
/// given exactly once, and no other.
pub(super) fn build(
    name: &str,
    line: usize,
    col: usize,
    attrs: Vec<Attr>,
) -> Result<Op, ParseError> {
    let mut a = Attrs {
        op: name.to_string(),
        line,
        col,
        items: attrs.into_iter().map(Some).collect(),
        error: None,
        missing: None,
    };
    let Some(op) = op_named(name, &mut a) else {
        return Err(ParseError {
            line,
            col,
            message: format!("unknown op `{name}`"),
        });
    };
    a.finish()?;
    Ok(op)
}

/// Whether `name` is an op a program step may apply: unary, binary, `where`, `cast`,
/// `quantize`, `dequantize`.
pub(super) fn is_step_op(name: &str) -> bool {
    const WITH_ATTRS: [&str; 9] = [
        "quantize",
        "dequantize",
        "leaky_relu",
        "elu",
        "selu",
        "hard_sigmoid",
        "gelu",
        "where",
        "cast",
    ];
    PLAIN_UNARY.iter().any(|u| u.name() == name)
        || BinaryOp::ALL.iter().any(|b| b.name() == name)
        || WITH_ATTRS.contains(&name)
}

fn conv_attrs(a: &mut Attrs) -> ConvAttrs {
    ConvAttrs {
        strides: a.usizes("strides"),
        pads: a.usizes("pads"),
        dilations: a.usizes("dilations"),
        group: a.usize("group"),
    }
}

fn pool_attrs(a: &mut Attrs) -> PoolAttrs {
    PoolAttrs {
        kernel: a.usizes("kernel"),
        strides: a.usizes("strides"),
        pads: a.usizes("pads"),
        dilations: a.usizes("dilations"),
        ceil_mode: a.bool("ceil_mode"),
        count_include_pad: a.bool("count_include_pad"),
        storage_order: a.usize("storage_order"),
    }
}

fn op_named(name: &str, a: &mut Attrs) -> Option<Op> {
    if let Some(u) = PLAIN_UNARY.into_iter().find(|u| u.name() == name) {
        return Some(Op::Unary(u));
    }
    if let Some(b) = BinaryOp::ALL.into_iter().find(|b| b.name() == name) {
        return Some(Op::Binary(b));
    }
    if let Some(op) = REDUCE.into_iter().find(|r| r.name() == name) {
        return Some(Op::Reduce {
            op,
            axes: a.usizes("axes"),
            keepdims: a.bool("keepdims"),
        });
    }
    if name == "min_max" {
        return Some(Op::MinMax {
            axes: a.usizes("axes"),
            keepdims: a.bool("keepdims"),
        });
    }
    if let Some(op) = from_word(&ARG, name) {
        return Some(Op::ArgReduce {
            op,
            axis: a.usize("axis"),
            keepdims: a.bool("keepdims"),
            select_last_index: a.bool("select_last_index"),
        });
    }
    Some(match name {
        "scatter_nd" => Op::ScatterNd {
            reduction: a.word("reduction", SCATTER_REDUCTIONS),
        },
        "cum_sum" | "cum_prod" => Op::Cumulative {
            op: if name == "cum_sum" {
                CumOp::Sum
            } else {
                CumOp::Prod
            },
            axis: a.usize("axis"),
            exclusive: a.bool("exclusive"),
            reverse: a.bool("reverse"),
        },
        "leaky_relu" => Op::Unary(UnaryOp::LeakyRelu {
            alpha: a.f32("alpha"),
        }),
        "elu" => Op::Unary(UnaryOp::Elu {
            alpha: a.f32("alpha"),
        }),
        "selu" => Op::Unary(UnaryOp::Selu {
            alpha: a.f32("alpha"),
            gamma: a.f32("gamma"),
        }),
        "hard_sigmoid" => Op::Unary(UnaryOp::HardSigmoid {
            alpha: a.f32("alpha"),
            beta: a.f32("beta"),
        }),
        "gelu" => Op::Unary(UnaryOp::Gelu {
            tanh: a.bool("tanh"),
        }),
        "where" => Op::Where,
        "cast" => Op::Cast { to: a.dtype("to") },
        "bitcast" => Op::BitCast { to: a.dtype("to") },
        "matmul" => Op::MatMul,
        "conv" => Op::Conv(conv_attrs(a)),
        "conv_integer" => Op::ConvInteger(conv_attrs(a)),
        "matmul_integer" => Op::MatMulInteger,
        "quantize" => Op::Quantize {
            axis: a.usize("axis"),
            block: a.usize("block"),
            saturate: a.bool("saturate"),
        },
        "dequantize" => Op::Dequantize {
            axis: a.usize("axis"),
            block: a.usize("block"),
        },
        "conv_transpose" => Op::ConvTranspose(ConvTransposeAttrs {
            strides: a.usizes("strides"),
            pads: a.usizes("pads"),
            dilations: a.usizes("dilations"),
            output_padding: a.usizes("output_padding"),
            group: a.usize("group"),
        }),
        "batch_norm" => Op::BatchNorm {
            epsilon: a.f32("epsilon"),
        },
        "layer_norm" => Op::LayerNorm {
            axis: a.usize("axis"),
            epsilon: a.f32("epsilon"),
        },
        "rms_norm" => Op::RmsNorm {
            axis: a.usize("axis"),
            epsilon: a.f32("epsilon"),
        },
        "instance_norm" => Op::InstanceNorm {
            epsilon: a.f32("epsilon"),
        },
        "lrn" => Op::Lrn {
            size: a.usize("size"),
            alpha: a.f32("alpha"),
            beta: a.f32("beta"),
            bias: a.f32("bias"),
        },
        "max_pool" => Op::MaxPool(pool_attrs(a)),
        "average_pool" => Op::AveragePool(pool_attrs(a)),
        "softmax" => Op::Softmax {
            axis: a.usize("axis"),
        },
        "log_softmax" => Op::LogSoftmax {
            axis: a.usize("axis"),
        },
        "reshape" => Op::Reshape {
            shape: a.usizes("shape"),
        },
        "transpose" => Op::Transpose {
            perm: a.usizes("perm"),
        },
        "concat" => Op::Concat {
            axis: a.usize("axis"),
        },
        "split" => Op::Split {
            axis: a.usize("axis"),
            sizes: a.usizes("sizes"),
        },
        "slice" => Op::Slice {
            starts: a.usizes("starts"),
            steps: a.i64s("steps"),
            lens: a.usizes("lens"),
        },
        "gather" => Op::Gather {
            axis: a.usize("axis"),
        },
        "expand" => Op::Expand {
            shape: a.usizes("shape"),
        },
        "pad" => Op::Pad {
            mode: a.word("mode", PAD_MODES),
            pads: a.i64s("pads"),
        },
        "tile" => Op::Tile {
            repeats: a.usizes("repeats"),
        },
        "resize" => Op::Resize(ResizeAttrs {
            mode: a.word("mode", RESIZE_MODES),
            coord: a.word("coord", COORD_TRANSFORMS),
            nearest: a.word("nearest", NEAREST_MODES),
            cubic_coeff_a: a.f32("cubic_coeff_a"),
            exclude_outside: a.bool("exclude_outside"),
            extrapolation_value: a.f32("extrapolation_value"),
            antialias: a.bool("antialias"),
            sizes: a.usizes("sizes"),
            scales: a.f32s("scales"),
            roi: a.f32s("roi"),
        }),
        "depth_to_space" => Op::DepthToSpace {
            blocksize: a.usize("blocksize"),
            mode: a.word("mode", DEPTH_TO_SPACE_MODES),
        },
        "space_to_depth" => Op::SpaceToDepth {
            blocksize: a.usize("blocksize"),
        },
        "shape" => Op::Shape {
            start: a.usize("start"),
            end: a.usize("end"),
        },
        "identity" => Op::Identity,
        "non_zero" => Op::NonZero,
        "compress" => Op::Compress {
            axis: a.optional_usize("axis"),
        },
        "unique" => Op::Unique {
            axis: a.optional_usize("axis"),
            sorted: a.bool("sorted"),
        },
        "non_max_suppression" => Op::NonMaxSuppression {
            center_point_box: a.bool("center_point_box"),
            max_per_class: a.usize("max_per_class"),
            score_threshold: a.bool("score_threshold"),
        },
        "elementwise" => Op::Elementwise {
            program: a.program("program"),
        },
        "fused" => Op::Fused {
            anchor: Box::new(a.op("anchor")),
            prologue: a.optional_op("prologue").map(Box::new),
            arity: a.usize("arity"),
            epilogue: a.program("epilogue"),
        },
        "attention" => Op::Attention {
            scale: a.f32("scale"),
        },
        "sparse_conv" => Op::SparseConv {
            format: a.sparse_format(),
            conv: conv_attrs(a),
            kernel: a.usizes("kernel"),
            n: a.usize("n"),
        },
        "sparse_matmul" => Op::SparseMatMul {
            format: a.sparse_format(),
            axis: a.usize("axis"),
            k: a.usize("k"),
            n: a.usize("n"),
        },
        _ => return None,
    })
}

/// The attributes given to one op. Getters never fail: they return a placeholder and
/// remember the first problem, which [`Attrs::finish`] reports once the op is built
/// (unknown attributes first, then ill-typed ones, then missing ones).
struct Attrs {
    op: String,
    line: usize,
    col: usize,
    items: Vec<Option<Attr>>,
    error: Option<ParseError>,
    missing: Option<&'static str>,
}

impl Attrs {
    fn take(&mut self, key: &'static str) -> Option<Attr> {
        let found = self
            .items
            .iter_mut()
            .find(|a| a.as_ref().is_some_and(|a| a.name == key));
        match found.and_then(Option::take) {
            Some(attr) => Some(attr),
            None => {
                self.missing.get_or_insert(key);
                None
            }
        }
    }

    /// Converts attribute `key` with `f`, which names what it expected on failure;
    /// `placeholder` stands in for a missing or ill-typed value.
    fn get<T>(
        &mut self,
        key: &'static str,
        placeholder: T,
        f: impl FnOnce(&Lit) -> Option<T>,
        expected: impl FnOnce() -> String,
    ) -> T {
        let Some(attr) = self.take(key) else {
            return placeholder;
        };
        if let Some(v) = f(&attr.value) {
            return v;
        }
        let found = format!("`{}`", attr.value);
        let message = format!(
            "attribute `{key}` of `{}` must be {}, found {found}",
            self.op,
            expected()
        );
        self.error.get_or_insert(ParseError {
            line: attr.line,
            col: attr.col,
            message,
        });
        placeholder
    }

    fn usize(&mut self, key: &'static str) -> usize {
        let f = |lit: &Lit| atom(lit).and_then(|s| s.parse().ok());
        self.get(key, 0, f, || "an unsigned integer".into())
    }

    fn f32(&mut self, key: &'static str) -> f32 {
        self.get(
            key,
            0.0,
            |lit| atom(lit).and_then(parse_f32),
            || "a number".into(),
        )
    }

    fn bool(&mut self, key: &'static str) -> bool {
        let f = |lit: &Lit| match atom(lit) {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        };
        self.get(key, false, f, || "`true` or `false`".into())
    }

    fn usizes(&mut self, key: &'static str) -> Vec<usize> {
        let f = |lit: &Lit| list(lit, |s| s.parse().ok());
        self.get(key, Vec::new(), f, || {
            "a list of unsigned integers like `[1,2]`".into()
        })
    }

    fn i64s(&mut self, key: &'static str) -> Vec<i64> {
        let f = |lit: &Lit| list(lit, |s| s.parse().ok());
        self.get(key, Vec::new(), f, || {
            "a list of integers like `[1,-2]`".into()
        })
    }

    fn f32s(&mut self, key: &'static str) -> Vec<f32> {
        let f = |lit: &Lit| list(lit, parse_f32);
        self.get(key, Vec::new(), f, || {
            "a list of numbers like `[0.5,2.0]`".into()
        })
    }

    fn dtype(&mut self, key: &'static str) -> DType {
        let f = |lit: &Lit| atom(lit).and_then(DType::from_name);
        let names = || DType::ALL.map(|d| d.name()).join(", ");
        self.get(key, DType::F32, f, || format!("one of {}", names()))
    }

    /// A nested op: `conv{...}`, or a bare op name for an op without attributes.
    fn op(&mut self, key: &'static str) -> Op {
        let Some(attr) = self.take(key) else {
            return Op::Identity;
        };
        let built = match attr.value {
            Lit::Op(op) => return *op,
            Lit::Atom(name) => build(&name, attr.line, attr.col, Vec::new()),
            Lit::List(_) => Err(ParseError {
                line: attr.line,
                col: attr.col,
                message: format!(
                    "attribute `{key}` of `{}` must be an op like `matmul` or `softmax{{axis=1}}`, found a list",
                    self.op
                ),
            }),
        };
        built.unwrap_or_else(|e| {
            self.error.get_or_insert(e);
            Op::Identity
        })
    }

    /// Whether attribute `key` is given.
    fn present(&self, key: &str) -> bool {
        self.items.iter().flatten().any(|a| a.name == key)
    }

    /// An optional unsigned attribute: `None` when absent (not a missing attribute).
    fn optional_usize(&mut self, key: &'static str) -> Option<usize> {
        self.present(key).then(|| self.usize(key))
    }

    /// An optional op attribute: `None` when absent (not a missing attribute).
    fn optional_op(&mut self, key: &'static str) -> Option<Op> {
        self.present(key).then(|| self.op(key))
    }

    /// A program: a list of steps like `[in0, in1, add(%0,%1)]`.
    fn program(&mut self, key: &'static str) -> Program {
        let f = |lit: &Lit| match lit {
            Lit::List(items) => program_of(items),
            _ => None,
        };
        self.get(key, Program { steps: Vec::new() }, f, || {
            "a program like `[in0, in1, add(%0,%1)]`".into()
        })
    }

    fn word<T: Copy>(&mut self, key: &'static str, table: &[(T, &'static str)]) -> T {
        let f = |lit: &Lit| atom(lit).and_then(|w| from_word(table, w));
        let words = || table.iter().map(|(_, w)| *w).collect::<Vec<_>>().join(", ");
        self.get(key, table[0].0, f, || format!("one of {}", words()))
    }

    /// A sparse product's `format` word and its two `block` numbers.
    fn sparse_format(&mut self) -> SparseFormat {
        const WORDS: [(&str, &str); 2] = [("blocks", "blocks"), ("n_of_m", "n_of_m")];
        let word = self.word("format", &WORDS);
        let f = |lit: &Lit| {
            let dims: Vec<usize> = list(lit, |s| s.parse().ok())?;
            let dims: [usize; 2] = dims.try_into().ok()?;
            SparseFormat::from_word(word, dims).filter(|_| dims.iter().all(|&d| d > 0))
        };
        let placeholder = SparseFormat::Blocks { rows: 1, cols: 1 };
        self.get("block", placeholder, f, || {
            "two positive integers like `[4,4]`".into()
        })
    }

    fn finish(self) -> Result<(), ParseError> {
        if let Some(attr) = self.items.into_iter().flatten().next() {
            return Err(ParseError {
                line: attr.line,
                col: attr.col,
                message: format!("unknown attribute `{}` for `{}`", attr.name, self.op),
            });
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        if let Some(key) = self.missing {
            return Err(ParseError {
                line: self.line,
                col: self.col,
                message: format!("`{}` needs attribute `{key}`", self.op),
            });
        }
        Ok(())
    }
}

fn atom(lit: &Lit) -> Option<&str> {
    match lit {
        Lit::Atom(s) => Some(s),
        _ => None,
    }
}

fn list<T>(lit: &Lit, f: impl Fn(&str) -> Option<T>) -> Option<Vec<T>> {
    match lit {
        Lit::List(items) => items
            .iter()
            .map(|item| match item {
                Item::Atom(s) => f(s),
                Item::Step(_) => None,
            })
            .collect(),
        _ => None,
    }
}

/// A finite f32 literal (`2`, `0.5`, `-1e-5`), or `nan`, `inf`, `-inf`. Rejects
/// literals that overflow to infinity.
pub(super) fn parse_f32(s: &str) -> Option<f32> {
    match s {
        "nan" => Some(f32::NAN),
        "inf" => Some(f32::INFINITY),
        "-inf" => Some(f32::NEG_INFINITY),
        _ if s.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
            s.parse::<f32>().ok().filter(|x| x.is_finite())
        }
        _ => None,
    }
}
