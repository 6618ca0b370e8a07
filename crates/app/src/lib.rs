//! The desktop app's core, without Tauri: saved accounts (no secrets), tokens
//! in the OS keychain, one connection-manager instance per account, the
//! embedded demo gateway, and the [`view::SessionView`] the UI renders.
//!
//! - `core`: the accounts and the commands on them
//! - `account`: one live account and the task that follows its events
//! - `timeline`: each account's history, streamed apart from the view
//! - `projection`: the view built from the state
//! - `diagnostics`: the export
//! - [`demo`]: the embedded gateway and its simulated devices
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod account;
pub mod accounts;
mod core;
pub mod demo;
mod diagnostics;
mod pairing;
mod projection;
pub mod secrets;
mod timeline;
pub mod view;

pub use crate::core::{AppCore, CoreConfig, DemoMode, Notice};
pub use crate::timeline::TIMELINE_LEN;
