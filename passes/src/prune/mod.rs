//! Pruning: structured removal of a model's channels ([`channels`]).

pub mod channels;
