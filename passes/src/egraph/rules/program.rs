//! Building element-wise programs: inlining one program into another, sharing operands
//! and absorbing scalar constants as program constants.

use super::super::analysis::EGraph;
use egg::Id;
use kiln_ir::{Program, Step};
use std::collections::HashMap;

/// Largest program the fusion rules build.
pub const MAX_STEPS: usize = 48;

/// Builds one program over e-class operands. The first `reserved` inputs have no
/// e-class (the anchor element of an epilogue); operand e-classes get the inputs after.
pub struct Builder {
    reserved: usize,
    steps: Vec<Step>,
    operands: Vec<Id>,
    memo: HashMap<String, usize>,
}

impl Builder {
    pub fn new(reserved: usize) -> Self {
        Builder {
            reserved,
            steps: Vec::new(),
            operands: Vec::new(),
            memo: HashMap::new(),
        }
    }

    /// Appends `step` (or finds an identical earlier one); returns its index.
    pub fn push(&mut self, step: Step) -> usize {
        let key = format!("{step:?}");
        if let Some(&i) = self.memo.get(&key) {
            return i;
        }
        self.steps.push(step);
        let i = self.steps.len() - 1;
        self.memo.insert(key, i);
        i
    }

    /// The step reading reserved input `i`.
    pub fn reserved(&mut self, i: usize) -> usize {
        self.push(Step::Input(i))
    }

    /// The step reading e-class `id` as an operand.
    pub fn operand(&mut self, id: Id) -> usize {
        let pos = match self.operands.iter().position(|&o| o == id) {
            Some(p) => p,
            None => {
                self.operands.push(id);
                self.operands.len() - 1
            }
        };
        self.push(Step::Input(self.reserved + pos))
    }

    /// Inlines `program` with its input `i` bound to step `args[i]`; returns the step
    /// of its result.
    pub fn inline(&mut self, program: &Program, args: &[usize]) -> Option<usize> {
        let mut map: Vec<usize> = Vec::with_capacity(program.steps.len());
        for step in &program.steps {
            let index = match *step {
                Step::Input(i) => *args.get(i)?,
                ref s => {
                    let step = s.try_map_operands(|i| map.get(i).copied())?;
                    self.push(step)
                }
            };
            map.push(index);
        }
        map.last().copied()
    }

    /// The program whose result is step `result` (unused steps dropped), with its
    /// operand e-classes; scalar constant operands become program constants.
    pub fn finish(self, egraph: &EGraph, result: usize) -> Option<(Program, Vec<Id>)> {
        // Operands that are constant with one distinct value become program constants
        // when they do not decide the result's rank or extents; the caller's type check
        // rejects the program otherwise.
        let mut steps = self.steps;
        let mut keep: Vec<Id> = Vec::new();
        let mut new_input: HashMap<usize, usize> = HashMap::new();
        for (pos, &id) in self.operands.iter().enumerate() {
            let scalar = egraph[id]
                .data
                .value
                .as_ref()
                .filter(|t| (t.is_splat() || t.numel() == 1) && t.shape().rank() == 0);
            match scalar {
                Some(t) => {
                    let value = t.stored().to_f64_vec()[0];
                    for s in steps.iter_mut() {
                        if *s == Step::Input(self.reserved + pos) {
                            *s = Step::Const {
                                dtype: t.dtype(),
                                value,
                            };
                        }
                    }
                }
                None => {
                    new_input.insert(self.reserved + pos, self.reserved + keep.len());
                    keep.push(id);
                }
            }
        }
        for s in steps.iter_mut() {
            if let Step::Input(i) = *s {
                if let Some(&j) = new_input.get(&i) {
                    *s = Step::Input(j);
                }
            }
        }
        let program = prune(&steps, result)?;
        if program.steps.len() > MAX_STEPS
            || keep.len() > egraph.analysis.target.max_kernel_operands()
        {
            return None;
        }
        Some((program, keep))
    }
}

/// The steps `result` depends on, renumbered, with inputs first in index order.
fn prune(steps: &[Step], result: usize) -> Option<Program> {
    let mut live = vec![false; steps.len()];
    *live.get_mut(result)? = true;
    for i in (0..=result).rev() {
        if live[i] {
            for o in steps[i].operands() {
                live[o] = true;
            }
        }
    }
    let mut map = vec![usize::MAX; steps.len()];
    let mut out = Vec::new();
    for (i, s) in steps.iter().enumerate().take(result + 1) {
        if !live[i] {
            continue;
        }
        let step = s.map_operands(|a| map[a]);
        map[i] = out.len();
        out.push(step);
    }
    Some(Program { steps: out })
}
