//! Activations stored at their dtype's width ("narrow"): 8-bit integers four to a
//! 32-bit word, 16-bit integers and f16 two, lowest bits first, instead of one word per
//! element.
//!
//! The plan builder stores an intermediate tensor narrow where its producer writes
//! whole words ([`super::PlacementSupport::narrow_write`]: an element-wise kernel
//! computes all the elements of one word per invocation; a product on the tiled vec4
//! engine stores four columns of a row at once through [`store4`]), so no two
//! invocations share a word, and every reader decodes it where it loads an element
//! ([`super::PlacementSupport::narrow_reads`]); [`super::Placement::narrow`] tells the
//! lowering. A reader gets the element in the type kernels compute the dtype in (`u32`
//! or `i32` for integers, sign-extended by `extractBits` on an `i32` binding; `f32` for
//! f16), exactly the value a one-word-per-element tensor would hold. A product whose
//! engine stores single elements answers [`crate::CodegenError::WordStores`], and the
//! builder stores its result one word per element instead.

use kiln_ir::DType;

/// Elements per 32-bit word when a tensor of `dtype` may be stored narrow; `None` for
/// dtypes that keep one word per element.
pub fn per_word(dtype: DType) -> Option<u32> {
    match dtype {
        DType::U8 | DType::I8 => Some(4),
        DType::U16 | DType::I16 | DType::F16 => Some(2),
        _ => None,
    }
}

/// Bytes of a narrow tensor of `numel` elements of `dtype` (whole words, never zero).
pub fn bytes(dtype: DType, numel: usize) -> Option<u64> {
    per_word(dtype).map(|per| (numel.div_ceil(per as usize).max(1) * 4) as u64)
}

/// The dtype of a narrow tensor's words: `i32` for signed integers (so `extractBits`
/// sign-extends), `u32` otherwise.
pub fn word_dtype(dtype: DType) -> DType {
    match dtype {
        DType::I8 | DType::I16 => DType::I32,
        _ => DType::U32,
    }
}

/// The WGSL expression reading element `off` (a `u32` expression) of the narrow tensor
/// of `dtype` bound as `buf`.
pub fn read(dtype: DType, buf: &str, off: &str) -> String {
    let per = per_word(dtype).unwrap_or(1);
    let bits = 32 / per;
    let word = format!("{buf}[({off}) / {per}u]");
    let shift = format!("(({off}) % {per}u) * {bits}u");
    if dtype == DType::F16 {
        format!("unpack2x16float(extractBits({word}, {shift}, 16u)).x")
    } else {
        format!("extractBits({word}, {shift}, {bits}u)")
    }
}

/// The `vec4<i32>` WGSL expression of the four elements of `word` (a word expression of
/// a narrow 8-bit tensor of `dtype`, bound with [`word_dtype`]), lowest bits first:
/// sign-extended for signed dtypes, zero-extended for unsigned ones.
pub fn lanes4(dtype: DType, word: &str) -> String {
    let lanes: Vec<String> = (0..4)
        .map(|i| format!("extractBits({word}, {}u, 8u)", 8 * i))
        .collect();
    let lanes = lanes.join(", ");
    if word_dtype(dtype) == DType::I32 {
        format!("vec4<i32>({lanes})")
    } else {
        format!("vec4<i32>(vec4<u32>({lanes}))")
    }
}

/// The WGSL expression giving the bits a narrow tensor of `dtype` stores for `value`,
/// an expression of type `ty` (`u32` or `i32` for integers; `f32` for an f16 value, or
/// `u32` for its f32 bits, as `Where` moves words); [`pack_helpers`] names the helper
/// it calls. Only the low bits of the result count.
pub fn bits(dtype: DType, value: &str, ty: &str) -> String {
    match (dtype, ty) {
        (DType::F16, "f32") => format!("k_f16_bits({value})"),
        (DType::F16, _) => format!("k_f16_bits(bitcast<f32>({value}))"),
        (_, "i32") => format!("bitcast<u32>({value})"),
        _ => value.to_string(),
    }
}

/// The math helpers [`bits`] calls for `dtype`.
pub fn pack_helpers(dtype: DType) -> &'static [&'static str] {
    if dtype == DType::F16 {
        &["k_f16_bits"]
    } else {
        &[]
    }
}

/// `fn store4(z: u32, m: u32, n: u32, v4: vec4<R>)` for a product engine storing whole
/// words of the narrow result `dst` of `dtype` ([`super::matmul::engine::GemmSource`]'s
/// `words`; `R` is `r`): `pre` (statements deriving what follows from `z` and `m`, such
/// as `row`), then for each column `col = n + j` below `N` its element `idx = index`
/// and stored value `value` (an expression of WGSL type `ty` over `v`, `row`, `col` and
/// `idx`), packed into the one word (8-bit) or two (16-bit) the four columns fill. They
/// do when `n` is a multiple of 4 (the engine's) and the result's rows of `row`
/// consecutive elements hold whole words; [`crate::CodegenError::WordStores`] where
/// they do not.
pub fn store4(
    dtype: DType,
    row: usize,
    r: &str,
    dst: &str,
    pre: &str,
    index: &str,
    value: (&str, &str),
) -> Result<String, crate::CodegenError> {
    if let Some(e) = rows_split_words(dtype, row) {
        return Err(e);
    }
    let helpers: std::collections::BTreeSet<&str> = pack_helpers(dtype).iter().copied().collect();
    let helpers = super::elementwise::math::helpers(&helpers)?;
    let per = per_word(dtype).unwrap_or(1);
    let width = 32 / per;
    let stored = bits(dtype, value.0, value.1);
    // Each word's first element, found where it is computed: the two words of 16-bit
    // values need not be adjacent (a conv's columns n + 2 and n + 3 may start the next
    // image).
    let second = if per == 2 {
        format!("    if (n + 2u < N) {{\n        {dst}[first[1] / 2u] = words[1];\n    }}\n")
    } else {
        String::new()
    };
    Ok(format!(
        "{helpers}fn store4(z: u32, m: u32, n: u32, v4: vec4<{r}>) {{\n{pre}    var words = array<u32, 2>(0u, 0u);\n    \
         var first = array<u32, 2>(0u, 0u);\n    for (var j = 0u; j < 4u; j++) {{\n        let col = n + j;\n        \
         if (col >= N) {{\n            break;\n        }}\n        let v = v4[j];\n        let idx = {index};\n        \
         if (j % {per}u == 0u) {{\n            first[j / {per}u] = idx;\n        }}\n        \
         words[j / {per}u] |= extractBits({stored}, 0u, {width}u) << ((j % {per}u) * {width}u);\n    }}\n    \
         {dst}[first[0] / {per}u] = words[0];\n{second}}}\n"
    ))
}

/// Why the product storing a narrow result of `dtype` in rows of `row` elements cannot
/// store whole words of it (a word would straddle two rows), or `None` when it can.
fn rows_split_words(dtype: DType, row: usize) -> Option<crate::CodegenError> {
    let per = per_word(dtype)? as usize;
    (!row.is_multiple_of(per)).then(|| {
        crate::CodegenError::WordStores(format!("rows of {row} elements split words of {per}"))
    })
}
