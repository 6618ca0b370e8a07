//! Any bytes, as a client or gateway frame: decoding never panics, and what
//! decodes survives a round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = vestibule_protocol::check_round_trip(data) {
        panic!("{e}");
    }
});
