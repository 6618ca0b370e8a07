use serde::{Deserialize, Serialize};

use crate::UnixMillis;

/// The kind of device a session runs on (NIM's login-port types).
///
/// Linux desktops report [`DeviceType::Pc`] with their real OS string.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DeviceType {
    /// An Android phone or tablet.
    Android,
    /// An iPhone or iPad.
    #[serde(rename = "iOS")]
    Ios,
    /// A Windows or Linux desktop.
    #[serde(rename = "PC")]
    Pc,
    /// A browser tab.
    Web,
    /// A macOS desktop.
    Mac,
    /// A type this version does not know, in a device list from a newer
    /// gateway (see [`DeviceType::lenient`]). A `login` with an unknown type
    /// is refused (414) instead.
    #[serde(skip_deserializing)]
    Unknown,
}

/// Which group of device types conflict under the `desktopMobile` policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceClass {
    /// PC, Mac and Web.
    Desktop,
    /// Android and iOS.
    Mobile,
}

impl DeviceType {
    /// Every device type, in wire order.
    pub const ALL: [DeviceType; 5] = [Self::Android, Self::Ios, Self::Pc, Self::Web, Self::Mac];

    /// The name used on the wire (`"PC"`, `"iOS"`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Android => "Android",
            Self::Ios => "iOS",
            Self::Pc => "PC",
            Self::Web => "Web",
            Self::Mac => "Mac",
            Self::Unknown => "Unknown",
        }
    }

    /// The conflict class under the `desktopMobile` policy.
    pub fn class(self) -> DeviceClass {
        match self {
            Self::Android | Self::Ios => DeviceClass::Mobile,
            Self::Pc | Self::Web | Self::Mac | Self::Unknown => DeviceClass::Desktop,
        }
    }

    /// The type a desktop build running on this OS reports.
    pub fn for_this_desktop() -> Self {
        if cfg!(target_os = "macos") {
            Self::Mac
        } else {
            Self::Pc
        }
    }
}

impl DeviceType {
    /// Reads a device type in what the gateway sends: a type this version
    /// does not know becomes [`DeviceType::Unknown`] instead of failing the
    /// whole frame (a newer gateway may list devices of newer kinds).
    pub fn lenient<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        let known = Self::ALL.into_iter().find(|t| t.as_str() == name);
        Ok(known.unwrap_or(Self::Unknown))
    }
}

impl std::fmt::Display for DeviceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A device type name that is not one of `Android, iOS, PC, Web, Mac` (or `Linux`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown device type {0:?}: expected one of Android, iOS, PC, Web, Mac")]
pub struct ParseDeviceTypeError(pub String);

impl std::str::FromStr for DeviceType {
    type Err = ParseDeviceTypeError;

    /// Case-insensitive; `Linux` and `Windows` map to `PC`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "android" => Ok(Self::Android),
            "ios" => Ok(Self::Ios),
            "pc" | "linux" | "windows" => Ok(Self::Pc),
            "web" => Ok(Self::Web),
            "mac" | "macos" => Ok(Self::Mac),
            _ => Err(ParseDeviceTypeError(s.to_owned())),
        }
    }
}

/// What a client says about its device in `login`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    /// Stable per install; a reconnect with the same id replaces its old session silently.
    pub device_id: String,
    /// The device type.
    #[serde(rename = "type")]
    pub device_type: DeviceType,
    /// Free-form OS description, e.g. `"Debian GNU/Linux 12"`.
    pub os: String,
    /// Hardware address, when the client chooses to report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// An app-defined tag carried with this login (NIM's customTag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_tag: Option<String>,
}

/// The client program that logs in.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientInfo {
    /// Program name, e.g. `"vestibule-desktop"`.
    pub name: String,
    /// Program version.
    pub version: String,
}

/// One signed-in device of an account (online or not), as listed in `loginOk.devices` and `devices`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// The device's stable id.
    pub device_id: String,
    /// The device type.
    #[serde(rename = "type", deserialize_with = "DeviceType::lenient")]
    pub device_type: DeviceType,
    /// The OS the device reported.
    pub os: String,
    /// The hardware address the device reported, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The customTag of the device's login, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_tag: Option<String>,
    /// The connection id of the device's online connection; `""` while offline.
    pub connection_id: String,
    /// The device's IP address as the gateway sees it (its last one while offline).
    pub ip: String,
    /// When its current (or last) connection logged in.
    pub login_time: UnixMillis,
    /// Whether the device is connected now; a device list also lists signed-in
    /// devices that are offline.
    pub online: bool,
    /// A name the person gave the device (`renameDevice`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When the device signed in (its session began).
    #[serde(default)]
    pub created_at: UnixMillis,
    /// When the device was last active: connected, disconnected, or every few
    /// minutes while online.
    #[serde(default)]
    pub last_active_at: UnixMillis,
    /// The client program the device signed in with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientInfo>,
    /// `true` for the entry describing the connection that receives the list.
    pub current: bool,
}

/// Which device caused a kick (in `kicked.by`).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KickedBy {
    /// The kicking device's id.
    pub device_id: String,
    /// The kicking device's type.
    #[serde(rename = "type", deserialize_with = "DeviceType::lenient")]
    pub device_type: DeviceType,
    /// The kicking device's OS.
    pub os: String,
    /// The kicking device's IP as the gateway saw it.
    pub ip: String,
}

impl std::fmt::Display for KickedBy {
    /// "phone-1 (iOS, iOS 18, 10.0.0.2)".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, {}, {})",
            self.device_id, self.device_type, self.os, self.ip
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_are_listed_but_never_logged_in_with() {
        assert!(serde_json::from_str::<DeviceType>("\"Unknown\"").is_err());
        assert!(serde_json::from_str::<DeviceType>("\"Watch\"").is_err());
        let listed: Result<KickedBy, _> = serde_json::from_value(serde_json::json!({
            "deviceId": "w", "type": "Watch", "os": "", "ip": ""
        }));
        assert_eq!(
            listed.map(|k| k.device_type).ok(),
            Some(DeviceType::Unknown)
        );
    }

    #[test]
    fn device_types_use_nim_names() {
        let names: Vec<String> = DeviceType::ALL
            .iter()
            .filter_map(|t| serde_json::to_string(t).ok())
            .collect();
        assert_eq!(
            names,
            ["\"Android\"", "\"iOS\"", "\"PC\"", "\"Web\"", "\"Mac\""]
        );
        for t in DeviceType::ALL {
            assert_eq!(t.as_str().parse::<DeviceType>(), Ok(t));
        }
        assert_eq!("linux".parse::<DeviceType>(), Ok(DeviceType::Pc));
        assert!("toaster".parse::<DeviceType>().is_err());
    }

    #[test]
    fn classes() {
        assert_eq!(DeviceType::Web.class(), DeviceClass::Desktop);
        assert_eq!(DeviceType::Ios.class(), DeviceClass::Mobile);
    }
}

/// Why a device's session ended, for the device that finds out later (a
/// revoked session token is refused with 420 and this).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum EndReason {
    /// Another device of the account signed it out (`by` says which).
    ByDevice,
    /// The admin API signed it out, or disabled the account.
    Admin,
    /// The account was banned.
    Banned,
    /// The device itself logged out.
    LoggedOut,
    /// It was not used for the app's `sessionIdleDays`.
    Idle,
    /// The token that signed it in expired and was not refreshed.
    TokenExpired,
    /// It signed in again with the app's token (a new session replaced it).
    SignedInAgain,
    /// The app's device policy signed it out when another device signed in.
    LoginElsewhere,
    /// Too many devices: the oldest went.
    InstanceLimit,
    /// A reason this version does not know.
    #[serde(other)]
    Unknown,
}

impl EndReason {
    /// The end for a kick of `reason`.
    pub fn of_kick(reason: crate::KickReason) -> Self {
        use crate::KickReason as K;
        match reason {
            K::ByDevice => Self::ByDevice,
            K::Admin => Self::Admin,
            K::Banned => Self::Banned,
            K::TokenExpired => Self::TokenExpired,
            K::LoginElsewhere => Self::LoginElsewhere,
            K::InstanceLimit => Self::InstanceLimit,
            K::Unknown => Self::Unknown,
        }
    }

    /// A sentence for the person whose device it was.
    pub fn describe(self) -> &'static str {
        match self {
            Self::ByDevice => "signed out by another of your devices",
            Self::Admin => "signed out by the server administrator",
            Self::Banned => "the account was banned",
            Self::LoggedOut => "you logged out on this device",
            Self::Idle => "signed out after a long time without use",
            Self::TokenExpired => "your sign-in expired",
            Self::SignedInAgain => "this device signed in again",
            Self::LoginElsewhere => "signed in on another device of the same kind",
            Self::InstanceLimit => "too many devices were signed in",
            Self::Unknown => "signed out by the server",
        }
    }
}

/// How a device's session ended: why, by which device, when.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionEnd {
    /// Why.
    pub reason: EndReason,
    /// The device that ended it, for `byDevice` and the policy's reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<KickedBy>,
    /// When, in milliseconds since the epoch.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub at: UnixMillis,
}
