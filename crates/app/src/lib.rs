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
//! - [`settings`]: the person's settings; [`i18n`]: the native side's words
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

rust_i18n::i18n!("locales", fallback = "en");

mod account;
pub mod accounts;
mod core;
pub mod demo;
mod diagnostics;
pub mod i18n;
pub mod link;
mod pairing;
mod projection;
pub mod secrets;
pub mod settings;
mod timeline;
pub mod view;

pub use crate::core::{AppCore, CoreConfig, DemoMode, Notice, NoticeKind};
pub use crate::timeline::TIMELINE_LEN;
