//! Whatever a server puts in a wait, the client waits at most MAX_SERVER_WAIT.

use std::time::Duration;

use proptest::prelude::*;
use vestibule_protocol::limits::MAX_SERVER_WAIT;
use vestibule_protocol::{retry_after_from_headers, server_wait_ms};

fn header() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        "[0-9]{1,40}",
        " *[0-9]{0,25} *",
        ".{0,30}",
        Just("18446744073709551615".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("-1".to_owned()),
        Just("Wed, 21 Oct 2015 07:28:00 GMT".to_owned()),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn header_waits_are_bounded(ms in header(), secs in header()) {
        let wait = retry_after_from_headers(ms.as_deref(), secs.as_deref());
        if let Some(wait) = wait {
            prop_assert!(wait <= MAX_SERVER_WAIT, "{ms:?} {secs:?} gave {wait:?}");
        }
        // Small honest numbers are honoured exactly.
        if let Some(n) = ms.as_deref().and_then(|m| m.trim().parse::<u64>().ok()) && n <= 600_000 {
            prop_assert_eq!(wait, Some(Duration::from_millis(n)));
        }
    }

    #[test]
    fn frame_waits_are_bounded(ms in any::<u64>()) {
        let wait = server_wait_ms(ms);
        prop_assert!(wait <= MAX_SERVER_WAIT);
        prop_assert_eq!(wait, Duration::from_millis(ms.min(MAX_SERVER_WAIT.as_millis() as u64)));
    }
}

#[test]
fn seconds_and_milliseconds_read_as_documented() {
    assert_eq!(
        retry_after_from_headers(Some("1500"), Some("9")),
        Some(Duration::from_millis(1500))
    );
    assert_eq!(
        retry_after_from_headers(None, Some(" 7 ")),
        Some(Duration::from_secs(7))
    );
    assert_eq!(
        retry_after_from_headers(None, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
        None
    );
    assert_eq!(
        retry_after_from_headers(Some("x"), Some("2")),
        Some(Duration::from_secs(2))
    );
    assert_eq!(
        retry_after_from_headers(None, Some("18446744073709551615")),
        Some(MAX_SERVER_WAIT)
    );
    assert_eq!(retry_after_from_headers(None, None), None);
}
