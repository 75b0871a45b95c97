//! applier service.
fn main() {}
