//! Vestibule's wire protocol: the JSON frames a client and the gateway
//! exchange over `/v1/ws`, the result codes and kick reasons, device types,
//! size and time limits, and the one function that decides what a client does
//! after any failure ([`classify`]).
//!
//! The crate does no I/O; `docs/protocol.md` is the human-readable contract.

mod codes;
mod device;
mod frames;
pub mod limits;
mod secret;
#[cfg(feature = "jwt")]
pub mod token;

pub use codes::{CloseCause, Code, Disposition, KickReason, TerminalReason, classify, close_code};
pub use device::{
    ClientInfo, Device, DeviceClass, DeviceInfo, DeviceType, KickedBy, ParseDeviceTypeError,
};
pub use frames::{ClientFrame, DecodeError, Login, LoginOk, ServerFrame, check_round_trip};
pub use secret::Token;

/// The WebSocket path the gateway serves.
pub const WS_PATH: &str = "/v1/ws";

/// Milliseconds since the Unix epoch, the time unit of every timestamp on the wire.
pub type UnixMillis = u64;
