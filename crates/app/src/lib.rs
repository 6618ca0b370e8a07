//! The desktop app's core, without Tauri: saved accounts (no secrets), tokens
//! in the OS keychain, one connection-manager instance per account, the
//! embedded demo gateway, and the [`view::SessionView`] the UI renders.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod accounts;
mod core;
pub mod demo;
pub mod secrets;
pub mod view;

pub use crate::core::{AppCore, CoreConfig, DemoMode, Notice, describe_disconnect};
