//! The IR text parser: reads what [`crate::print`] writes (syntax in [`crate::print`]).
//!
//! A hand-written lexer and recursive-descent parser. It trusts the printed result
//! types (it runs no shape inference) and rebuilds the graph exactly: each value lands
//! at the arena index it is printed with, nodes keep their order, and an input's
//! position among the `input` lines is its port index.

mod lexer;
mod op;
mod program;

use crate::{
    DType, Data, Graph, Handle, Node, Port, Shape, Tensor, TensorType, Value, ValueDef, Wide,
};
use half::f16;
use lexer::{Tok, Token};
use op::{parse_f32, Attr, Item, Lit};

/// How deeply attribute braces may nest (a fused op's anchor is one level).
const MAX_NESTING: usize = 8;
use std::collections::BTreeMap;

/// A syntax or consistency error in IR text, with its 1-based position.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}:{col}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Parses IR text into a graph. Never panics; any text that is not a well-formed graph
/// is an error naming the position and the problem. Values must be defined before use
/// and numbered `%v0..%vN` without gaps or repeats.
pub fn parse(text: &str) -> Result<Graph, ParseError> {
    let mut p = Parser::new(lexer::lex(text)?);
    p.graph()?;
    p.finish()
}

impl std::str::FromStr for crate::Program {
    type Err = ParseError;

    /// Parses a program's step list as the IR text writes it:
    /// `[in0, in1, add(%0,%1), relu(%2)]`. Never panics; the steps are not checked
    /// against each other ([`crate::verify`] does that for a node's program).
    fn from_str(text: &str) -> Result<Self, ParseError> {
        let mut p = Parser::new(lexer::lex(text)?);
        p.expect_punct('[')?;
        let pos = p.here();
        let items = p.list_rest()?;
        if *p.peek() != Tok::Eof {
            return p.expected("the end of the program");
        }
        match op::program_of(&items) {
            Some(program) => Ok(program),
            None => p.error_at(pos, "expected program steps like `in0` or `add(%0,%1)`"),
        }
    }
}

type Pos = (usize, usize);

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// How many attribute lists `{...}` enclose the current token.
    depth: usize,
    /// Values defined so far, by arena index, with where each was defined.
    values: BTreeMap<usize, (Value, Pos)>,
    /// The graph being built; its `values` arena is filled in by [`Parser::finish`].
    graph: Graph,
}

impl Parser {
    fn new(tokens: Vec<Token>) -> Self {
        Parser {
            tokens,
            pos: 0,
            depth: 0,
            values: BTreeMap::new(),
            graph: Graph::default(),
        }
    }

    fn peek(&self) -> &Tok {
        self.peek_at(0)
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        // The token list always ends with Eof; never read past it.
        let i = (self.pos + ahead).min(self.tokens.len() - 1);
        &self.tokens[i].tok
    }

    fn here(&self) -> Pos {
        let t = &self.tokens[self.pos.min(self.tokens.len() - 1)];
        (t.line, t.col)
    }

    fn next(&mut self) -> Token {
        let t = self.tokens[self.pos.min(self.tokens.len() - 1)].clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn error_at<T>(&self, (line, col): Pos, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            line,
            col,
            message: message.into(),
        })
    }

    /// An error at the current token: "expected {what}, found {token}".
    fn expected<T>(&self, what: &str) -> Result<T, ParseError> {
        self.error_at(
            self.here(),
            format!("expected {what}, found {}", self.peek().describe()),
        )
    }

    fn eat_punct(&mut self, c: char) -> bool {
        if *self.peek() == Tok::Punct(c) {
            self.next();
            return true;
        }
        false
    }

    fn expect_punct(&mut self, c: char) -> Result<(), ParseError> {
        if self.eat_punct(c) {
            return Ok(());
        }
        self.expected(&format!("`{c}`"))
    }

    fn eat_keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Tok::Ident(s) if s == word) {
            self.next();
            return true;
        }
        false
    }

    fn expect_keyword(&mut self, word: &str) -> Result<(), ParseError> {
        if self.eat_keyword(word) {
            return Ok(());
        }
        self.expected(&format!("`{word}`"))
    }

    fn expect_str(&mut self, what: &str) -> Result<String, ParseError> {
        if let Tok::Str(s) = self.peek() {
            let s = s.clone();
            self.next();
            return Ok(s);
        }
        self.expected(what)
    }

    fn eat_str(&mut self) -> Option<String> {
        match self.peek() {
            Tok::Str(_) => match self.next().tok {
                Tok::Str(s) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    /// A value handle token, returned with its position (not checked for definition).
    fn value_token(&mut self) -> Result<(usize, Pos), ParseError> {
        if let Tok::Value(i) = *self.peek() {
            let pos = self.here();
            self.next();
            return Ok((i, pos));
        }
        self.expected("a value like `%v3`")
    }

    /// A use of an already defined value.
    fn use_value(&mut self) -> Result<Handle<Value>, ParseError> {
        let (index, pos) = self.value_token()?;
        if !self.values.contains_key(&index) {
            return self.error_at(pos, format!("undefined value %v{index}"));
        }
        Ok(Handle::new(index))
    }

    fn define(&mut self, index: usize, pos: Pos, value: Value) -> Result<(), ParseError> {
        if let Some((_, (line, col))) = self.values.get(&index) {
            let msg = format!("%v{index} is defined twice (first at line {line}:{col})");
            return self.error_at(pos, msg);
        }
        self.values.insert(index, (value, pos));
        Ok(())
    }

    /// `(i64)`, `(u64)`, `(f64)` or `(bf16)` after a port, if present (see [`Wide`]).
    fn wide_marker(&mut self) -> Wide {
        let wide = match self.peek_at(1) {
            Tok::Ident(s) if *self.peek() == Tok::Punct('(') => Wide::from_marker(s),
            _ => None,
        };
        match wide {
            Some(w) if *self.peek_at(2) == Tok::Punct(')') => {
                self.pos += 3;
                w
            }
            _ => Wide::No,
        }
    }

    fn graph(&mut self) -> Result<(), ParseError> {
        self.expect_keyword("graph")?;
        self.graph.name = self.expect_str("the graph name as a string")?;
        self.expect_punct('{')?;
        loop {
            match self.peek() {
                Tok::Punct('}') => break,
                Tok::Ident(s) if s == "input" => self.input()?,
                Tok::Ident(s) if s == "const" => self.constant()?,
                Tok::Ident(s) if s == "output" => self.output()?,
                Tok::Ident(s) if s == "extent" => self.extent()?,
                Tok::Value(_) | Tok::Punct('(') => self.node()?,
                _ => return self.expected("`input`, `const`, `output`, `extent`, a node or `}`"),
            }
        }
        self.next();
        if *self.peek() != Tok::Eof {
            return self.expected("end of input after the graph's closing `}`");
        }
        Ok(())
    }

    /// `input %v0 "x" : f32[1,3] (i64) port "name"`.
    fn input(&mut self) -> Result<(), ParseError> {
        self.next();
        let (index, pos) = self.value_token()?;
        let name = self.eat_str();
        self.expect_punct(':')?;
        let ty = self.ty()?;
        let wide = self.wide_marker();
        let port_name = if self.eat_keyword("port") {
            self.expect_str("the port name as a string")?
        } else if let Some(name) = &name {
            name.clone()
        } else {
            let msg = format!("input %v{index} has no name: name the value or add `port \"name\"`");
            return self.error_at(pos, msg);
        };
        let def = ValueDef::Input(self.graph.inputs.len());
        self.define(index, pos, Value { ty, name, def })?;
        self.graph.inputs.push(Port {
            name: port_name,
            value: Handle::new(index),
            wide,
        });
        Ok(())
    }

    /// `extent output 0 axis 1 count 2` (see [`crate::Extent`]).
    fn extent(&mut self) -> Result<(), ParseError> {
        self.next();
        let field = |p: &mut Self, key: &str| -> Result<usize, ParseError> {
            p.expect_keyword(key)?;
            match p.peek().clone() {
                Tok::Num(s) => match s.parse() {
                    Ok(n) => {
                        p.next();
                        Ok(n)
                    }
                    Err(_) => p.expected("an unsigned integer"),
                },
                _ => p.expected("an unsigned integer"),
            }
        };
        let output = field(self, "output")?;
        let axis = field(self, "axis")?;
        let count = field(self, "count")?;
        self.graph.extents.push(crate::Extent {
            output,
            axis,
            count,
        });
        Ok(())
    }

    /// `output "y" = %v4 (i64)`.
    fn output(&mut self) -> Result<(), ParseError> {
        self.next();
        let name = self.expect_str("the output name as a string")?;
        self.expect_punct('=')?;
        let value = self.use_value()?;
        let wide = self.wide_marker();
        self.graph.outputs.push(Port { name, value, wide });
        Ok(())
    }

    /// `const %v2 "w" : f32[2] = [1.0, 2.0]` or `= splat(0.5)`.
    fn constant(&mut self) -> Result<(), ParseError> {
        self.next();
        let (index, pos) = self.value_token()?;
        let name = self.eat_str();
        self.expect_punct(':')?;
        let ty = self.ty()?;
        self.expect_punct('=')?;
        let data_pos = self.here();
        let tensor = if self.eat_keyword("splat") {
            self.expect_punct('(')?;
            let item = self.element()?;
            self.expect_punct(')')?;
            let data = data_of(ty.dtype, &[item])?;
            Tensor::splat(ty.shape.clone(), data)
        } else if self.eat_punct('[') {
            let mut items = Vec::new();
            if !self.eat_punct(']') {
                loop {
                    items.push(self.element()?);
                    if self.eat_punct(']') {
                        break;
                    }
                    self.expect_punct(',')?;
                }
            }
            if items.len() != ty.shape.numel() {
                let msg = format!(
                    "constant %v{index} has {} values but its type {ty} needs {}",
                    items.len(),
                    ty.shape.numel()
                );
                return self.error_at(data_pos, msg);
            }
            Tensor::new(ty.shape.clone(), data_of(ty.dtype, &items)?)
        } else if *self.peek() == Tok::Punct('<') {
            let msg = format!(
                "constant %v{index} was printed with its data elided; \
                 print the graph with full constants to parse it back"
            );
            return self.error_at(data_pos, msg);
        } else {
            return self.expected("constant data `[...]` or `splat(...)`");
        };
        let tensor = match tensor {
            Ok(t) => t,
            Err(e) => return self.error_at(data_pos, e.to_string()),
        };
        self.define(
            index,
            pos,
            Value {
                ty,
                name,
                def: ValueDef::Const(tensor),
            },
        )
    }

    /// One constant element as written (a number or a word), with its position.
    fn element(&mut self) -> Result<(String, Pos), ParseError> {
        let pos = self.here();
        match self.peek() {
            Tok::Num(s) | Tok::Ident(s) => {
                let s = s.clone();
                self.next();
                Ok((s, pos))
            }
            _ => self.expected("a number, `true` or `false`"),
        }
    }

    /// `f32[1,3,224,224]`; `f32[]` is a scalar.
    fn ty(&mut self) -> Result<TensorType, ParseError> {
        let pos = self.here();
        let dtype = match self.peek() {
            Tok::Ident(s) => match DType::from_name(s) {
                Some(d) => d,
                None => {
                    let names = DType::ALL.map(|d| d.name()).join(", ");
                    let msg = format!("unknown dtype `{s}` (expected one of {names})");
                    return self.error_at(pos, msg);
                }
            },
            _ => return self.expected("a type like `f32[1,3]`"),
        };
        self.next();
        self.expect_punct('[')?;
        let mut dims = Vec::new();
        if !self.eat_punct(']') {
            loop {
                match self.peek() {
                    Tok::Num(s) => match s.parse::<usize>() {
                        Ok(d) => dims.push(d),
                        Err(_) => return self.expected("a dimension (an unsigned integer)"),
                    },
                    _ => return self.expected("a dimension (an unsigned integer)"),
                }
                self.next();
                if self.eat_punct(']') {
                    break;
                }
                self.expect_punct(',')?;
            }
        }
        if dims
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .is_none()
        {
            return self.error_at(pos, "the shape has more elements than fit in memory");
        }
        Ok(TensorType::new(dtype, Shape::new(dims)))
    }

    /// `%v4 "y", %v5 = op{attrs}(%v0, %v1) : f32[..], i32[..] @"name"`, or `() = ...`.
    fn node(&mut self) -> Result<(), ParseError> {
        let mut defs = Vec::new();
        if self.eat_punct('(') {
            self.expect_punct(')')?;
        } else {
            loop {
                let (index, pos) = self.value_token()?;
                defs.push((index, pos, self.eat_str()));
                if !self.eat_punct(',') {
                    break;
                }
            }
        }
        self.expect_punct('=')?;
        let (line, col) = self.here();
        let op_name = match self.peek() {
            Tok::Ident(s) => s.clone(),
            _ => return self.expected("an op name"),
        };
        self.next();
        let attrs = if *self.peek() == Tok::Punct('{') {
            self.attrs()?
        } else {
            Vec::new()
        };
        let op = op::build(&op_name, line, col, attrs)?;
        self.expect_punct('(')?;
        let mut inputs = Vec::new();
        if !self.eat_punct(')') {
            loop {
                inputs.push(self.use_value()?);
                if self.eat_punct(')') {
                    break;
                }
                self.expect_punct(',')?;
            }
        }
        let mut types = Vec::new();
        let types_pos = self.here();
        if self.eat_punct(':') {
            loop {
                types.push(self.ty()?);
                if !self.eat_punct(',') {
                    break;
                }
            }
        }
        if types.len() != defs.len() {
            let msg = format!(
                "`{op_name}` defines {} result(s) but {} result type(s) are given",
                defs.len(),
                types.len()
            );
            return self.error_at(types_pos, msg);
        }
        let name = if self.eat_punct('@') {
            self.expect_str("the node name as a string")?
        } else {
            String::new()
        };
        let node = Handle::new(self.graph.nodes.len());
        let mut outputs = Vec::new();
        for (output, ((index, pos, name), ty)) in defs.into_iter().zip(types).enumerate() {
            self.define(
                index,
                pos,
                Value {
                    ty,
                    name,
                    def: ValueDef::Node { node, output },
                },
            )?;
            outputs.push(Handle::new(index));
        }
        self.graph.nodes.append(Node {
            op,
            inputs,
            outputs,
            name,
        });
        Ok(())
    }

    /// `{name=value, ...}` where a value is a number, a word, a nested op with
    /// attributes (`conv{...}`) or a `[...]` list of numbers, words and program steps.
    fn attrs(&mut self) -> Result<Vec<Attr>, ParseError> {
        if self.depth >= MAX_NESTING {
            let msg = format!("attributes nest more than {MAX_NESTING} levels deep");
            return self.error_at(self.here(), msg);
        }
        self.depth += 1;
        let attrs = self.attr_list();
        self.depth -= 1;
        attrs
    }

    fn attr_list(&mut self) -> Result<Vec<Attr>, ParseError> {
        self.expect_punct('{')?;
        let mut attrs: Vec<Attr> = Vec::new();
        if self.eat_punct('}') {
            return Ok(attrs);
        }
        loop {
            let (line, col) = self.here();
            let name = match self.peek() {
                Tok::Ident(s) => s.clone(),
                _ => return self.expected("an attribute name"),
            };
            self.next();
            if attrs.iter().any(|a| a.name == name) {
                return self.error_at((line, col), format!("attribute `{name}` is given twice"));
            }
            self.expect_punct('=')?;
            let value = if self.eat_punct('[') {
                Lit::List(self.list_rest()?)
            } else if self.at_call('{') {
                Lit::Op(Box::new(self.nested_op()?))
            } else {
                Lit::Atom(self.atom()?)
            };
            attrs.push(Attr {
                name,
                line,
                col,
                value,
            });
            if self.eat_punct('}') {
                return Ok(attrs);
            }
            self.expect_punct(',')?;
        }
    }

    /// True at a word followed by `open` (`conv{`, `add(`).
    fn at_call(&self, open: char) -> bool {
        matches!(self.peek(), Tok::Ident(_)) && *self.peek_at(1) == Tok::Punct(open)
    }

    /// The entries of a `[...]` list after its `[`, through its `]`.
    fn list_rest(&mut self) -> Result<Vec<Item>, ParseError> {
        let mut items = Vec::new();
        if !self.eat_punct(']') {
            loop {
                items.push(self.list_item()?);
                if self.eat_punct(']') {
                    break;
                }
                self.expect_punct(',')?;
            }
        }
        Ok(items)
    }

    /// A list entry: a program step (`add(%0,%1)`, `leaky_relu{alpha=0.1}(%0)`) or an atom.
    fn list_item(&mut self) -> Result<Item, ParseError> {
        if self.at_call('(') || self.at_call('{') {
            return Ok(Item::Step(self.step()?));
        }
        Ok(Item::Atom(self.atom()?))
    }

    /// An op name with its attributes, as an attribute value: `conv{strides=[1,1], ...}`.
    fn nested_op(&mut self) -> Result<crate::Op, ParseError> {
        let (line, col) = self.here();
        let name = match self.next().tok {
            Tok::Ident(s) => s,
            _ => return self.error_at((line, col), "expected an op name"),
        };
        let attrs = self.attrs()?;
        op::build(&name, line, col, attrs)
    }

    fn atom(&mut self) -> Result<String, ParseError> {
        match self.peek() {
            Tok::Num(s) | Tok::Ident(s) => {
                let s = s.clone();
                self.next();
                Ok(s)
            }
            _ => self.expected("an attribute value (a number, a word or a `[...]` list)"),
        }
    }

    /// Moves the defined values into the arena, checking they are numbered without gaps.
    fn finish(mut self) -> Result<Graph, ParseError> {
        for (expected, (&index, (_, pos))) in self.values.iter().enumerate() {
            if index != expected {
                let msg = format!(
                    "%v{expected} is never defined (values are numbered from %v0 without gaps)"
                );
                return self.error_at(*pos, msg);
            }
        }
        for (_, (value, _)) in std::mem::take(&mut self.values) {
            self.graph.values.append(value);
        }
        Ok(self.graph)
    }
}

/// Constant elements as data of `dtype`, each checked to fit.
fn data_of(dtype: DType, items: &[(String, Pos)]) -> Result<Data, ParseError> {
    fn each<T>(
        items: &[(String, Pos)],
        what: &str,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<Vec<T>, ParseError> {
        items
            .iter()
            .map(|(s, (line, col))| {
                f(s).ok_or_else(|| ParseError {
                    line: *line,
                    col: *col,
                    message: format!("`{s}` is not {what}"),
                })
            })
            .collect()
    }
    fn int<T: TryFrom<i64>>(s: &str) -> Option<T> {
        s.parse::<i64>().ok().and_then(|v| T::try_from(v).ok())
    }
    Ok(match dtype {
        DType::F32 => Data::F32(each(items, "an f32", parse_f32)?),
        DType::F16 => Data::F16(each(items, "an f16", |s| {
            let x = parse_f32(s)?;
            let h = f16::from_f32(x);
            (h.is_finite() || !x.is_finite()).then_some(h)
        })?),
        DType::Bool => Data::Bool(each(items, "a bool (`true` or `false`)", |s| match s {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        })?),
        d => match (d.int_range(), crate::minifloat::Format::of(d)) {
            (Some((lo, hi)), _) => {
                let article = if d.is_signed_int() { "an" } else { "a" };
                let what = format!("{article} {d}");
                let v = each(items, &what, |s| {
                    int::<i64>(s).filter(|x| (lo..=hi).contains(x))
                })?;
                Data::from_i64s(d, v.into_iter()).expect("an integer type")
            }
            (None, Some(f)) => {
                // Every printed value is exactly representable; anything else is refused.
                let what = format!("a {d} value");
                let bits = each(items, &what, |s| {
                    let x = parse_f32(s)?;
                    let b = f.encode(x, false);
                    let back = f.decode(b);
                    (back == x || (back.is_nan() && x.is_nan())).then_some(b)
                })?;
                Data::minifloats(d, bits).expect("a minifloat type")
            }
            (None, None) => unreachable!("every dtype is float, int, bool or minifloat"),
        },
    })
}
