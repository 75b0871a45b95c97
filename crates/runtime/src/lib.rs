//! ferry-runtime (being built).
