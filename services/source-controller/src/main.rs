//! source-controller service.
fn main() {}
