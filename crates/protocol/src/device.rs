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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientInfo {
    /// Program name, e.g. `"vestibule-desktop"`.
    pub name: String,
    /// Program version.
    pub version: String,
}

/// One online device of an account, as listed in `loginOk.devices` and `devices`.
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
    /// The connection id the gateway gave this device's session.
    pub connection_id: String,
    /// The device's IP address as the gateway sees it.
    pub ip: String,
    /// When the session logged in.
    pub login_time: UnixMillis,
    /// Always `true` in a device list: only online devices are listed.
    pub online: bool,
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
