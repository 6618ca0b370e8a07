//! Human-readable lines for events and device lists.

use vestibule_client::{Event, NetState};
use vestibule_protocol::{Device, UnixMillis};

/// `HH:MM:SS` in the local time zone.
pub fn clock(at: UnixMillis) -> String {
    let Ok(ts) = jiff::Timestamp::from_millisecond(i64::try_from(at).unwrap_or(i64::MAX)) else {
        return "--:--:--".into();
    };
    ts.to_zoned(jiff::tz::TimeZone::system())
        .strftime("%H:%M:%S")
        .to_string()
}

/// "3 min ago", "2 h ago"...
pub fn ago(then: UnixMillis, now: UnixMillis) -> String {
    let secs = now.saturating_sub(then) / 1000;
    match secs {
        0..=59 => "just now".into(),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// One line for an event, or `None` for events that add nothing to a terminal.
pub fn event_line(event: &Event, now: UnixMillis) -> Option<String> {
    let t = clock(now);
    let text = match event {
        Event::NetState {
            state: NetState::Connecting,
        } => "connecting…".to_owned(),
        Event::NetState { .. } | Event::Ready | Event::NotReady => return None,
        Event::Connected { info } => format!(
            "connected as {} on {} (connection {}, seen from {}:{}, last login device: {}{})",
            info.account,
            info.device_id,
            info.connection_id,
            info.ip,
            info.port,
            info.last_login_device_id.as_deref().unwrap_or("none"),
            if info.repeat_login {
                ", replaced this device's earlier session"
            } else {
                ""
            },
        ),
        Event::WillReconnect { retry_count, delay } => format!(
            "connection lost; reconnecting: attempt {retry_count} in {:.1} s",
            delay.as_secs_f64()
        ),
        Event::Disconnected { info } => info.to_string(),
        Event::DevicesChanged { devices, rev } => {
            format!("{} device(s) online (rev {rev}):", devices.len())
        }
        Event::Error { code, message } => format!("error {code}: {message}"),
        other => format!("{other:?}"),
    };
    Some(format!("{t} {text}"))
}

/// An aligned table of devices, one per line, with `me` marked.
pub fn device_table(devices: &[Device], me: Option<&str>, now: UnixMillis) -> Vec<String> {
    devices
        .iter()
        .map(|d| {
            let marker = if d.current || me == Some(d.device_id.as_str()) {
                "  (this device)"
            } else {
                ""
            };
            format!(
                "  {:<24} {:<8} {:<28} {:<16} {}{}",
                d.device_id,
                d.device_type.as_str(),
                d.os,
                d.ip,
                ago(d.login_time, now),
                marker
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_naturally() {
        assert_eq!(ago(0, 30_000), "just now");
        assert_eq!(ago(0, 180_000), "3 min ago");
        assert_eq!(ago(0, 7_200_000), "2 h ago");
        assert_eq!(ago(10, 0), "just now");
    }
}
