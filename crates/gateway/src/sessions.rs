//! Device sessions: a device is signed in from its first successful login
//! until it signs out, is signed out, is banned, or expires — online or not.
//! Its session token (≥ 256 random bits) is what brings it back; the gateway
//! keeps only the token's SHA-256. A session that ends leaves a record of how
//! (by which device, when) under that hash, so a device that was closed at
//! the time learns it at its next login.
//!
//! The records live in the [`crate::store::Store`] (memory, SQLite, Redis);
//! the session registry lists them next to the online connections.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vestibule_protocol::{ClientInfo, Device, DeviceInfo, Token, UnixMillis};

/// A revocation record is kept this long (then a very late login with the
/// old token is merely "unknown").
pub const REVOCATION_KEPT_MS: u64 = 30 * 24 * 3600 * 1000;
/// While online, a device's `lastActiveAt` is refreshed this often.
pub const ACTIVE_EVERY_MS: u64 = 5 * 60 * 1000;
/// A session younger than this is marked *new* in device lists' alerts.
pub const DAY_MS: u64 = 24 * 3600 * 1000;

/// One signed-in device of an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceSession {
    /// The app.
    pub app_key: String,
    /// The account.
    pub account: String,
    /// The device as it signed in (id, type, OS, customTag).
    pub device: DeviceInfo,
    /// The client program.
    pub client: ClientInfo,
    /// A name the person gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When it signed in.
    pub created_at: UnixMillis,
    /// When it last connected, disconnected, or was seen online.
    pub last_active_at: UnixMillis,
    /// When its last connection logged in.
    pub last_login_at: UnixMillis,
    /// Its last IP address.
    pub last_ip: String,
    /// SHA-256 (hex) of its session token.
    pub token_hash: String,
    /// When the app token that signed it in expires (unless refreshed);
    /// `None` for a static token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<UnixMillis>,
    /// When it ends by itself: the earlier of idleness and token expiry;
    /// `None`: never (a static token and `sessionIdleDays: 0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<UnixMillis>,
}

impl DeviceSession {
    /// Recomputes `expires_at` for an app whose sessions end after `idle_days`
    /// without use (0: never).
    pub fn with_expiry(mut self, idle_days: u32) -> Self {
        let idle = (idle_days > 0).then(|| {
            self.last_active_at
                .saturating_add(u64::from(idle_days).saturating_mul(DAY_MS))
        });
        self.expires_at = match (idle, self.token_expires_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self
    }

    /// Whether it has ended by itself at `now`; and why.
    pub fn expired(&self, now: UnixMillis) -> Option<vestibule_protocol::EndReason> {
        let at = self.expires_at?;
        if at > now {
            return None;
        }
        Some(if self.token_expires_at.is_some_and(|t| t <= now) {
            vestibule_protocol::EndReason::TokenExpired
        } else {
            vestibule_protocol::EndReason::Idle
        })
    }

    /// The device-list entry of this session while it is offline.
    pub fn offline_device(&self) -> Device {
        Device {
            device_id: self.device.device_id.clone(),
            device_type: self.device.device_type,
            os: self.device.os.clone(),
            mac: self.device.mac.clone(),
            custom_tag: self.device.custom_tag.clone(),
            connection_id: String::new(),
            ip: self.last_ip.clone(),
            login_time: self.last_login_at,
            online: false,
            current: false,
            name: self.name.clone(),
            created_at: self.created_at,
            last_active_at: self.last_active_at,
            client: Some(self.client.clone()),
        }
    }
}

/// A fresh session token (256 random bits, URL-safe) and the hash the gateway keeps.
pub fn new_session_token() -> (Token, String) {
    let token = Token::new(format!("vst1.{}", crate::secret::random_string(43)));
    let hash = hash_session_token(&token);
    (token, hash)
}

/// The SHA-256 (hex) of a session token: all the gateway ever stores.
pub fn hash_session_token(token: &Token) -> String {
    hex::encode(Sha256::digest(token.expose().as_bytes()))
}

/// Whether `token` is the one whose hash is `hash`, in constant time.
pub fn token_matches(token: &Token, hash: &str) -> bool {
    use subtle::ConstantTimeEq;
    hash_session_token(token)
        .as_bytes()
        .ct_eq(hash.as_bytes())
        .into()
}

/// An account's full device list: its online devices (as the registry has
/// them, in login order, with the session's name and times) and then its
/// signed-in devices that are offline, most recently active first.
pub fn merge(online: &[Device], sessions: &[DeviceSession]) -> Vec<Device> {
    let mut devices: Vec<Device> = online
        .iter()
        .map(|d| {
            let mut d = d.clone();
            if let Some(s) = sessions.iter().find(|s| s.device.device_id == d.device_id) {
                d.name.clone_from(&s.name);
                d.created_at = s.created_at;
                d.last_active_at = d.last_active_at.max(s.last_active_at);
            }
            d
        })
        .collect();
    let mut offline: Vec<Device> = sessions
        .iter()
        .filter(|s| !online.iter().any(|d| d.device_id == s.device.device_id))
        .map(DeviceSession::offline_device)
        .collect();
    offline.sort_by(|a, b| {
        b.last_active_at
            .cmp(&a.last_active_at)
            .then_with(|| a.device_id.cmp(&b.device_id))
    });
    devices.extend(offline);
    devices
}

#[cfg(test)]
mod tests {
    use vestibule_protocol::{DeviceType, EndReason};

    use super::*;

    fn session(device: &str, last_active_at: u64) -> DeviceSession {
        DeviceSession {
            app_key: "demo".into(),
            account: "alice".into(),
            device: DeviceInfo {
                device_id: device.into(),
                device_type: DeviceType::Ios,
                os: "iOS".into(),
                mac: None,
                custom_tag: None,
            },
            client: ClientInfo {
                name: "app".into(),
                version: "1".into(),
            },
            name: None,
            created_at: 1,
            last_active_at,
            last_login_at: 1,
            last_ip: "10.0.0.1".into(),
            token_hash: String::new(),
            token_expires_at: None,
            expires_at: None,
        }
    }

    #[test]
    fn tokens_are_long_random_and_only_their_hash_matches() {
        let (a, hash) = new_session_token();
        let (b, _) = new_session_token();
        assert_ne!(a, b);
        assert!(a.expose().len() >= 43, "≥ 256 bits");
        assert!(token_matches(&a, &hash));
        assert!(!token_matches(&b, &hash));
        assert!(!hash.contains(a.expose()));
    }

    #[test]
    fn expiry_is_the_earlier_of_idleness_and_the_token() {
        let s = session("p", 1_000).with_expiry(30);
        assert_eq!(s.expires_at, Some(1_000 + 30 * DAY_MS));
        assert_eq!(s.expired(1_000 + 30 * DAY_MS), Some(EndReason::Idle));
        assert_eq!(s.expired(999 + 30 * DAY_MS), None);
        let mut t = session("p", 1_000);
        t.token_expires_at = Some(5_000);
        let t = t.with_expiry(30);
        assert_eq!(t.expires_at, Some(5_000));
        assert_eq!(t.expired(5_000), Some(EndReason::TokenExpired));
        assert_eq!(session("p", 1_000).with_expiry(0).expires_at, None, "never");
    }

    #[test]
    fn lists_show_online_devices_first_then_the_most_recently_active() {
        let online = vec![Device {
            online: true,
            connection_id: "c".into(),
            ..session("desk", 0).offline_device()
        }];
        let mut named = session("desk", 50);
        named.name = Some("Work laptop".into());
        let merged = merge(&online, &[session("old", 10), named, session("recent", 90)]);
        let ids: Vec<&str> = merged.iter().map(|d| d.device_id.as_str()).collect();
        assert_eq!(ids, ["desk", "recent", "old"]);
        assert!(merged[0].online && !merged[1].online);
        assert_eq!(merged[0].name.as_deref(), Some("Work laptop"));
    }
}
