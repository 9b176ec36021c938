//! Which weights each pruning mode zeroes, on a layer's weights seen as a matrix of
//! reduction × outputs ([`Matrix`]).

/// How a weight tensor's elements map onto (reduction index, output index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Matrix {
    /// Length of the reduction axis (a convolution's `C_in/group · k...`).
    pub reduction: usize,
    /// Outputs (a convolution's output channels, a matmul's columns).
    pub outputs: usize,
    /// Element `(r, o)` is at `r · r_stride + o · o_stride`.
    pub r_stride: usize,
    pub o_stride: usize,
}

impl Matrix {
    fn at(&self, r: usize, o: usize) -> usize {
        r * self.r_stride + o * self.o_stride
    }
}

/// Zeroes the `count` elements of `w` with the smallest |w| (ties by position).
pub fn smallest(w: &mut [f32], count: usize) {
    let mut order: Vec<usize> = (0..w.len()).collect();
    order.sort_by(|&a, &b| w[a].abs().total_cmp(&w[b].abs()).then(a.cmp(&b)));
    for &i in order.iter().take(count) {
        w[i] = 0.0;
    }
}

/// Zeroes every element with |w| below `threshold`.
pub fn below(w: &mut [f32], threshold: f32) {
    for v in w.iter_mut().filter(|v| v.abs() < threshold) {
        *v = 0.0;
    }
}

/// The |w| below which the smallest `fraction` of all `layers`' weights lie.
pub fn global_threshold<'a>(layers: impl Iterator<Item = &'a [f32]>, fraction: f64) -> f32 {
    let mut all: Vec<f32> = layers.flat_map(|w| w.iter().map(|v| v.abs())).collect();
    if all.is_empty() {
        return 0.0;
    }
    let k = ((all.len() as f64 * fraction) as usize).min(all.len() - 1);
    let (_, &mut t, _) = all.select_nth_unstable_by(k, f32::total_cmp);
    t
}

/// Zeroes the `rows × cols` blocks of `m` (partial at the edges) with the smallest L2
/// norm, `fraction` of them.
pub fn blocks(w: &mut [f32], m: Matrix, (rows, cols): (usize, usize), fraction: f64) {
    let (rb, cb) = (m.reduction.div_ceil(rows), m.outputs.div_ceil(cols));
    let cells = |b: usize| {
        let (br, bc) = (b / cb, b % cb);
        (br * rows..((br + 1) * rows).min(m.reduction))
            .flat_map(move |r| (bc * cols..((bc + 1) * cols).min(m.outputs)).map(move |o| (r, o)))
    };
    let norms: Vec<f64> = (0..rb * cb)
        .map(|b| cells(b).map(|(r, o)| (w[m.at(r, o)] as f64).powi(2)).sum())
        .collect();
    let mut order: Vec<usize> = (0..norms.len()).collect();
    order.sort_by(|&a, &b| norms[a].total_cmp(&norms[b]).then(a.cmp(&b)));
    let count = (norms.len() as f64 * fraction).round() as usize;
    for &b in order.iter().take(count) {
        for (r, o) in cells(b) {
            w[m.at(r, o)] = 0.0;
        }
    }
}

/// Keeps the `keep` largest |w| of every `group` consecutive weights along the
/// reduction axis of each output (ties: the earlier kept); `None` when the reduction
/// is not a multiple of `group`.
pub fn n_of_m(w: &mut [f32], m: Matrix, keep: usize, group: usize) -> Option<()> {
    if !m.reduction.is_multiple_of(group) {
        return None;
    }
    for o in 0..m.outputs {
        for g in 0..m.reduction / group {
            let mut idx: Vec<usize> = (0..group).map(|p| m.at(g * group + p, o)).collect();
            idx.sort_by(|&a, &b| w[b].abs().total_cmp(&w[a].abs()).then(a.cmp(&b)));
            for &i in &idx[keep..] {
                w[i] = 0.0;
            }
        }
    }
    Some(())
}
