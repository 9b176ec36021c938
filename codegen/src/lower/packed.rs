//! Weights the device keeps packed: a constant `dequantize` of 8-, 4-, 2- or 16-bit
//! integers, or an f16 constant, that a product reads as its weight operand stays in
//! its packed words on the GPU and is decoded where the kernel loads it, rather than
//! widened to one f32 word per element when the plan is uploaded.
//!
//! The decode is the upload's arithmetic: `(q - zero) · scale` in f32, which WGSL
//! rounds exactly as the host does, so a kernel reading packed weights computes the
//! same values as one reading the widened words.

use super::{binding_decls_from, Binding, Slot};
use crate::plan::Access;
use kiln_ir::DType;

/// How the plan stores an operand it keeps packed ([`super::Placement::packed`]): the
/// element bits and the decode. Bound as [`Slot::Packed`] parts: 0 the packed words, 1
/// the scales, 2 the zero points (when not one literal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedWeight {
    /// Bits per element (2, 4, 8 or 16), packed lowest bits first into u32 words.
    pub bits: u8,
    /// Integers sign-extended (int8, int4, …) rather than zero-extended.
    pub signed: bool,
    /// `None`: the 16-bit elements are f16 values. Otherwise integers dequantized so.
    pub scale: Option<PackedScale>,
}

/// The dequantization of a [`PackedWeight`]'s integers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedScale {
    /// The dequantized tensor's dims (those of the integers).
    pub x_dims: Vec<usize>,
    pub scale_dims: Vec<usize>,
    /// Scales stored as f16 halves, two to a word, rather than f32 words.
    pub scales_half: bool,
    /// Every element's zero point, as f32 bits; `None` when they come from part 2
    /// (f32 words laid out by `zero_dims`).
    pub zero_literal: Option<u32>,
    pub zero_dims: Vec<usize>,
    /// The `dequantize`'s axis and block (see [`kiln_ir::quant::QuantLayout`]).
    pub axis: usize,
    pub block: usize,
}

/// How a kernel reads the weight operand it names `name`: straight from an f32 binding
/// (`name[i]`), or through `name_decode(i)` decoding packed words. Either way
/// [`WeightRead::at`] gives the f32 element. An integer product's weight is read as
/// its integers instead: one per word, or decoded from a narrow constant's words
/// ([`WeightRead::narrow`]).
pub struct WeightRead {
    name: String,
    operand: usize,
    packed: Option<PackedWeight>,
    /// The dtype of a weight stored narrow ([`super::narrow`]), decoded by [`WeightRead::at`].
    narrow: Option<DType>,
}

impl WeightRead {
    /// Operand `operand` read as `name`, packed when the plan keeps it so.
    pub fn new(name: &str, operand: usize, packed: Option<&PackedWeight>) -> WeightRead {
        WeightRead {
            name: name.to_string(),
            operand,
            packed: packed.cloned(),
            narrow: None,
        }
    }

    /// `self`, reading a weight of `dtype` from its narrow words where `narrow`.
    pub fn narrow(self, narrow: bool, dtype: DType) -> WeightRead {
        WeightRead {
            narrow: narrow.then_some(dtype),
            ..self
        }
    }

    /// Element `index` (a WGSL u32 expression) as f32.
    pub fn at(&self, index: &str) -> String {
        match self.packed {
            None => match self.narrow {
                Some(dtype) => super::narrow::read(dtype, &self.name, index),
                None => format!("{}[{index}]", self.name),
            },
            Some(_) => format!("{}_decode({index})", self.name),
        }
    }

    /// The packed parts as bound, in [`Slot::Packed`] order: (WGSL name, element type,
    /// binding). Empty when the weight is not packed.
    fn parts(&self) -> Vec<(String, DType, Binding)> {
        let Some(p) = &self.packed else {
            return Vec::new();
        };
        let mut parts = vec![("q", DType::U32)];
        if let Some(s) = &p.scale {
            parts.push((
                "s",
                if s.scales_half {
                    DType::U32
                } else {
                    DType::F32
                },
            ));
            if s.zero_literal.is_none() {
                parts.push(("z", DType::F32));
            }
        }
        parts
            .into_iter()
            .enumerate()
            .map(|(part, (suffix, ty))| {
                let slot = Slot::Packed {
                    operand: self.operand,
                    part,
                };
                (format!("{}_{suffix}", self.name), ty, Binding::read(slot))
            })
            .collect()
    }

    /// The binding declarations (numbered from `first`) and bindings of the weight.
    pub fn bindings(&self, first: usize) -> (String, Vec<Binding>) {
        if self.packed.is_none() {
            let decl = binding_decls_from(first, &[(&self.name, DType::F32, Access::Read)]);
            return (decl, vec![Binding::read(Slot::Operand(self.operand))]);
        }
        let parts = self.parts();
        let entries: Vec<(&str, DType, Access)> = parts
            .iter()
            .map(|(n, t, _)| (n.as_str(), *t, Access::Read))
            .collect();
        let decls = binding_decls_from(first, &entries);
        (decls, parts.into_iter().map(|(_, _, b)| b).collect())
    }

    /// Binds the weight into `set` (an f32 operand read as 32-bit words, its narrow
    /// words, or its packed parts) and returns the WGSL function `name_word(i: u32) -> u32` giving element
    /// `i`'s 32-bit word: what a kernel moving words (a gather) reads.
    pub fn bind_words(
        &self,
        set: &mut super::elementwise::index::BindingSet,
        inputs: &[kiln_ir::Handle<kiln_ir::Value>],
    ) -> String {
        let name = &self.name;
        if let (None, Some(dtype)) = (&self.packed, self.narrow) {
            // The word a one-word-per-element tensor holds: the integer sign- or
            // zero-extended, an f16 value's f32 bits.
            let ty = super::wgsl_type(super::narrow::word_dtype(dtype));
            let data = set.operand(self.operand, inputs, ty);
            let element = super::narrow::read(dtype, &data, "i");
            return format!(
                "fn {name}_word(i: u32) -> u32 {{\n    return bitcast<u32>({element});\n}}\n"
            );
        }
        if self.packed.is_none() {
            let data = set.operand(self.operand, inputs, "u32");
            return format!("fn {name}_word(i: u32) -> u32 {{\n    return {data}[i];\n}}\n");
        }
        for (part, ty, b) in self.parts() {
            set.add_named(b.slot, b.access, super::wgsl_type(ty), part);
        }
        format!(
            "{}fn {name}_word(i: u32) -> u32 {{\n    return bitcast<u32>({name}_decode(i));\n}}\n",
            self.function()
        )
    }

    /// The WGSL function `name_decode` decoding element `i` (empty when not packed).
    pub fn function(&self) -> String {
        let Some(p) = &self.packed else {
            return String::new();
        };
        let name = &self.name;
        let per_word = 32 / u32::from(p.bits);
        let word = format!("{name}_q[i / {per_word}u]");
        let shift = format!("(i % {per_word}u) * {}u", p.bits);
        // f16 bits decoded with integer operations: exact for subnormal halves too, and
        // no `unpack2x16float` (which WebGL and Mesa's Vulkan without SHADER_F16 lack).
        let half = format!(
            "fn {name}_half(h: u32) -> f32 {{\n    let sign = (h & 0x8000u) << 16u;\n    \
             let e = (h >> 10u) & 0x1fu;\n    let m = h & 0x3ffu;\n    if e == 0u {{\n        \
             return bitcast<f32>(sign | bitcast<u32>(f32(m) * bitcast<f32>(0x33800000u)));\n    }}\n    \
             if e == 31u {{\n        return bitcast<f32>(sign | 0x7f800000u | (m << 13u));\n    }}\n    \
             return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));\n}}\n"
        );
        let half_at = |word: &str, i: &str| {
            format!("{name}_half(extractBits({word}, ({i} % 2u) * 16u, 16u))")
        };
        let Some(s) = &p.scale else {
            // f16 values, two to a word.
            return format!(
                "{half}fn {name}_decode(i: u32) -> f32 {{\n    return {};\n}}\n",
                half_at(&word, "i")
            );
        };
        let q = if p.signed {
            format!(
                "f32(extractBits(bitcast<i32>({word}), {shift}, {}u))",
                p.bits
            )
        } else {
            format!("f32(extractBits({word}, {shift}, {}u))", p.bits)
        };
        let si = scale_index(&s.x_dims, &s.scale_dims, s.axis, s.block);
        let (scale, helper) = if s.scales_half {
            let word = format!("{name}_s[({si}) / 2u]");
            (half_at(&word, &format!("({si})")), half)
        } else {
            (format!("{name}_s[{si}]"), String::new())
        };
        let zero = match s.zero_literal {
            Some(bits) => format!("bitcast<f32>({bits}u)"),
            None => format!(
                "{name}_z[{}]",
                scale_index(&s.x_dims, &s.zero_dims, s.axis, s.block)
            ),
        };
        format!(
            "{helper}fn {name}_decode(i: u32) -> f32 {{\n    let q = {q};\n    return (q - {zero}) * {scale};\n}}\n"
        )
    }
}

/// The WGSL expression (over the element index `i`) of the scale element that element
/// `i` of `x_dims` reads, as [`kiln_ir::quant::QuantLayout::scale_indices`] computes it host-side.
fn scale_index(x_dims: &[usize], scale_dims: &[usize], axis: usize, block: usize) -> String {
    if block > 0 {
        let inner: usize = x_dims[axis + 1..].iter().product();
        let (d, nb) = (x_dims[axis], x_dims[axis].div_ceil(block));
        return format!(
            "((i / {outer}u) * {nb}u + ((i / {inner}u) % {d}u) / {block}u) * {inner}u + i % {inner}u",
            outer = inner * d,
        );
    }
    let rank = x_dims.len();
    let mut terms = Vec::new();
    let (mut stride, mut inner) = (1usize, 1usize);
    for axis in (0..rank).rev() {
        let k = (axis + scale_dims.len()).checked_sub(rank);
        let s = k.map_or(1, |k| scale_dims[k]);
        if s != 1 {
            let coord = match (inner, axis) {
                (1, 0) => "i".to_string(),
                (1, _) => format!("i % {}u", x_dims[axis]),
                (_, 0) => format!("i / {inner}u"),
                _ => format!("(i / {inner}u) % {}u", x_dims[axis]),
            };
            terms.push(if stride == 1 {
                format!("({coord})")
            } else {
                format!("({coord}) * {stride}u")
            });
            stride *= s;
        }
        inner *= x_dims[axis];
    }
    if terms.is_empty() {
        "0u".to_string()
    } else {
        terms.join(" + ")
    }
}

/// Checks [`scale_index`] against the host's layout for one case (tests).
#[cfg(test)]
fn host_indices(x_dims: &[usize], scale_dims: &[usize], axis: usize, block: usize) -> Vec<usize> {
    let (x, s) = (
        kiln_ir::Shape::from(x_dims.to_vec()),
        kiln_ir::Shape::from(scale_dims.to_vec()),
    );
    kiln_ir::quant::QuantLayout::of(&x, &s, axis, block)
        .expect("a valid layout")
        .scale_indices(&x, &s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Evaluates the WGSL index expression for `i` (a tiny evaluator of `+ * / %` on
    /// u32 with parentheses, enough for [`scale_index`]'s output).
    fn eval(expr: &str, i: usize) -> usize {
        let tokens: Vec<String> = expr
            .replace('(', " ( ")
            .replace(')', " ) ")
            .split_whitespace()
            .map(|t| t.trim_end_matches('u').to_string())
            .collect();
        let mut at = 0;
        let v = sum(&tokens, &mut at, i);
        assert_eq!(at, tokens.len(), "{expr}");
        v
    }

    fn sum(t: &[String], at: &mut usize, i: usize) -> usize {
        let mut v = product(t, at, i);
        while *at < t.len() && t[*at] == "+" {
            *at += 1;
            v += product(t, at, i);
        }
        v
    }

    fn product(t: &[String], at: &mut usize, i: usize) -> usize {
        let mut v = atom(t, at, i);
        while *at < t.len() && matches!(t[*at].as_str(), "*" | "/" | "%") {
            let op = t[*at].clone();
            *at += 1;
            let r = atom(t, at, i);
            v = match op.as_str() {
                "*" => v * r,
                "/" => v / r,
                _ => v % r,
            };
        }
        v
    }

    fn atom(t: &[String], at: &mut usize, i: usize) -> usize {
        let tok = t[*at].clone();
        *at += 1;
        if tok == "(" {
            let v = sum(t, at, i);
            assert_eq!(t[*at], ")");
            *at += 1;
            v
        } else if tok == "i" {
            i
        } else {
            tok.parse().expect("a number")
        }
    }

    #[test]
    fn scale_indices_match_the_host_layout() {
        let cases: &[(&[usize], &[usize], usize, usize)] = &[
            (&[7, 5], &[], 0, 0),
            (&[7, 5], &[1], 0, 0),
            (&[7, 5], &[5], 0, 0),
            (&[7, 5], &[7, 1], 0, 0),
            (&[6, 3, 2, 2], &[6, 1, 1, 1], 0, 0),
            (&[3, 6, 5], &[6, 1], 0, 0),
            (&[3, 6, 5], &[3, 6, 5], 0, 0),
            (&[70, 9], &[3, 9], 0, 32),
            (&[9, 70], &[9, 3], 1, 32),
            (&[4, 37, 3], &[4, 2, 3], 1, 32),
        ];
        for &(x, s, axis, block) in cases {
            let expr = scale_index(x, s, axis, block);
            let want = host_indices(x, s, axis, block);
            let got: Vec<usize> = (0..want.len()).map(|i| eval(&expr, i)).collect();
            assert_eq!(
                got, want,
                "x {x:?} scale {s:?} axis {axis} block {block}: {expr}"
            );
        }
    }

    #[test]
    fn bindings_are_renumbered_and_name_the_parts() {
        let p = PackedWeight {
            bits: 4,
            signed: true,
            scale: Some(PackedScale {
                x_dims: vec![8, 64],
                scale_dims: vec![8, 2],
                scales_half: true,
                zero_literal: None,
                zero_dims: vec![8, 2],
                axis: 1,
                block: 32,
            }),
        };
        let w = WeightRead::new("w", 1, Some(&p));
        let (decls, bindings) = w.bindings(3);
        assert!(decls.contains("@binding(3) var<storage, read> w_q: array<u32>"));
        assert!(decls.contains("@binding(4) var<storage, read> w_s: array<u32>"));
        assert!(decls.contains("@binding(5) var<storage, read> w_z: array<f32>"));
        assert_eq!(bindings.len(), 3);
        assert_eq!(w.at("k"), "w_decode(k)");
        let f = w.function();
        assert!(f.contains("extractBits(bitcast<i32>(w_q[i / 8u]), (i % 8u) * 4u, 4u)"));
        let plain = WeightRead::new("w", 1, None);
        assert_eq!(plain.at("k"), "w[k]");
        assert!(plain.function().is_empty());
        assert!(plain
            .bindings(2)
            .0
            .contains("@binding(2) var<storage, read> w: array<f32>"));
    }
}
