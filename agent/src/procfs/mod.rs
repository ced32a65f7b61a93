//! Parsers for the `/proc` files the process scan reads. They take text, never a PID, so
//! that tests feed them fixture lines.

pub mod cgroup;
pub mod maps;
pub mod stat;
