//! DAG-aware greedy extraction: picks one e-node per needed e-class so that the
//! program's cost, counting every value once however often it is used, is low.
//!
//! 1. **Tree pass.** Iterate to a fixpoint `cost(class) = min over its e-nodes of
//!    own(node) + Σ cost(child)` over the *distinct* child classes, taking only strict
//!    improvements (so cycles never win). This is egg's greedy extractor with shared
//!    operands of one node counted once.
//! 2. **DAG pass.** The choice is scored by its true DAG cost: the sum of `own` over
//!    the classes reachable from the roots, each once. For every reachable class, in
//!    turn, each alternative e-node is tried and kept when it lowers that score and
//!    leaves the choice acyclic; two sweeps. This is what undoes a fused kernel that
//!    would recompute an anchor another consumer also needs.
//!
//! Both passes are heuristics: optimal DAG extraction is NP-hard, and this finds a
//! local optimum. E-nodes whose operand types do not fit their op are never picked.

use super::analysis::EGraph;
use super::cost::{node_cost, DeviceProfile};
use super::lang::Kiln;
use egg::Id;
use kiln_ir::{infer::infer, TensorType};
use std::collections::HashMap;

/// One candidate e-node of a class.
struct Cand {
    /// Index into the class' node list.
    index: usize,
    own: f64,
    /// Distinct canonical child classes.
    children: Vec<Id>,
}

/// The extracted program: the chosen e-node (index into the class' nodes) per class
/// reachable from the roots.
pub struct Selection {
    pub choice: HashMap<Id, usize>,
}

fn candidates(egraph: &EGraph, profile: &DeviceProfile) -> HashMap<Id, Vec<Cand>> {
    let mut all = HashMap::new();
    for class in egraph.classes() {
        let Some(class_ty) = class.data.ty.as_ref() else {
            continue;
        };
        let mut cands = Vec::new();
        for (index, node) in class.nodes.iter().enumerate() {
            match node {
                Kiln::Input(_) | Kiln::Const(_) => cands.push(Cand {
                    index,
                    own: 0.0,
                    children: vec![],
                }),
                Kiln::Op(op, children) => {
                    let types: Option<Vec<&TensorType>> = children
                        .iter()
                        .map(|&c| egraph[c].data.ty.as_ref())
                        .collect();
                    let Some(types) = types else { continue };
                    let Ok(results) = infer(op.op(), &types) else {
                        continue;
                    };
                    if results.get(op.result()) != Some(class_ty) {
                        continue;
                    }
                    let mut distinct: Vec<Id> = Vec::new();
                    let mut distinct_types = Vec::new();
                    for (&c, t) in children.iter().zip(&types) {
                        let c = egraph.find(c);
                        if !distinct.contains(&c) {
                            distinct.push(c);
                            distinct_types.push(*t);
                        }
                    }
                    let outs: Vec<&TensorType> = results.iter().collect();
                    let target = &*egraph.analysis.target;
                    // Computed once when the plan is uploaded: free per run.
                    let at_upload = children.iter().all(|&c| egraph[c].data.constant)
                        && target.computed_at_upload(op.op(), &types);
                    let own = if at_upload {
                        0.0
                    } else {
                        node_cost(profile, target, op.op(), &distinct_types, &outs[..1])
                    };
                    cands.push(Cand {
                        index,
                        own,
                        children: distinct,
                    });
                }
            }
        }
        all.insert(class.id, cands);
    }
    all
}

/// Tree pass: the cheapest candidate per class, counting shared children once per node.
fn tree_pass(cands: &HashMap<Id, Vec<Cand>>) -> HashMap<Id, (f64, usize)> {
    let mut best: HashMap<Id, (f64, usize)> = HashMap::new();
    let mut ids: Vec<Id> = cands.keys().copied().collect();
    ids.sort();
    loop {
        let mut changed = false;
        for &id in &ids {
            for (pos, cand) in cands[&id].iter().enumerate() {
                let mut cost = cand.own;
                let mut ok = true;
                for c in &cand.children {
                    match best.get(c) {
                        Some(&(cc, _)) => cost += cc,
                        None => {
                            ok = false;
                            break;
                        }
                    }
                }
                if ok && best.get(&id).is_none_or(|&(b, _)| cost < b) {
                    best.insert(id, (cost, pos));
                    changed = true;
                }
            }
        }
        if !changed {
            return best;
        }
    }
}

/// The DAG cost of `pick` from `roots`, or `None` if the picked e-nodes form a cycle or
/// reach a class without a pick. Also returns the reachable classes in visit order.
fn dag_cost(
    cands: &HashMap<Id, Vec<Cand>>,
    pick: &HashMap<Id, usize>,
    roots: &[Id],
) -> Option<(f64, Vec<Id>)> {
    // 0 = unseen, 1 = on the stack, 2 = done.
    let mut state: HashMap<Id, u8> = HashMap::new();
    let mut order = Vec::new();
    let mut total = 0.0;
    for &root in roots {
        let mut stack: Vec<(Id, usize)> = vec![(root, 0)];
        if state.get(&root).copied().unwrap_or(0) != 0 {
            continue;
        }
        state.insert(root, 1);
        while let Some(&mut (id, ref mut next)) = stack.last_mut() {
            let cand = &cands.get(&id)?[*pick.get(&id)?];
            if *next < cand.children.len() {
                let child = cand.children[*next];
                *next += 1;
                match state.get(&child).copied().unwrap_or(0) {
                    0 => {
                        state.insert(child, 1);
                        stack.push((child, 0));
                    }
                    1 => return None,
                    _ => {}
                }
            } else {
                total += cand.own;
                state.insert(id, 2);
                order.push(id);
                stack.pop();
            }
        }
    }
    Some((total, order))
}

/// Extracts a program for `roots` (canonical ids) under `profile`.
pub fn extract(
    egraph: &EGraph,
    roots: &[Id],
    profile: &DeviceProfile,
) -> Result<Selection, String> {
    let roots: Vec<Id> = roots.iter().map(|&r| egraph.find(r)).collect();
    let cands = candidates(egraph, profile);
    let best = tree_pass(&cands);
    let mut pick: HashMap<Id, usize> = best.iter().map(|(&id, &(_, pos))| (id, pos)).collect();
    let (mut cost, mut order) =
        dag_cost(&cands, &pick, &roots).ok_or("no acyclic program computes every graph output")?;
    for _sweep in 0..2 {
        let mut improved = false;
        for id in order.clone() {
            let current = pick[&id];
            for alt in 0..cands[&id].len() {
                if alt == current
                    || pick[&id] == alt
                    || cands[&id][alt]
                        .children
                        .iter()
                        .any(|c| !best.contains_key(c))
                {
                    continue;
                }
                let before = pick.insert(id, alt).unwrap_or(current);
                match dag_cost(&cands, &pick, &roots) {
                    Some((c, o)) if c < cost - 1e-9 => {
                        cost = c;
                        order = o;
                        improved = true;
                    }
                    _ => {
                        pick.insert(id, before);
                    }
                }
            }
        }
        if !improved {
            break;
        }
    }
    let choice = order
        .iter()
        .map(|&id| (id, cands[&id][pick[&id]].index))
        .collect();
    Ok(Selection { choice })
}
