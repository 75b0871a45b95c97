//! ferry-bus (being built).
