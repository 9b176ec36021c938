//! The rule sets and the machinery rules are written in: pattern rules with named
//! conditions ([`Cond`]), and code rules ([`CodeRule`]) whose finder looks at one
//! e-node and returns the [`Term`]s equal to it.

mod algebra;
mod composite;
mod fusion;
mod layout;
mod norm_affine;
pub(crate) mod program;
mod quant;
mod roundtrip;
pub mod sparse;

use super::analysis::{ty, uniform_value, EGraph, KilnAnalysis};
use super::lang::{ConstLeaf, IrOp, Kiln};
use egg::{
    Applier, Condition, ConditionalApplier, Id, Pattern, Rewrite, SearchMatches, Searcher, Subst,
    Symbol, Var,
};
use kiln_ir::{Op, Tensor};
use std::fmt;
use std::sync::Arc;

/// A family of rules, run as one phase or switched off together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleSet {
    Algebra,
    Layout,
    Composite,
    Fusion,
    Sparsity,
}

impl RuleSet {
    /// Every set, in phase order.
    pub const ALL: [RuleSet; 5] = [
        RuleSet::Algebra,
        RuleSet::Layout,
        RuleSet::Composite,
        RuleSet::Fusion,
        RuleSet::Sparsity,
    ];

    /// The set's name (`algebra`, ...).
    pub fn name(self) -> &'static str {
        match self {
            RuleSet::Algebra => "algebra",
            RuleSet::Layout => "layout",
            RuleSet::Composite => "composite",
            RuleSet::Fusion => "fusion",
            RuleSet::Sparsity => "sparsity",
        }
    }

    /// The set called `name`.
    pub fn from_name(name: &str) -> Option<RuleSet> {
        RuleSet::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One rule as listed by [`super::list_rules`].
#[derive(Clone, Debug, PartialEq)]
pub struct RuleInfo {
    pub name: &'static str,
    pub set: RuleSet,
    /// The identity the rule applies, in one line.
    pub identity: &'static str,
}

/// A named condition on a pattern match.
#[derive(Clone, Copy, Debug)]
pub enum Cond {
    /// The variable is a constant whose every element equals the value (relative 1e-6).
    Is(&'static str, f64),
    /// The variable is a constant whose every element is within 1e-4 relative of the value.
    Near(&'static str, f64),
    /// The variable's type equals the matched e-class' type (a rewrite to it keeps the
    /// result shape: no broadcast is lost).
    SameType(&'static str),
    /// The variable is a constant of at most [`super::analysis::SMALL`] elements.
    SmallConst(&'static str),
    /// The variable is a float value.
    Float(&'static str),
    /// The variable is not computed from constants alone. Reassociating constants
    /// around a constant operand would fold the same value in two orders, which round
    /// differently (and, around a cycle, run off to 0 and infinity); constant folding
    /// evaluates such terms once instead.
    NotConst(&'static str),
}

impl Cond {
    fn check(&self, egraph: &EGraph, eclass: Id, subst: &Subst) -> bool {
        let id = |v: &str| subst.get(var(v)).copied();
        match *self {
            Cond::Is(v, x) => id(v)
                .and_then(|i| uniform_value(egraph, i))
                .is_some_and(|y| (y - x).abs() <= 1e-6 * x.abs().max(1e-30)),
            Cond::Near(v, x) => id(v)
                .and_then(|i| uniform_value(egraph, i))
                .is_some_and(|y| (y - x).abs() <= 1e-4 * x.abs()),
            Cond::SameType(v) => id(v)
                .is_some_and(|i| ty(egraph, i).is_some() && ty(egraph, i) == ty(egraph, eclass)),
            Cond::SmallConst(v) => id(v).is_some_and(|i| egraph[i].data.value.is_some()),
            Cond::Float(v) => id(v)
                .and_then(|i| ty(egraph, i))
                .is_some_and(|t| t.dtype.is_float()),
            Cond::NotConst(v) => id(v).is_some_and(|i| !egraph[i].data.constant),
        }
    }
}

fn var(v: &str) -> Var {
    v.parse().expect("rule variables are written `?name`")
}

/// All conditions of a pattern rule.
struct When(&'static [Cond]);

impl Condition<Kiln, KilnAnalysis> for When {
    fn check(&self, egraph: &mut EGraph, eclass: Id, subst: &Subst) -> bool {
        self.0.iter().all(|c| c.check(egraph, eclass, subst))
    }
}

/// How a rule is built.
pub enum Body {
    /// `lhs => rhs` when every condition holds.
    Pattern {
        lhs: &'static str,
        rhs: &'static str,
        when: &'static [Cond],
    },
    /// A finder called on every op e-node.
    Code(Finder),
}

/// A row of a rule table.
pub struct RuleSpec {
    pub name: &'static str,
    pub identity: &'static str,
    pub body: Body,
}

/// A pattern rule row.
pub const fn pat(
    name: &'static str,
    lhs: &'static str,
    rhs: &'static str,
    when: &'static [Cond],
    identity: &'static str,
) -> RuleSpec {
    RuleSpec {
        name,
        identity,
        body: Body::Pattern { lhs, rhs, when },
    }
}

/// A code rule row.
pub const fn code(name: &'static str, finder: Finder, identity: &'static str) -> RuleSpec {
    RuleSpec {
        name,
        identity,
        body: Body::Code(finder),
    }
}

pub use quant::QDQ_AS_INTEGER;

/// Every rule table with its set (a set may have several tables).
fn tables() -> [(RuleSet, &'static [RuleSpec]); 8] {
    [
        (RuleSet::Algebra, algebra::RULES),
        (RuleSet::Algebra, quant::RULES),
        (RuleSet::Algebra, roundtrip::RULES),
        (RuleSet::Layout, layout::RULES),
        (RuleSet::Composite, composite::RULES),
        (RuleSet::Fusion, fusion::RULES),
        (RuleSet::Fusion, norm_affine::RULES),
        (RuleSet::Sparsity, sparse::RULES),
    ]
}

/// Every rule, in table order.
pub fn list() -> Vec<RuleInfo> {
    tables()
        .into_iter()
        .flat_map(|(set, rules)| {
            rules.iter().map(move |r| RuleInfo {
                name: r.name,
                set,
                identity: r.identity,
            })
        })
        .collect()
}

/// The rewrites of `set` that `enabled` accepts by name.
pub fn build(set: RuleSet, enabled: impl Fn(&str) -> bool) -> Vec<Rewrite<Kiln, KilnAnalysis>> {
    tables()
        .into_iter()
        .filter(|(s, _)| *s == set)
        .flat_map(|(_, table)| table.iter())
        .filter(|r| enabled(r.name))
        .map(|r| match &r.body {
            Body::Pattern { lhs, rhs, when } => {
                let lhs: Pattern<Kiln> = lhs.parse().expect("rule patterns parse");
                let rhs: Pattern<Kiln> = rhs.parse().expect("rule patterns parse");
                let applier = ConditionalApplier {
                    condition: When(when),
                    applier: rhs,
                };
                Rewrite::new(r.name, lhs, applier).expect("rule variables are bound")
            }
            Body::Code(finder) => {
                let rule = CodeRule(*finder);
                Rewrite::new(r.name, rule, rule).expect("code rules bind nothing")
            }
        })
        .collect()
}

/// Computes a compile-time constant (`None` when it cannot).
pub type Recipe = Arc<dyn Fn() -> Option<Tensor> + Send + Sync>;

/// A term to add to the e-graph: an existing class, a new node, or a constant.
#[derive(Clone)]
pub enum Term {
    Class(Id),
    Node(Op, Vec<Term>),
    /// A compile-time constant, interned under `key`: the recipe runs once per key.
    Const(String, Recipe),
    /// A term whose value the enclosing term alone reads: a class the rule creates gets
    /// one use (classes of the source graph keep their count), so the fusion rules may
    /// fold it into that reader's kernel (see `fusion::used_once`).
    ReadOnce(Box<Term>),
}

/// Looks at one op e-node (`op` on `children`, in e-class `class`) and returns the
/// terms equal to it.
pub type Finder = fn(&EGraph, Id, &IrOp, &[Id]) -> Vec<Term>;

/// A rule written as code: searches e-classes with its finder, adds what it found.
#[derive(Clone, Copy)]
pub struct CodeRule(Finder);

impl CodeRule {
    fn finds(&self, egraph: &EGraph, eclass: Id) -> Vec<Term> {
        let mut out = Vec::new();
        for node in &egraph[eclass].nodes {
            if let Kiln::Op(op, children) = node {
                out.extend((self.0)(egraph, eclass, op, children));
            }
        }
        out
    }
}

impl Searcher<Kiln, KilnAnalysis> for CodeRule {
    fn search_eclass_with_limit(
        &self,
        egraph: &EGraph,
        eclass: Id,
        limit: usize,
    ) -> Option<SearchMatches<'_, Kiln>> {
        if limit == 0 || self.finds(egraph, eclass).is_empty() {
            return None;
        }
        Some(SearchMatches {
            eclass,
            substs: vec![Subst::default()],
            ast: None,
        })
    }

    fn vars(&self) -> Vec<Var> {
        vec![]
    }
}

impl Applier<Kiln, KilnAnalysis> for CodeRule {
    fn apply_one(
        &self,
        egraph: &mut EGraph,
        eclass: Id,
        _subst: &Subst,
        _ast: Option<&egg::PatternAst<Kiln>>,
        _rule: Symbol,
    ) -> Vec<Id> {
        let eclass = egraph.find(eclass);
        let mut changed = Vec::new();
        for term in self.finds(egraph, eclass) {
            if let Some(id) = add_term(egraph, &term) {
                // A finder's term must have the class' type; one that does not is
                // dropped rather than merged.
                if ty(egraph, id) != ty(egraph, eclass) {
                    continue;
                }
                if egraph.union(eclass, id) {
                    changed.push(eclass);
                }
            }
        }
        changed
    }
}

/// Adds `term`; `None` when a node's operands do not fit its op (nothing is added then
/// for that node, though operands added before it stay).
pub fn add_term(egraph: &mut EGraph, term: &Term) -> Option<Id> {
    match term {
        Term::Class(id) => Some(*id),
        Term::Const(key, recipe) => {
            let index = match egraph.analysis.memo.get(key) {
                Some(&i) => i,
                None => {
                    let tensor = recipe()?;
                    egraph.analysis.intern(key.clone(), || tensor)
                }
            };
            Some(egraph.add(Kiln::Const(ConstLeaf(index))))
        }
        Term::ReadOnce(inner) => {
            let id = add_term(egraph, inner)?;
            let data = &mut egraph[id].data;
            data.uses = data.uses.or(Some(1));
            Some(id)
        }
        Term::Node(op, args) => {
            let ids: Option<Vec<Id>> = args.iter().map(|a| add_term(egraph, a)).collect();
            let ids = ids?;
            let types: Option<Vec<_>> = ids.iter().map(|&i| ty(egraph, i)).collect();
            kiln_ir::infer::infer(op, &types?).ok()?;
            Some(egraph.add(Kiln::Op(IrOp::new(op.clone(), 0), ids)))
        }
    }
}

/// The op e-nodes of class `id` (with their children).
pub fn ops_in(egraph: &EGraph, id: Id) -> impl Iterator<Item = (&IrOp, &[Id])> {
    egraph[id].nodes.iter().filter_map(|n| match n {
        Kiln::Op(op, children) => Some((op, children.as_slice())),
        _ => None,
    })
}
