//! The connection manager against a real gateway on 127.0.0.1:0, in the same
//! process, with the tokio clock paused and held (see vestibule-testkit).

mod support;

mod api;
mod devices;
mod faults;
mod fuzz_corpus;
mod hostile;
mod login;
mod pairing;
mod proxy;
mod reconnect;
mod sessions;
