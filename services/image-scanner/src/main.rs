//! image-scanner service.
fn main() {}
