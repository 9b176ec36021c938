//! The data-dependent selections (NonZero, Compress, NonMaxSuppression, Unique): the
//! upper-bound result, selected entries first and the rest zero, and the count
//! ([`crate::Extent`]).

use crate::{map_data, Data, Shape, Tensor, TensorType};

/// The count result.
fn count(n: usize) -> Result<Tensor, String> {
    Tensor::new(Shape(vec![]), Data::I32(vec![n as i32])).map_err(|e| e.to_string())
}

/// `(outer, len, inner)` of the slices along `axis`, or of `x`'s elements when `None`.
fn slices(dims: &[usize], axis: Option<usize>) -> Result<(usize, usize, usize), String> {
    match axis {
        None => Ok((1, dims.iter().product(), 1)),
        Some(a) => super::movement::around(dims, a),
    }
}

/// A result of type `ty` whose axis is `bound` slices long: `x`'s slices `picked`
/// (positions along the axis of `split`) first, in that order, zeros after.
fn gather_slices(
    x: &Tensor,
    (outer, len, inner): (usize, usize, usize),
    picked: &[usize],
    bound: usize,
    ty: &TensorType,
) -> Result<Tensor, String> {
    // The picked slices, then copies of element 0 (zeroed below) for the padding.
    let mut take = Vec::with_capacity(outer * bound * inner);
    let mut pad = Vec::with_capacity(outer * bound * inner);
    for o in 0..outer {
        for j in 0..bound {
            for i in 0..inner {
                match picked.get(j) {
                    Some(&k) => {
                        take.push((o * len + k) * inner + i);
                        pad.push(false);
                    }
                    None => {
                        take.push(0);
                        pad.push(true);
                    }
                }
            }
        }
    }
    let gathered = x.data().take(&take);
    let data = map_data!(&gathered, v => v
        .iter()
        .zip(&pad)
        .map(|(x, &p)| if p { Default::default() } else { *x })
        .collect());
    Tensor::new(ty.shape.clone(), data).map_err(|e| e.to_string())
}

/// NonZero: `[rank, numel]` coordinates of the non-zero elements, then their count.
pub fn non_zero(x: &Tensor, out: &[TensorType]) -> Result<Vec<Tensor>, String> {
    let dims = x.shape().dims();
    let (rank, numel) = (dims.len(), x.numel());
    let values = x.data().to_f64_vec();
    let mut coords = vec![0i32; rank * numel];
    let mut n = 0;
    for (flat, v) in values.iter().enumerate() {
        if *v != 0.0 {
            let mut rest = flat;
            for d in (0..rank).rev() {
                coords[d * numel + n] = (rest % dims[d]) as i32;
                rest /= dims[d];
            }
            n += 1;
        }
    }
    let ty = out.first().ok_or("no result type")?;
    let indices = Tensor::new(ty.shape.clone(), Data::I32(coords)).map_err(|e| e.to_string())?;
    Ok(vec![indices, count(n)?])
}

/// Compress: the slices of `x` along `axis` (of `x` flattened when `None`) where
/// `condition` holds, first, the rest zero; then their count.
pub fn compress(
    axis: Option<usize>,
    x: &Tensor,
    condition: &Tensor,
    out: &[TensorType],
) -> Result<Vec<Tensor>, String> {
    let ty = out.first().ok_or("no result type")?;
    let split = slices(x.shape().dims(), axis)?;
    let bound = match axis {
        None => ty.shape.dims()[0],
        Some(a) => ty.shape.dims()[a],
    };
    let keep: Vec<usize> = match &*condition.data() {
        Data::Bool(c) => (0..bound).filter(|&i| c[i]).collect(),
        _ => return Err("condition must be bool".into()),
    };
    let y = gather_slices(x, split, &keep, bound, ty)?;
    Ok(vec![y, count(keep.len())?])
}

/// Whether box `a` suppresses box `b` (ONNX's `suppress_by_iou`, in f32 in its order):
/// corners `[y1, x1, y2, x2]` in either order, or `[x_center, y_center, width, height]`.
pub fn suppresses(a: &[f32], b: &[f32], center_point_box: bool, iou_threshold: f32) -> bool {
    let span = |lo: f32, hi: f32| if lo >= hi { (hi, lo) } else { (lo, hi) };
    let extent = |bx: &[f32], axis: usize| {
        if center_point_box {
            // axis 0: x from (center 0, width 2); axis 1: y from (center 1, height 3).
            let half = bx[2 + axis] / 2.0;
            (bx[axis] - half, bx[axis] + half)
        } else {
            // axis 0: x from columns 1 and 3; axis 1: y from columns 0 and 2.
            let (i, j) = if axis == 0 { (1, 3) } else { (0, 2) };
            span(bx[i], bx[j])
        }
    };
    let ((ax0, ax1), (bx0, bx1)) = (extent(a, 0), extent(b, 0));
    let (ix0, ix1) = (ax0.max(bx0), ax1.min(bx1));
    if ix1 <= ix0 {
        return false;
    }
    let ((ay0, ay1), (by0, by1)) = (extent(a, 1), extent(b, 1));
    let (iy0, iy1) = (ay0.max(by0), ay1.min(by1));
    if iy1 <= iy0 {
        return false;
    }
    let inter = (ix1 - ix0) * (iy1 - iy0);
    if inter <= 0.0 {
        return false;
    }
    let area_a = (ax1 - ax0) * (ay1 - ay0);
    let area_b = (bx1 - bx0) * (by1 - by0);
    let union = area_a + area_b - inter;
    if area_a <= 0.0 || area_b <= 0.0 || union <= 0.0 {
        return false;
    }
    inter / union > iou_threshold
}

/// NonMaxSuppression: `(batch, class, box)` rows of the kept boxes, then their count.
pub fn non_max_suppression(
    [boxes, scores]: [&Tensor; 2],
    [iou, score]: [&Tensor; 2],
    (center_point_box, max_per_class, use_score): (bool, usize, bool),
    out: &[TensorType],
) -> Result<Vec<Tensor>, String> {
    let ty = out.first().ok_or("no result type")?;
    let f32s = |t: &Tensor| match &*t.data() {
        Data::F32(v) => Ok(v.clone()),
        _ => Err("non_max_suppression takes f32 operands".to_string()),
    };
    let (bx, sc) = (f32s(boxes)?, f32s(scores)?);
    let (iou, score) = (f32s(iou)?[0], f32s(score)?[0]);
    let [batches, classes, n] = [
        boxes.shape().dims()[0],
        scores.shape().dims()[1],
        boxes.shape().dims()[1],
    ];
    let mut rows = Vec::new();
    for b in 0..batches {
        for c in 0..classes {
            let s = &sc[(b * classes + c) * n..][..n];
            let mut order: Vec<usize> = (0..n).filter(|&i| !use_score || s[i] > score).collect();
            // Descending score, lower index first on ties (a stable sort keeps index order).
            order.sort_by(|&i, &j| s[j].partial_cmp(&s[i]).unwrap_or(std::cmp::Ordering::Equal));
            let boxed = |i: usize| &bx[(b * n + i) * 4..][..4];
            let mut kept: Vec<usize> = Vec::new();
            for i in order {
                if kept.len() >= max_per_class {
                    break;
                }
                if !kept
                    .iter()
                    .any(|&k| suppresses(boxed(i), boxed(k), center_point_box, iou))
                {
                    kept.push(i);
                    rows.extend([b as i32, c as i32, i as i32]);
                }
            }
        }
    }
    let count_rows = rows.len() / 3;
    rows.resize(ty.shape.numel(), 0);
    let indices = Tensor::new(ty.shape.clone(), Data::I32(rows)).map_err(|e| e.to_string())?;
    Ok(vec![indices, count(count_rows)?])
}

/// Unique: the distinct slices along `axis` (elements of `x` flattened when `None`),
/// sorted or in first-occurrence order, with first positions, the inverse map and
/// counts; the lists padded with zeros; then the number of distinct slices.
pub fn unique(
    axis: Option<usize>,
    sorted: bool,
    x: &Tensor,
    out: &[TensorType],
) -> Result<Vec<Tensor>, String> {
    let (outer, len, inner) = slices(x.shape().dims(), axis)?;
    let values = x.data().to_f64_vec();
    // The flat positions of slice j, in lexicographic (row-major) order.
    let slice = |j: usize| -> Vec<usize> {
        (0..outer)
            .flat_map(|o| (0..inner).map(move |i| (o * len + j) * inner + i))
            .collect()
    };
    let key = |j: usize| -> Vec<f64> { slice(j).iter().map(|&p| values[p]).collect() };
    let keys: Vec<Vec<f64>> = (0..len).map(key).collect();
    // First occurrences, in order.
    let mut firsts: Vec<usize> = Vec::new();
    for j in 0..len {
        if !firsts.iter().any(|&f| keys[f] == keys[j]) {
            firsts.push(j);
        }
    }
    if sorted {
        firsts.sort_by(|&a, &b| {
            keys[a]
                .iter()
                .zip(&keys[b])
                .map(|(p, q)| p.partial_cmp(q).unwrap_or(std::cmp::Ordering::Equal))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    }
    let k = firsts.len();
    let place = |j: usize| firsts.iter().position(|&f| keys[f] == keys[j]).unwrap_or(0);
    let list = |v: Vec<usize>| -> Result<Tensor, String> {
        let mut v: Vec<i32> = v.into_iter().map(|x| x as i32).collect();
        v.resize(len, 0);
        Tensor::new(Shape(vec![len]), Data::I32(v)).map_err(|e| e.to_string())
    };
    let inverse = list((0..len).map(place).collect())?;
    let counts = list(
        firsts
            .iter()
            .map(|&f| (0..len).filter(|&j| keys[j] == keys[f]).count())
            .collect(),
    )?;
    let indices = list(firsts.clone())?;
    let ty = out.first().ok_or("no result type")?;
    let y = gather_slices(x, (outer, len, inner), &firsts, len, ty)?;
    Ok(vec![y, indices, inverse, counts, count(k)?])
}
