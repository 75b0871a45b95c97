//! kustomize-renderer service.
fn main() {}
