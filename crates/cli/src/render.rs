//! Human-readable lines for events and device lists.

use vestibule_client::Event;
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
        Event::Dialing { url } => format!("connecting to {url}…"),
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
            let online = devices.iter().filter(|d| d.online).count();
            format!(
                "{} device(s) signed in, {online} online (rev {rev}):",
                devices.len()
            )
        }
        Event::NewDevice { device } => format!(
            "new sign-in on {} {} ({}, {}) — not you? `vestibule-cli kick {}`",
            device
                .name
                .as_deref()
                .unwrap_or(device.device_type.as_str()),
            device.device_id,
            device.os,
            device.ip,
            device.device_id
        ),
        Event::Error { code, message } => format!("error {code}: {message}"),
        other => format!("{other:?}"),
    };
    Some(format!("{t} {text}"))
}

/// An aligned table of devices, one per line (online first, then signed in
/// but offline with when each was last active), with `me` marked.
pub fn device_table(devices: &[Device], me: Option<&str>, now: UnixMillis) -> Vec<String> {
    devices
        .iter()
        .map(|d| {
            let marker = if d.current || me == Some(d.device_id.as_str()) {
                "  (this device)"
            } else {
                ""
            };
            let seen = if d.online {
                format!("online, signed in {}", ago(d.login_time, now))
            } else {
                format!("offline, active {}", ago(d.last_active_at, now))
            };
            format!(
                "  {:<24} {:<8} {:<20} {:<28} {:<16} {}{}",
                d.device_id,
                d.device_type.as_str(),
                d.name.as_deref().unwrap_or("-"),
                d.os,
                d.ip,
                seen,
                marker
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str, online: bool) -> Device {
        Device {
            device_id: id.into(),
            device_type: vestibule_protocol::DeviceType::Ios,
            os: "iOS 17.5".into(),
            mac: None,
            custom_tag: None,
            connection_id: String::new(),
            ip: "203.0.113.24".into(),
            login_time: 0,
            online,
            name: Some("Ann's iPhone".into()),
            created_at: 0,
            last_active_at: 3 * 86_400_000,
            client: None,
            current: false,
        }
    }

    #[test]
    fn offline_devices_say_when_they_were_last_active() {
        let now = 5 * 86_400_000;
        let lines = device_table(&[device("a", true), device("b", false)], Some("a"), now);
        assert!(
            lines[0].contains("online, signed in 5 d ago"),
            "{}",
            lines[0]
        );
        assert!(lines[0].ends_with("(this device)"));
        assert!(lines[1].contains("offline, active 2 d ago"), "{}", lines[1]);
        assert!(lines[1].contains("Ann's iPhone"));
        let alert = event_line(
            &Event::NewDevice {
                device: device("b", true),
            },
            now,
        );
        assert!(
            alert.is_some_and(|l| l.ends_with("new sign-in on Ann's iPhone b (iOS 17.5, 203.0.113.24) — not you? `vestibule-cli kick b`")),
        );
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(ago(0, 30_000), "just now");
        assert_eq!(ago(0, 180_000), "3 min ago");
        assert_eq!(ago(0, 7_200_000), "2 h ago");
        assert_eq!(ago(10, 0), "just now");
    }
}
