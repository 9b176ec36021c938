//! The matrix-product engines shared by matmul, conv and conv-transpose: a product
//! `C[z, m, n] = Σ_k A(z, m, k) · B(z, k, n)` whose operand gathers and store are
//! WGSL helper functions written by each op, rendered into the tiled template (for
//! products at least a few rows and columns wide) or the one-output-per-invocation
//! template (for thin ones).

use crate::lower::{epilogue, grid_1d, range, render, Binding, KernelSrc, Limits, LINEAR_INDEX};
use crate::CodegenError;

/// The extent of a product: `z` independent products of `m × k` by `k × n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmShape {
    pub z: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
}

/// The WGSL an op supplies: binding declarations and the helpers
/// `fn load_a(z: u32, m: u32, k: u32) -> f32`, `fn load_b(z: u32, k: u32, n: u32) -> f32`
/// and `fn store(z: u32, m: u32, n: u32, v: R)` (which applies the epilogue), `R` the
/// result type of [`Acc`]; with `words`, `fn store4(z: u32, m: u32, n: u32, v:
/// vec4<R>)` instead, storing columns `n..n + 4` (those below N) of row `m` as whole
/// words of a narrow result ([`crate::lower::narrow::store4`]). With `load_b4`, the
/// helpers also define `fn load_b4(z: u32, k: u32, n: u32) -> vec4<f32>`, columns
/// `n..n + 4` of row k of B for `n` a multiple of 4 (one word of an 8-bit operand stored
/// packed), and N is a multiple of 4: the direct engine then computes four columns per
/// invocation. With `load_a4`, likewise `fn load_a4(z: u32, m: u32, k: u32) ->
/// vec4<f32>`, elements `k..k + 4` of row m of A for `k` a multiple of 4: the direct
/// engine then steps k four at a time where K is a multiple of 4.
pub struct GemmSource<'a> {
    pub bindings: &'a str,
    pub helpers: &'a str,
    pub acc: Acc,
    pub words: bool,
    pub load_b4: bool,
    pub load_a4: bool,
}

/// The error for a product whose engine stores single elements, asked for whole words.
fn no_word_stores(shape: GemmShape, engine: &str) -> CodegenError {
    CodegenError::WordStores(format!(
        "a {}×{}×{} product runs on the {engine} engine, whose invocations store single elements",
        shape.m, shape.k, shape.n
    ))
}

/// What a product's result is. `F32`: fused multiply-adds in f32. `I32`: an exact
/// integer product of small integers (operands within ±2^16, as `x - zero` of 8-bit
/// values are): the engine still multiplies and adds in f32, where CPU drivers and GPUs
/// are fastest, but flushes each accumulator into an i32 total at least every
/// [`Acc::FLUSH_STEPS`] steps of k, while every partial sum is an integer below 2^24 and
/// so exact; the totals wrap as the reference's i32 result does.
///
/// `Dot4`: an exact integer product of 8-bit operands packed four to a word and
/// multiplied with `dot4I8Packed` into i32 accumulators ([`super::dot4`]); its hooks
/// differ (see there). Devices with packed dot-product units run it several times faster
/// than f32; others run naga's polyfill, slower than either form above.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Acc {
    #[default]
    F32,
    I32,
    Dot4(super::dot4::Sums),
}

impl Acc {
    /// The WGSL type of the values the engine hands `store` and `store4`: `f32`, or
    /// `i32` for the integer products.
    pub fn result_type(self) -> &'static str {
        if self == Acc::F32 {
            "f32"
        } else {
            "i32"
        }
    }

    /// Most k-steps an i32 product accumulates in f32 between flushes: 256 products of
    /// at most 255 · 255 stay below 2^24.
    pub const FLUSH_STEPS: usize = 256;

    /// The i32 totals' declarations and flush (empty for f32), for `n` accumulators
    /// named by `acc(i)` and totals by `total(i)` of WGSL type `vec` (`i32`,
    /// `vec4<i32>`); `fzero` resets an accumulator.
    fn totals(
        self,
        n: usize,
        acc: impl Fn(usize) -> String,
        total: impl Fn(usize) -> String,
        (vec, fzero, indent): (&str, &str, &str),
    ) -> (String, String) {
        if self == Acc::F32 {
            return (String::new(), String::new());
        }
        let mut decl = String::new();
        let mut flush = String::new();
        for i in 0..n {
            decl.push_str(&format!("    var {} = {vec}();\n", total(i)));
            flush.push_str(&format!(
                "{indent}{t} += {vec}({a});\n{indent}{a} = {fzero};\n",
                t = total(i),
                a = acc(i)
            ));
        }
        (decl, flush)
    }
}

/// How a tiled workgroup is shaped: `wx × wy` invocations, each computing
/// `tm × tn` outputs, walking K in steps of `bk`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    pub wx: usize,
    pub wy: usize,
    pub tm: usize,
    pub tn: usize,
    pub bk: usize,
}

impl Tile {
    /// Output rows per workgroup.
    pub fn bm(&self) -> usize {
        self.wy * self.tm
    }

    /// Output columns per workgroup.
    pub fn bn(&self) -> usize {
        self.wx * self.tn
    }
}

/// 32 × 32 tiles, 4 × 4 outputs per invocation: products with few rows or columns.
const SMALL: Tile = Tile {
    wx: 8,
    wy: 8,
    tm: 4,
    tn: 4,
    bk: 32,
};

/// A tile fitting the product's aspect and the device: wide tiles for few rows
/// (matrix-vector), tall ones for few columns, 32 × 32 for small products; larger
/// ones as [`gpu_tile`] or [`cpu_tile`] choose. Workgroup memory stays under
/// WebGPU's 16 KiB default.
pub fn choose_tile(m: usize, n: usize, cpu_driver: bool) -> Tile {
    if m <= 4 {
        Tile {
            wx: 64,
            wy: 1,
            tm: m.max(1),
            tn: 2,
            bk: 16,
        }
    } else if n <= 4 {
        Tile {
            wx: 1,
            wy: 64,
            tm: 2,
            tn: n.max(1),
            bk: 16,
        }
    } else if cpu_driver {
        cpu_tile(m, n)
    } else {
        gpu_tile(m, n)
    }
}

/// GPUs: 64 × 64 tiles of 16 × 16 invocations with 4 × 4 outputs each (16
/// accumulators per thread, well inside any register file), 32 × 32 for small products.
fn gpu_tile(m: usize, n: usize) -> Tile {
    if m <= 32 || n <= 32 {
        return SMALL;
    }
    Tile {
        wx: 16,
        wy: 16,
        tm: 4,
        tn: 4,
        bk: 16,
    }
}

/// CPU drivers (llvmpipe), which run a workgroup's invocations as SIMD lanes and read
/// workgroup memory lane by lane: large register blocks (fewer workgroup-memory reads
/// per multiply) outweigh their spills. Figures are from lavapipe (Mesa 22.3, 2 cores).
fn cpu_tile(m: usize, n: usize) -> Tile {
    if m <= 16 {
        // Few output rows (a squeeze 1×1 convolution): every row of a 16-row tile is
        // used, and a wide one amortises each B tile over them.
        Tile {
            wx: 16,
            wy: 4,
            tm: 4,
            tn: 8,
            bk: 16,
        }
    } else if m <= 32 && n >= 64 {
        // 17–32 rows: 8 × 8 outputs per invocation on 8 × 4 invocations (1.3–1.6× on
        // squeezenet's 32-channel convolutions against 4 × 4 on 8 × 8).
        Tile {
            wx: 8,
            wy: 4,
            tm: 8,
            tn: 8,
            bk: 32,
        }
    } else if m <= 32 || n <= 32 {
        SMALL
    } else if m >= 128 && n >= 128 {
        // 16 × 16 outputs per invocation: 1.2–1.4× on resnet50's convolutions against
        // 16 × 8.
        Tile {
            wx: 8,
            wy: 8,
            tm: 16,
            tn: 16,
            bk: 16,
        }
    } else if m >= 128 {
        Tile {
            wx: 8,
            wy: 8,
            tm: 16,
            tn: 8,
            bk: 16,
        }
    } else {
        // 64-row products: the same 16 × 16 block on 8 × 4 invocations (1.2× against
        // 8 × 16 on 8 × 8).
        Tile {
            wx: 8,
            wy: 4,
            tm: 16,
            tn: 16,
            bk: 16,
        }
    }
}

/// Whether a product is wide enough for the tiled engine: thin products (one
/// output channel per group, as in depthwise convolution) waste most of a tile.
pub fn worth_tiling(shape: GemmShape) -> bool {
    shape.m >= 4 && shape.k >= 4
}

/// A rendered kernel: WGSL, workgroup size and counts.
pub struct GemmKernel {
    pub wgsl: String,
    pub workgroup_size: [u32; 3],
    pub workgroups: [u32; 3],
}

impl GemmKernel {
    /// The kernel named `name` with `bindings`, entry point `main`.
    pub fn into_src(self, name: &str, bindings: Vec<Binding>) -> KernelSrc {
        KernelSrc {
            name: name.to_string(),
            wgsl: self.wgsl,
            entry_point: "main".to_string(),
            workgroup_size: self.workgroup_size,
            workgroups: self.workgroups,
            bindings,
        }
    }
}

/// Renders the tiled engine for `shape` (batch entries on workgroup z).
pub fn tiled(
    shape: GemmShape,
    tile: Tile,
    src: &GemmSource,
    limits: &Limits,
) -> Result<GemmKernel, CodegenError> {
    let groups = tile_groups(shape, tile, limits)?;
    let acc = src.acc;
    let vec4 = tile.tm.is_multiple_of(4) && tile.tn.is_multiple_of(4);
    if src.words && (!vec4 || matches!(acc, Acc::Dot4(_))) {
        return Err(no_word_stores(shape, "tiled scalar or packed 8-bit"));
    }
    if let Acc::Dot4(sums) = acc {
        return super::dot4::kernel(shape, tile, src, sums, groups);
    }
    if acc == Acc::I32 && tile.bk > Acc::FLUSH_STEPS {
        return Err(CodegenError::too_large(format!(
            "an integer product flushes every {} steps of k, not {}",
            Acc::FLUSH_STEPS,
            tile.bk
        )));
    }
    let wgsl = if vec4 {
        let (rm, rn) = (tile.tm / 4, tile.tn / 4);
        let (decl, update, flush, store) = vec4_accumulators(rm, rn, acc, src.words);
        let mut values = tiled_values(shape, tile, src);
        values.extend([
            ("BK", tile.bk.to_string()),
            ("RM", rm.to_string()),
            ("RN", rn.to_string()),
            ("BM_BK4", (tile.bm() * tile.bk / 4).to_string()),
            ("BK_BN4", (tile.bk * tile.bn() / 4).to_string()),
            ("ACC_DECL", decl),
            ("ACC_UPDATE", update),
            ("ACC_FLUSH", flush),
            ("ACC_STORE", store),
            ("T", "f32".to_string()),
            ("ZERO", "0.0".to_string()),
        ]);
        render(kiln_shaders::MATMUL_TILED_VEC4, &values)?
    } else {
        let mut values = tiled_values(shape, tile, src);
        values.extend([
            ("TM", tile.tm.to_string()),
            ("TN", tile.tn.to_string()),
            ("BK", tile.bk.to_string()),
            ("BM_BK", (tile.bm() * tile.bk).to_string()),
            ("BK_BN", (tile.bk * tile.bn()).to_string()),
            ("TM_TN", (tile.tm * tile.tn).to_string()),
            ("T", "f32".to_string()),
            ("ZERO", "0.0".to_string()),
            ("FMA", "fma".to_string()),
            ("TOTAL_DECL", scalar_totals(acc, tile.tm * tile.tn).0),
            ("FLUSH", scalar_totals(acc, tile.tm * tile.tn).1),
            (
                "RESULT",
                if acc == Acc::F32 { "acc" } else { "total" }.to_string(),
            ),
        ]);
        render(kiln_shaders::MATMUL_TILED, &values)?
    };
    Ok(GemmKernel {
        wgsl,
        workgroup_size: [tile.wx as u32, tile.wy as u32, 1],
        workgroups: groups,
    })
}

/// The placeholders every tiled template shares: bindings, the product's extent, the
/// workgroup's shape and the op's helpers.
pub(super) fn tiled_values(
    shape: GemmShape,
    tile: Tile,
    src: &GemmSource,
) -> Vec<(&'static str, String)> {
    let mut values = vec![
        ("BINDINGS", src.bindings.to_string()),
        ("M", shape.m.to_string()),
        ("N", shape.n.to_string()),
        ("K", shape.k.to_string()),
        ("WX", tile.wx.to_string()),
        ("WY", tile.wy.to_string()),
    ];
    values.extend(hooks(src));
    values
}

/// The placeholders around the op's helpers every engine template shares: the helpers
/// (a range fold deferred to the end of each invocation: [`range::defer`]; the
/// epilogue's hoisted values computed up front: [`epilogue::eager`]), what each
/// invocation runs first ([`init`]) and what it runs after its last store.
fn hooks(src: &GemmSource) -> [(&'static str, String); 3] {
    let (helpers, finish) = range::defer(src.helpers);
    [
        ("HELPERS", epilogue::eager(&helpers)),
        ("INIT", init(src)),
        ("FINISH", finish.to_string()),
    ]
}

/// The statements each invocation runs first: computing the hoisted values of a
/// prologue among the helpers ([`crate::lower::prologue`]) once, before any load.
fn init(src: &GemmSource) -> String {
    crate::lower::prologue::init_call(src.helpers)
}

/// The workgroup grid of a tiled product: columns of tiles, rows of tiles, batches;
/// an error past the device's limit per dimension.
pub(super) fn tile_groups(
    shape: GemmShape,
    tile: Tile,
    limits: &Limits,
) -> Result<[u32; 3], CodegenError> {
    let max = limits.max_compute_workgroups_per_dimension as usize;
    let groups = [
        shape.n.div_ceil(tile.bn()),
        shape.m.div_ceil(tile.bm()),
        shape.z,
    ];
    if groups.iter().any(|&g| g > max) {
        return Err(CodegenError::too_large(format!(
            "a {}×{}×{} product in {} batches needs {groups:?} workgroups, over the limit of {max} per dimension",
            shape.m, shape.k, shape.n, shape.z
        )));
    }
    Ok(groups.map(|g| g.max(1) as u32))
}

/// WGSL for the vec4 engine's `4·rm × 4·rn` accumulators: declarations and the update
/// for one step of k (reading vec4s `tile_a[ar + r]`, `tile_b[br + c]`), unrolled in
/// text because CPU drivers keep dynamically indexed private arrays in memory; and the
/// bounds-checked stores from rows `mb + i`, columns `nb + j`, as a loop that picks
/// each accumulator with a `switch`, so the store (and the epilogue inlined into it)
/// appears once in the kernel rather than once per output: unrolled, it made large
/// blocks slow for drivers to compile. With `words`, each vec4 of four columns is one
/// `store4` (whole words of a narrow result).
fn vec4_accumulators(
    rm: usize,
    rn: usize,
    acc: Acc,
    words: bool,
) -> (String, String, String, String) {
    let (mut decl, mut update) = (String::new(), String::new());
    for r in 0..rm {
        update.push_str(&format!("            let a{r} = tile_a[ar + {r}u];\n"));
    }
    for c in 0..rn {
        update.push_str(&format!("            let b{c} = tile_b[br + {c}u];\n"));
    }
    let mut cases = String::new();
    for i in 0..4 * rm {
        let (r, lane) = (i / 4, LANES[i % 4]);
        for c in 0..rn {
            decl.push_str(&format!("    var c{i}_{c} = vec4<f32>(0.0);\n"));
            update.push_str(&format!(
                "            c{i}_{c} = fma(vec4<f32>(a{r}.{lane}), b{c}, c{i}_{c});\n"
            ));
            // The store reads the f32 accumulators or the i32 totals.
            let read = if acc == Acc::F32 { "c" } else { "t" };
            cases.push_str(&format!(
                "            case {}u: {{ acc = {read}{i}_{c}; }}\n",
                i * rn + c
            ));
        }
    }
    let names: Vec<(usize, usize)> = (0..4 * rm)
        .flat_map(|i| (0..rn).map(move |c| (i, c)))
        .collect();
    let (total_decl, flush) = acc.totals(
        names.len(),
        |k| format!("c{}_{}", names[k].0, names[k].1),
        |k| format!("t{}_{}", names[k].0, names[k].1),
        ("vec4<i32>", "vec4<f32>(0.0)", "        "),
    );
    decl.push_str(&total_decl);
    let t = acc.result_type();
    let zero = if acc == Acc::F32 { "0.0" } else { "0i" };
    let stores = if words {
        "        if (m < M && n < N) {\n            store4(z, m, n, acc);\n        }\n".to_string()
    } else {
        "        for (var j = 0u; j < 4u; j++) {\n            if (m < M && n + j < N) {\n                \
         store(z, m, n + j, acc[j]);\n            }\n        }\n"
            .to_string()
    };
    let store = format!(
        "    for (var t = 0u; t < {blocks}u; t++) {{\n        var acc = vec4<{t}>({zero});\n        \
         switch t {{\n{cases}            default: {{}}\n        }}\n        \
         let m = mb + t / {rn}u;\n        let n = nb + (t % {rn}u) * 4u;\n{stores}    }}\n",
        blocks = 4 * rm * rn,
    );
    (decl, update, flush, store)
}

/// The scalar tiled engine's i32 totals (`TOTAL_DECL`) and their flush after each tile
/// of k (`FLUSH`); both empty for f32.
fn scalar_totals(acc: Acc, n: usize) -> (String, String) {
    if acc == Acc::F32 {
        return (String::new(), String::new());
    }
    (
        format!("    var total: array<i32, {n}>;\n"),
        format!(
            "        for (var i = 0u; i < {n}u; i++) {{\n            total[i] += i32(acc[i]);\n            \
             acc[i] = 0.0;\n        }}\n"
        ),
    )
}

/// The components of a WGSL `vec4`, in order.
const LANES: [&str; 4] = ["x", "y", "z", "w"];

/// Workgroup size of the direct engine.
const NAIVE_WG: u32 = 64;
/// Most rows one invocation of the direct engine computes (all of them, up to this).
pub const NAIVE_ROWS: usize = 4;

/// Renders the direct engine for `shape`.
pub fn naive(
    shape: GemmShape,
    src: &GemmSource,
    limits: &Limits,
) -> Result<GemmKernel, CodegenError> {
    let total = shape.z * shape.m * shape.n;
    if total > u32::MAX as usize {
        return Err(CodegenError::too_large(format!(
            "{total} outputs exceed 32-bit indexing"
        )));
    }
    let rm = naive_rows(shape.m);
    let acc = src.acc;
    if src.words {
        return Err(no_word_stores(shape, "direct"));
    }
    if matches!(acc, Acc::Dot4(_)) {
        return Err(CodegenError::Template(format!(
            "a {}×{}×{} product is too thin for the packed 8-bit engine",
            shape.m, shape.k, shape.n
        )));
    }
    // Columns per invocation: four where B is read a word of four columns at a time;
    // steps of k per iteration: four where A is read a word of four elements at a time.
    let cw = if src.load_b4 && shape.n.is_multiple_of(4) {
        4
    } else {
        1
    };
    let kw = if src.load_a4 && shape.k.is_multiple_of(4) {
        4
    } else {
        1
    };
    // The accumulators' zero, an A element as an accumulator, the totals' type.
    let (fzero, splat, ity): (&str, fn(&str) -> String, &str) = if cw == 4 {
        ("vec4<f32>(0.0)", |a| format!("vec4<f32>({a})"), "vec4<i32>")
    } else {
        ("0.0", str::to_string, "i32")
    };
    let load_b = if cw == 4 { "load_b4" } else { "load_b" };
    let (mut decl, mut update, mut store) = (String::new(), String::new(), String::new());
    // One step of k per B row read: `k`, or `k..k + 4` from the A words `a{i}`.
    if kw == 4 {
        for i in 0..rm {
            update.push_str(&format!(
                "            let a{i} = load_a4(z, m0 + {i}u, k);\n"
            ));
        }
    }
    for (j, lane) in LANES[..kw].iter().enumerate() {
        let k = if j == 0 {
            "k".to_string()
        } else {
            format!("k + {j}u")
        };
        update.push_str(&format!("            let b{j} = {load_b}(z, {k}, n);\n"));
        for i in 0..rm {
            let a = if kw == 4 {
                format!("a{i}.{lane}")
            } else {
                format!("load_a(z, m0 + {i}u, k)")
            };
            update.push_str(&format!(
                "            acc{i} = fma({}, b{j}, acc{i});\n",
                splat(&a)
            ));
        }
    }
    for i in 0..rm {
        decl.push_str(&format!("    var acc{i} = {fzero};\n"));
        let value = if acc == Acc::F32 {
            format!("acc{i}")
        } else {
            format!("total{i} + {ity}(acc{i})")
        };
        if cw == 1 {
            store.push_str(&format!("    store(z, m0 + {i}u, n, {value});\n"));
        } else {
            store.push_str(&format!("    let v{i} = {value};\n"));
            for (j, lane) in LANES.iter().enumerate() {
                store.push_str(&format!(
                    "    store(z, m0 + {i}u, n + {j}u, v{i}.{lane});\n"
                ));
            }
        }
    }
    let (totals, flush) = acc.totals(
        rm,
        |i| format!("acc{i}"),
        |i| format!("total{i}"),
        (ity, fzero, "        "),
    );
    decl.push_str(&totals);
    // K is walked in steps between flushes (one step for f32 accumulators), so the
    // inner loop carries no flush test.
    let kstep = match acc {
        Acc::F32 => shape.k.max(1),
        Acc::I32 | Acc::Dot4(_) => Acc::FLUSH_STEPS,
    };
    let mut values = vec![
        ("BINDINGS", src.bindings.to_string()),
        ("M", shape.m.to_string()),
        ("N", shape.n.to_string()),
        ("K", shape.k.to_string()),
        ("Z", shape.z.to_string()),
        ("RM", rm.to_string()),
        ("CW", cw.to_string()),
        ("KW", kw.to_string()),
        ("WG", NAIVE_WG.to_string()),
        ("LINEAR_INDEX", LINEAR_INDEX.to_string()),
        ("ACC_DECL", decl),
        ("ACC_UPDATE", update),
        ("ACC_FLUSH", flush),
        ("KSTEP", format!("{kstep}u")),
        ("ACC_STORE", store),
    ];
    values.extend(hooks(src));
    let wgsl = render(kiln_shaders::MATMUL_NAIVE, &values)?;
    Ok(GemmKernel {
        wgsl,
        workgroup_size: [NAIVE_WG, 1, 1],
        workgroups: grid_1d(total / rm / cw, NAIVE_WG, limits)?,
    })
}

/// Rows one invocation of the direct engine computes: up to [`NAIVE_ROWS`], so a
/// matrix-vector product reads B once.
fn naive_rows(m: usize) -> usize {
    if m <= NAIVE_ROWS {
        m.max(1)
    } else {
        1
    }
}

/// How many times the engine [`either`] picks for `shape` loads each element of B
/// (the right operand): once per block of output rows it computes together.
pub fn b_loads(shape: GemmShape, cpu_driver: bool) -> usize {
    let rows = if worth_tiling(shape) {
        choose_tile(shape.m, shape.n, cpu_driver).bm()
    } else {
        naive_rows(shape.m)
    };
    shape.m.div_ceil(rows).max(1)
}

/// How many times a matmul of `m` rows and `n` columns (as `matmul.rs` renders it: the
/// direct engine up to [`NAIVE_ROWS`] rows, else tiled) loads each element of A (the
/// left operand): once per output column on the direct engine, once per block of
/// columns on the tiled one.
pub fn a_loads(m: usize, n: usize, cpu_driver: bool) -> usize {
    if m <= NAIVE_ROWS {
        n.max(1)
    } else {
        n.div_ceil(choose_tile(m, n, cpu_driver).bn()).max(1)
    }
}

/// The tiled engine when the product is wide enough, the direct one otherwise.
pub fn either(
    shape: GemmShape,
    src: &GemmSource,
    limits: &Limits,
) -> Result<GemmKernel, CodegenError> {
    if worth_tiling(shape) {
        tiled(
            shape,
            choose_tile(shape.m, shape.n, limits.cpu_driver),
            src,
            limits,
        )
    } else {
        naive(shape, src, limits)
    }
}

/// A WGSL function `fn NAME(z: u32) -> u32` giving the element offset of batch entry
/// `z` (row-major over `batch`) in an operand whose own batch dims are `dims`
/// (right-aligned, size-1 dims broadcast) with element strides `strides`.
pub fn batch_offset_fn(name: &str, batch: &[usize], dims: &[usize], strides: &[usize]) -> String {
    let lead = batch.len() - dims.len();
    let aligned: Vec<i64> = (0..batch.len())
        .map(|axis| match axis.checked_sub(lead) {
            Some(i) if dims[i] != 1 => strides[i] as i64,
            _ => 0,
        })
        .collect();
    batch_strides_fn(name, batch, &aligned)
}

/// A WGSL function `fn NAME(z: u32) -> u32` giving the element offset of batch entry
/// `z` (row-major over `batch`) where batch axis `i` moves the offset by `strides[i]`
/// (0 for a broadcast axis).
pub fn batch_strides_fn(name: &str, batch: &[usize], strides: &[i64]) -> String {
    let mut body = String::from("    var r = z;\n    var off = 0u;\n");
    for (&d, &s) in batch.iter().zip(strides).rev() {
        if s != 0 {
            body.push_str(&format!("    off += (r % {d}u) * {s}u;\n"));
        }
        body.push_str(&format!("    r = r / {d}u;\n"));
    }
    format!("fn {name}(z: u32) -> u32 {{\n{body}    return off;\n}}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_offsets_broadcast_size_one_dims() {
        let f = batch_offset_fn("a_batch", &[2, 3], &[3], &[12]);
        assert!(f.contains("off += (r % 3u) * 12u;"), "{f}");
        assert!(!f.contains("% 2u) *"), "{f}");
    }

    #[test]
    fn tiles_follow_the_aspect() {
        for cpu in [false, true] {
            let tile = |m, n| choose_tile(m, n, cpu);
            assert_eq!(tile(1, 4096).bm(), 1);
            assert_eq!(tile(4096, 1).bn(), 1);
            assert_eq!((tile(32, 40).bm(), tile(32, 40).bn()), (32, 32));
            for (m, n) in [
                (7, 257),
                (30, 300),
                (33, 33),
                (64, 256),
                (256, 256),
                (2, 9),
                (9, 2),
            ] {
                let t = tile(m, n);
                assert!((t.bm() * t.bk + t.bk * t.bn()) * 4 <= 16384, "{m}×{n}");
                assert!(t.wx * t.wy <= 256, "{m}×{n}");
            }
        }
        // GPUs: 64 × 64 tiles, 16 accumulators per invocation.
        let t = choose_tile(256, 256, false);
        assert_eq!((t.bm(), t.bn(), t.tm * t.tn), (64, 64, 16));
        // CPU drivers: larger blocks.
        let cpu = |m, n| choose_tile(m, n, true);
        assert_eq!((cpu(256, 256).bm(), cpu(256, 256).bn()), (128, 128));
        assert_eq!(cpu(256, 49).bn(), 64);
        assert_eq!(cpu(64, 256).bn(), 128);
        assert_eq!(cpu(16, 3025).bm(), 16);
        assert_eq!((cpu(32, 729).bm(), cpu(32, 729).bn()), (32, 64));
    }

    #[test]
    fn vec4_accumulators_cover_every_output_once() {
        let (decl, update, _, store) = vec4_accumulators(2, 1, Acc::F32, false);
        assert_eq!(decl.matches("var c").count(), 8);
        assert!(
            update.contains("c7_0 = fma(vec4<f32>(a1.w), b0, c7_0);"),
            "{update}"
        );
        // One store site; eight accumulators picked in turn, the last one for row 7.
        assert_eq!(store.matches("store(z,").count(), 1);
        assert_eq!(store.matches("case ").count(), 8);
        assert!(store.contains("case 7u: { acc = c7_0; }"), "{store}");
        assert!(store.contains("t < 8u"), "{store}");
    }
}
