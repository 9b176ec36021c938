//! Index arithmetic baked into WGSL: maps from a linear invocation index to element
//! offsets through per-axis strides, and operand bindings without duplicates.
//!
//! Shared by the elementwise, reduction, norm and data-movement lowerings. An
//! [`OffsetMap`] is a linear iteration space (row-major `dims`) plus, per operand, a
//! base and a stride per axis; [`offsets_code`] emits unrolled WGSL that computes each
//! operand's offset with divisions by constants. Size-1 axes are dropped and axes
//! every operand walks contiguously are merged first, so most maps need one or two
//! divisions. Arithmetic is in `u32`, which wraps: a negative stride or base is
//! written as its two's complement and the sum is right modulo 2³², so it is exact
//! whenever the true offset is in range (always, for a well-formed op).

use crate::lower::{Binding, Slot};
use crate::plan::Access;
use kiln_ir::DType;

/// One operand's view of an iteration space: `offset = base + Σ coord[a] * strides[a]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Affine {
    pub base: i64,
    pub strides: Vec<i64>,
}

impl Affine {
    /// Row-major contiguous strides over `dims` (offset = linear index).
    pub fn contiguous(dims: &[usize]) -> Affine {
        let mut strides = vec![1i64; dims.len()];
        for i in (0..dims.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * dims[i + 1] as i64;
        }
        Affine { base: 0, strides }
    }

    /// numpy broadcast of an operand of shape `input` into `out` (stride 0 on broadcast axes).
    pub fn broadcast(input: &[usize], out: &[usize]) -> Affine {
        let lead = out.len().saturating_sub(input.len());
        let mut strides = vec![0i64; out.len()];
        let mut s = 1i64;
        for i in (0..input.len()).rev() {
            if input[i] != 1 && lead + i < out.len() {
                strides[lead + i] = s;
            }
            s *= input[i] as i64;
        }
        Affine { base: 0, strides }
    }

    /// [`Affine::broadcast`] of an operand whose axes have element `strides` in its
    /// buffer (not necessarily row-major: a transpose folded into its reader).
    pub fn broadcast_strided(input: &[usize], strides: &[usize], out: &[usize]) -> Affine {
        let lead = out.len().saturating_sub(input.len());
        let mut map = vec![0i64; out.len()];
        for (i, (&d, &s)) in input.iter().zip(strides).enumerate() {
            if d != 1 && lead + i < out.len() {
                map[lead + i] = s as i64;
            }
        }
        Affine {
            base: 0,
            strides: map,
        }
    }

    /// True when this map is the identity on `dims` (offset = linear index).
    pub fn is_identity(&self, dims: &[usize]) -> bool {
        if self.base != 0 {
            return false;
        }
        let c = Affine::contiguous(dims);
        dims.iter()
            .zip(self.strides.iter().zip(&c.strides))
            .all(|(&d, (a, b))| d == 1 || a == b)
    }
}

/// A `u32` WGSL literal for a possibly negative offset term (two's complement).
pub fn u32_lit(v: i64) -> String {
    format!("{}u", v as u32)
}

/// Drops size-1 axes and merges adjacent axes every map walks contiguously.
/// Returns the reduced dims and each map's strides over them.
pub fn simplify(dims: &[usize], maps: &[&Affine]) -> (Vec<usize>, Vec<Vec<i64>>) {
    let mut out_dims: Vec<usize> = Vec::new();
    let mut out_strides: Vec<Vec<i64>> = vec![Vec::new(); maps.len()];
    for (a, &d) in dims.iter().enumerate() {
        if d == 1 {
            continue;
        }
        let mergeable = !out_dims.is_empty()
            && maps.iter().enumerate().all(|(m, map)| {
                let prev = *out_strides[m].last().unwrap_or(&0);
                prev == map.strides[a] * d as i64
            });
        if mergeable {
            let last = out_dims.len() - 1;
            out_dims[last] *= d;
            for (m, map) in maps.iter().enumerate() {
                let l = out_strides[m].len() - 1;
                out_strides[m][l] = map.strides[a];
            }
        } else {
            out_dims.push(d);
            for (m, map) in maps.iter().enumerate() {
                out_strides[m].push(map.strides[a]);
            }
        }
    }
    (out_dims, out_strides)
}

/// WGSL statements that declare `let NAME: u32` for each `(NAME, map)`: the offset
/// the map gives the linear index `idx` (a `u32` expression) over `dims`.
/// `tag` keeps coordinate names unique when several maps share one function.
pub fn offsets_code(idx: &str, dims: &[usize], maps: &[(&str, &Affine)], tag: &str) -> String {
    let affines: Vec<&Affine> = maps.iter().map(|(_, m)| *m).collect();
    let (dims, strides) = simplify(dims, &affines);
    let mut code = String::new();
    let rank = dims.len();
    let coord = |a: usize| format!("{tag}c{a}");
    // Innermost axis first; the outermost coordinate is what remains (no modulo).
    if rank == 1 {
        code.push_str(&format!("    let {} = {idx};\n", coord(0)));
    } else if rank > 1 {
        code.push_str(&format!("    var {tag}r = {idx};\n"));
        for a in (1..rank).rev() {
            code.push_str(&format!(
                "    let {} = {tag}r % {}u; {tag}r = {tag}r / {}u;\n",
                coord(a),
                dims[a],
                dims[a]
            ));
        }
        code.push_str(&format!("    let {} = {tag}r;\n", coord(0)));
    }
    for (m, (name, map)) in maps.iter().enumerate() {
        let mut terms: Vec<String> = Vec::new();
        if map.base != 0 {
            terms.push(u32_lit(map.base));
        }
        for (a, &s) in strides[m].iter().enumerate() {
            match s {
                0 => {}
                1 => terms.push(coord(a)),
                s => terms.push(format!("{} * {}", coord(a), u32_lit(s))),
            }
        }
        let expr = if terms.is_empty() {
            "0u".to_string()
        } else {
            terms.join(" + ")
        };
        code.push_str(&format!("    let {name}: u32 = {expr};\n"));
    }
    code
}

/// A WGSL function `fn NAME(i: u32) -> u32` computing one map's offset.
pub fn offset_fn(name: &str, dims: &[usize], map: &Affine) -> String {
    let body = offsets_code("i", dims, &[("o", map)], "");
    format!("fn {name}(i: u32) -> u32 {{\n{body}    return o;\n}}\n")
}

/// Storage buffers of one kernel, with operands that name the same value bound once.
pub struct BindingSet {
    pub bindings: Vec<Binding>,
    decls: Vec<(String, &'static str, Access)>,
}

impl BindingSet {
    pub fn new() -> Self {
        BindingSet {
            bindings: Vec::new(),
            decls: Vec::new(),
        }
    }

    /// Binds operand `i` (read-only) unless an already bound operand in `same` (a list of
    /// `(operand, value)` pairs) is the same value; returns the WGSL variable name.
    pub fn operand<V: PartialEq>(&mut self, i: usize, values: &[V], ty: &'static str) -> String {
        for j in 0..i {
            if values[j] == values[i] {
                if let Some(k) = self
                    .bindings
                    .iter()
                    .position(|b| b.slot == Slot::Operand(j))
                {
                    return self.decls[k].0.clone();
                }
            }
        }
        self.add(Slot::Operand(i), Access::Read, ty)
    }

    /// Binds `slot` with `access`; returns the WGSL variable name.
    pub fn add(&mut self, slot: Slot, access: Access, ty: &'static str) -> String {
        let name = match slot {
            Slot::Operand(i) => format!("src{i}"),
            Slot::Result(i) => format!("dst{i}"),
            Slot::Scratch(i) => format!("tmp{i}"),
            Slot::Table(i) => format!("tbl{i}"),
            Slot::Check(i) => format!("chk{i}"),
            Slot::Packed { operand, part } => format!("pk{operand}_{part}"),
            Slot::Range => super::super::range::NAME.to_string(),
        };
        self.add_named(slot, access, ty, name)
    }

    /// The operands bound so far, as (operand index, WGSL name).
    pub fn operands(&self) -> Vec<(usize, String)> {
        self.bindings
            .iter()
            .zip(&self.decls)
            .filter_map(|(b, d)| match b.slot {
                Slot::Operand(i) => Some((i, d.0.clone())),
                _ => None,
            })
            .collect()
    }

    /// Binds `slot` with `access` under the WGSL variable `name`; returns the name.
    pub fn add_named(
        &mut self,
        slot: Slot,
        access: Access,
        ty: &'static str,
        name: String,
    ) -> String {
        self.bindings.push(Binding {
            slot,
            access,
            range: None,
        });
        self.decls.push((name.clone(), ty, access));
        name
    }

    /// The `var<storage, ...>` declarations, binding `i` for entry `i`.
    pub fn decls(&self) -> String {
        let mut out = String::new();
        for (i, (name, ty, access)) in self.decls.iter().enumerate() {
            let mode = match access {
                Access::Read => "read",
                Access::ReadWrite => "read_write",
            };
            out.push_str(&format!(
                "@group(0) @binding({i}) var<storage, {mode}> {name}: array<{ty}>;\n"
            ));
        }
        out
    }
}

/// The WGSL storage scalar of a dtype (`f32`, `i32` or `u32`).
pub fn storage(dtype: DType) -> &'static str {
    crate::lower::wgsl_type(dtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_contiguous_axes_and_drops_ones() {
        let dims = [2, 1, 3, 4];
        let c = Affine::contiguous(&dims);
        let (d, s) = simplify(&dims, &[&c]);
        assert_eq!(d, vec![24]);
        assert_eq!(s, vec![vec![1]]);
        // A broadcast operand of shape [3, 1] keeps the axes apart.
        let b = Affine::broadcast(&[3, 1], &dims);
        assert_eq!(b.strides, vec![0, 0, 1, 0]);
        let (d, s) = simplify(&dims, &[&c, &b]);
        assert_eq!(d, vec![2, 3, 4]);
        assert_eq!(s, vec![vec![12, 4, 1], vec![0, 1, 0]]);
    }

    #[test]
    fn emits_unrolled_offsets() {
        let dims = [5, 7];
        let t = Affine {
            base: 34,
            strides: vec![-7, 1],
        }; // rows reversed
        let code = offsets_code("i", &dims, &[("a", &t)], "");
        assert!(code.contains("let c1 = r % 7u; r = r / 7u;"), "{code}");
        assert!(
            code.contains(&format!(
                "let a: u32 = 34u + c0 * {}u + c1;",
                (-7i64) as u32
            )),
            "{code}"
        );
    }

    #[test]
    fn identity_is_detected() {
        assert!(Affine::contiguous(&[2, 3]).is_identity(&[2, 3]));
        assert!(Affine::broadcast(&[2, 3], &[1, 2, 3]).is_identity(&[1, 2, 3]));
        assert!(!Affine::broadcast(&[3], &[2, 3]).is_identity(&[2, 3]));
    }
}
