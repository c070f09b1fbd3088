//! The host side of each `cally:plugin` interface, one module per interface.
//!
//! Each module holds its `Host` implementation and one `add_to_linker` that
//! wires it into the sandbox's linker.

pub mod log;
