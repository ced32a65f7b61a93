//! Rendering reports for people. Nothing here decides anything; it only formats.

pub mod host;
pub mod text;
