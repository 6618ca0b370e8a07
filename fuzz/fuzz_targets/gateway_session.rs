//! A whole sequence of messages on a fresh connection to a real gateway
//! (valid logins mixed with arbitrary text and binary): the gateway never
//! panics (libfuzzer-sys aborts on a panic in any task) and never sends
//! anything but well-formed frames.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use vestibule_gateway::{Gateway, GatewayConfig, fuzzing};

const SECRET: &str = "fuzz-demo-secret-0123456789abcdef";

fn gateway() -> &'static (tokio::runtime::Runtime, Gateway) {
    static STATE: OnceLock<(tokio::runtime::Runtime, Gateway)> = OnceLock::new();
    STATE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let gateway = runtime.block_on(async {
            let mut config = GatewayConfig::new("127.0.0.1:0".parse().expect("addr"));
            config.demo_secret = Some(SECRET.into());
            config.login_deadline = Duration::from_millis(200);
            config.attempts_per_ip = None;
            config.failures_per_account = None;
            config.failures_per_account_and_ip = None;
            config.max_connections_per_ip = None;
            // Lives as long as the fuzzing process.
            Gateway::start(config).await.expect("gateway")
        });
        (runtime, gateway)
    })
}

fuzz_target!(|data: &[u8]| {
    let (runtime, gateway) = gateway();
    let steps = fuzzing::steps(data);
    if let Err(e) = runtime.block_on(fuzzing::replay(gateway.local_addr(), SECRET, &steps)) {
        panic!("{e}");
    }
});
