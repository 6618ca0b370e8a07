//! A hostile server scripted by the input (any handshake response, any frames,
//! any close codes) against the real connection manager: it never panics
//! (libfuzzer-sys aborts on a panic in any task), never waits beyond the
//! documented maximum, and destroy() completes.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vestibule_client::fuzzing;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Err(e) = runtime().block_on(fuzzing::replay(fuzzing::script(data))) {
        panic!("{e}");
    }
});
