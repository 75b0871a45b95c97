//! flux-api (being built).
