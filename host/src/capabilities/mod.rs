//! The host side of each `cally:plugin` interface, one module per interface,
//! and the actions that touch personal data.
//!
//! Each interface module holds its `Host` implementation and one
//! `add_to_linker`. Nothing here talks to SQL: every use of personal data goes
//! through [`gate`], which goes through `consent`, `audit` and `store`.

pub mod actions;
pub mod gate;
pub mod log;
pub mod personal_data;
