//! End-to-end tests of the gateway: a real server on 127.0.0.1:0, real
//! WebSocket and HTTP clients. Timer-driven tests run on a paused clock.

mod admin;
mod bad_input;
mod dashboard;
mod defences;
mod devices;
mod fuzz_corpus;
mod kick;
mod login;
mod openapi;
mod pairing;
mod persistence;
mod policy;
mod registry_suite;
mod sessions;
mod store_suite;
mod support;
mod tls_reload;
