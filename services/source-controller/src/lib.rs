//! source-controller: turns a Git ref into an immutable, content-addressed artifact and tells
//! the rest of Ferry the moment it changes.

pub mod controller;
pub mod git;
pub mod grpc;
pub mod journey;
pub mod receiver;
pub mod reconcile;
pub mod storage;
