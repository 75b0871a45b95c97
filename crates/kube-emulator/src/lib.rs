//! kube-emulator (being built).
