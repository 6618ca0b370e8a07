use serde::{Deserialize, Serialize};

use crate::limits::{
    MAX_ACCOUNT_LEN, MAX_APP_KEY_LEN, MAX_CUSTOM_TAG_LEN, MAX_DEVICE_ID_LEN, MAX_FRAME_BYTES,
    MAX_KICK_IDS, MAX_SHORT_TEXT_LEN, MAX_TOKEN_LEN,
};
use crate::{
    ClientInfo, Code, Device, DeviceInfo, KickReason, KickedBy, PairRequest, PairRequester,
    SessionEnd, Token, UnixMillis,
};

/// A text field's length and content; the error names the field.
fn check_text(field: &str, value: &str, max: usize, may_be_empty: bool) -> Result<(), String> {
    if !may_be_empty && value.trim().is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    if value.len() > max {
        return Err(format!("{field} is longer than {max} bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field} contains control characters"));
    }
    Ok(())
}

/// What a client says about its device and program, checked.
fn check_device(device: &DeviceInfo, client: &ClientInfo) -> Result<(), String> {
    let check = check_text;
    check(
        "device.deviceId",
        &device.device_id,
        MAX_DEVICE_ID_LEN,
        false,
    )?;
    check("device.os", &device.os, MAX_SHORT_TEXT_LEN, true)?;
    if let Some(mac) = &device.mac {
        check("device.mac", mac, MAX_SHORT_TEXT_LEN, true)?;
    }
    if let Some(tag) = &device.custom_tag {
        check("device.customTag", tag, MAX_CUSTOM_TAG_LEN, true)?;
    }
    check("client.name", &client.name, MAX_SHORT_TEXT_LEN, true)?;
    check("client.version", &client.version, MAX_SHORT_TEXT_LEN, true)?;
    Ok(())
}

impl PairRequest {
    /// Checks lengths and emptiness; the error names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        check_text("appKey", &self.app_key, MAX_APP_KEY_LEN, false)?;
        check_device(&self.device, &self.client)
    }
}

/// The first frame of every connection: who is logging in, from which device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Login {
    /// Request id; `loginOk` / `loginFailed` echo it.
    pub id: u64,
    /// The app the account belongs to.
    pub app_key: String,
    /// The account name.
    pub account: String,
    /// The app's login token (a JWT signed with the app's secret): a new
    /// sign-in. Exactly one of `token` and `session_token` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Token>,
    /// The device session's token from an earlier `loginOk`: this device
    /// coming back (the only login that may silently replace its own connection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<Token>,
    /// The device this session runs on.
    pub device: DeviceInfo,
    /// The client program.
    pub client: ClientInfo,
}

impl Login {
    /// Checks lengths and emptiness; the error names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        let check = check_text;
        check("appKey", &self.app_key, MAX_APP_KEY_LEN, false)?;
        check("account", &self.account, MAX_ACCOUNT_LEN, false)?;
        match (&self.token, &self.session_token) {
            (Some(_), Some(_)) => return Err("give token or sessionToken, not both".into()),
            (None, None) => return Err("token must not be empty".into()),
            (Some(t), None) | (None, Some(t)) => {
                if t.is_empty() {
                    return Err("token must not be empty".into());
                }
                if t.expose().len() > MAX_TOKEN_LEN {
                    return Err(format!("token is longer than {MAX_TOKEN_LEN} bytes"));
                }
            }
        }
        check_device(&self.device, &self.client)
    }
}

/// A frame a client sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ClientFrame {
    /// Log in; must be the first frame.
    Login(Login),
    /// Instead of a login: ask for a pairing code that a signed-in device of
    /// the account approves. Sent again on the same connection, it replaces
    /// the code with a new one.
    PairRequest(PairRequest),
    /// A signed-in device asks who is waiting behind a pairing code.
    PairLookup {
        /// Request id.
        id: u64,
        /// The code as typed (case, dashes and spaces do not matter).
        code: String,
    },
    /// A signed-in device approves a pairing code: the device waiting behind
    /// it is signed in to this account.
    PairApprove {
        /// Request id.
        id: u64,
        /// The code as typed.
        code: String,
    },
    /// Sign out other devices of the same account.
    Kick {
        /// Request id.
        id: u64,
        /// The devices to sign out.
        device_ids: Vec<String>,
    },
    /// Replace the session's token (new expiry) without reconnecting.
    RefreshToken {
        /// Request id.
        id: u64,
        /// The new token.
        token: Token,
    },
    /// Log out: the gateway answers `ok`, then closes normally. This device's
    /// session ends (its session token is no longer accepted).
    Logout {
        /// Request id.
        id: u64,
    },
    /// Name a device of this account (this one or another); `ok` or `error`.
    RenameDevice {
        /// Request id.
        id: u64,
        /// The device.
        device_id: String,
        /// 1–64 characters after trimming, no control characters.
        name: String,
    },
}

impl ClientFrame {
    /// The request id, for echoing in an `error`.
    pub fn id(&self) -> u64 {
        match self {
            Self::Login(login) => login.id,
            Self::PairRequest(request) => request.id,
            Self::PairLookup { id, .. } | Self::PairApprove { id, .. } => *id,
            Self::Kick { id, .. }
            | Self::RefreshToken { id, .. }
            | Self::Logout { id }
            | Self::RenameDevice { id, .. } => *id,
        }
    }

    /// Checks field contents beyond what the types say.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Self::Login(login) => login.validate(),
            Self::Kick { device_ids, .. } => {
                if device_ids.is_empty() {
                    return Err("deviceIds must not be empty".into());
                }
                if device_ids.len() > MAX_KICK_IDS {
                    return Err(format!("at most {MAX_KICK_IDS} deviceIds per kick"));
                }
                if device_ids
                    .iter()
                    .any(|d| d.is_empty() || d.len() > MAX_DEVICE_ID_LEN)
                {
                    return Err("a deviceId is empty or too long".into());
                }
                Ok(())
            }
            Self::RefreshToken { token, .. } => {
                if token.is_empty() || token.expose().len() > MAX_TOKEN_LEN {
                    return Err("token is empty or too long".into());
                }
                Ok(())
            }
            Self::Logout { .. } => Ok(()),
            Self::PairRequest(request) => request.validate(),
            Self::PairLookup { code, .. } | Self::PairApprove { code, .. } => {
                if code.len() > crate::pairing::MAX_CODE_INPUT_LEN {
                    return Err("code is too long".into());
                }
                Ok(())
            }
            Self::RenameDevice {
                device_id, name, ..
            } => {
                if device_id.is_empty() || device_id.len() > MAX_DEVICE_ID_LEN {
                    return Err("deviceId is empty or too long".into());
                }
                check_device_name(name).map(drop)
            }
        }
    }
}

/// A device name as people type it: trimmed, 1–64 characters, no control
/// characters. Returns the trimmed name.
pub fn check_device_name(name: &str) -> Result<&str, String> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > crate::limits::MAX_DEVICE_NAME_CHARS {
        return Err(format!(
            "a device name is 1–{} characters",
            crate::limits::MAX_DEVICE_NAME_CHARS
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("a device name has no control characters".into());
    }
    Ok(name)
}

/// The gateway's answer to a successful `login`: NIM's onconnect info and TIM's
/// login response, plus the account's online devices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginOk {
    /// The login's request id.
    pub id: u64,
    /// The id the gateway gave this session.
    pub connection_id: String,
    /// The client's IP address as the gateway sees it.
    pub ip: String,
    /// The client's source port as the gateway sees it.
    pub port: u16,
    /// The client's country, or `""` when the gateway does not know it.
    pub country: String,
    /// The deviceId of the account's previous login, if any.
    pub last_login_device_id: Option<String>,
    /// This login's customTag, echoed.
    pub custom_tag: Option<String>,
    /// The gateway's clock at login.
    pub server_time: UnixMillis,
    /// True when this deviceId already had a live session that this login replaced (TIM repeatLogin).
    pub repeat_login: bool,
    /// When the token expires; the session is kicked with `tokenExpired` then unless refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<UnixMillis>,
    /// The account's online devices, this one included (`current: true`).
    pub devices: Vec<Device>,
    /// The device list's revision; later `devices` frames carry higher ones.
    pub rev: u64,
    /// A new device session's token, after a login with the app's token. The
    /// client logs in with it from then on; the gateway keeps only its hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<Token>,
}

/// A frame the gateway sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ServerFrame {
    /// Login accepted.
    LoginOk(LoginOk),
    /// Login refused; the gateway closes with `4000 + code` next.
    LoginFailed {
        /// The login's request id, when the login frame could be read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        /// Why.
        code: Code,
        /// A sentence for people.
        message: String,
        /// Wait at least this long before trying again (416, 503).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
        /// For 420: how, by whom and when the device's session ended.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ended: Option<SessionEnd>,
    },
    /// A device of this account signed in for the first time (not a reconnect).
    NewDevice {
        /// The new device.
        device: Device,
    },
    /// The account's full device list (online, then signed in but offline),
    /// pushed on every change.
    Devices {
        /// The online devices.
        devices: Vec<Device>,
        /// Strictly rising per account.
        rev: u64,
    },
    /// This session was signed out; the gateway closes with the reason's close code next.
    Kicked {
        /// Why.
        reason: KickReason,
        /// The device that caused it, for `byDevice`, `loginElsewhere` and `instanceLimit`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<KickedBy>,
        /// A sentence for people.
        message: String,
    },
    /// The answer to `kick`.
    KickResult {
        /// The kick's request id.
        id: u64,
        /// The devices that were signed out.
        kicked: Vec<String>,
        /// The ids that matched no online device of this account.
        not_found: Vec<String>,
    },
    /// A request succeeded (`refreshToken`, `logout`).
    Ok {
        /// The request id.
        id: u64,
    },
    /// A request failed; the session stays.
    Error {
        /// The request id, when the frame could be read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        /// Why.
        code: Code,
        /// A sentence for people.
        message: String,
        /// Wait at least this long before trying again (416).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// The answer to `pairRequest`: the code to show, as text and as a QR code.
    PairCode {
        /// The `pairRequest`'s id.
        id: u64,
        /// `ABCD-EFGH`.
        code: String,
        /// When the code stops working; ask again before then for a new one.
        expires_at: UnixMillis,
        /// The same as a duration from now (immune to a skewed clock).
        expires_in_ms: u64,
    },
    /// The code was approved: this device is signed in to `account`. It logs
    /// in with `sessionToken` next (the gateway closes this connection).
    Paired {
        /// The `pairRequest`'s id.
        id: u64,
        /// The account it was signed in to.
        account: String,
        /// Its device session's token.
        session_token: Token,
        /// When the session's token expires (no later than the approver's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_expires_at: Option<UnixMillis>,
    },
    /// The answer to `pairLookup`: who is asking.
    PairInfo {
        /// The request id.
        id: u64,
        /// The waiting device.
        requester: PairRequester,
    },
    /// A frame type this version does not know (sent by a newer gateway).
    /// Clients ignore it; the gateway never sends it.
    #[serde(other)]
    Unknown,
}

/// Why a text frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame is larger than the limit for its direction.
    #[error("frame of {0} bytes is over the size limit")]
    TooLarge(usize),
    /// Not valid JSON, an unknown `type`, a missing field or a wrong type.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// Valid JSON of the right shape, but a field's content is not acceptable.
    #[error("invalid frame: {0}")]
    Invalid(String),
}

impl ClientFrame {
    /// Decodes and validates a client frame; never panics on any input.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        if text.len() > MAX_FRAME_BYTES {
            return Err(DecodeError::TooLarge(text.len()));
        }
        let frame: Self =
            serde_json::from_str(text).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        frame.validate().map_err(DecodeError::Invalid)?;
        Ok(frame)
    }

    /// Encodes the frame as JSON text.
    pub fn encode(&self) -> String {
        encode(self)
    }
}

impl ServerFrame {
    /// Decodes a gateway frame; never panics on any input.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        if text.len() > crate::limits::MAX_SERVER_FRAME_BYTES {
            return Err(DecodeError::TooLarge(text.len()));
        }
        serde_json::from_str(text).map_err(|e| DecodeError::Malformed(e.to_string()))
    }

    /// Encodes the frame as JSON text.
    pub fn encode(&self) -> String {
        encode(self)
    }
}

/// The property the fuzz target and the corpus regression test check for any
/// input: decoding never panics, and whatever decodes re-encodes to text that
/// decodes to the same frame.
pub fn check_round_trip(data: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    if let Ok(frame) = ClientFrame::decode(text) {
        let again = ClientFrame::decode(&frame.encode())
            .map_err(|e| format!("re-decode of client frame: {e}"))?;
        if again != frame {
            return Err(format!(
                "client frame changed on a round trip: {frame:?} → {again:?}"
            ));
        }
    }
    if let Ok(frame) = ServerFrame::decode(text) {
        let again = ServerFrame::decode(&frame.encode())
            .map_err(|e| format!("re-decode of server frame: {e}"))?;
        if again != frame {
            return Err(format!(
                "server frame changed on a round trip: {frame:?} → {again:?}"
            ));
        }
    }
    Ok(())
}

fn encode<T: Serialize>(frame: &T) -> String {
    // Serializing these types cannot fail: string keys, no maps with non-string keys,
    // no custom serializers that error.
    serde_json::to_string(frame).unwrap_or_else(|e| {
        format!("{{\"type\":\"error\",\"code\":500,\"message\":\"encode failed: {e}\"}}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceType;
    use serde_json::json;

    fn sample_login() -> serde_json::Value {
        json!({
            "type": "login", "id": 1, "appKey": "demo", "account": "alice", "token": "t.o.k",
            "device": {"deviceId": "d1", "type": "PC", "os": "Debian 12", "customTag": "desk"},
            "client": {"name": "vestibule-cli", "version": "0.1.0"}
        })
    }

    #[test]
    fn login_decodes_with_camel_case_fields() {
        let frame = ClientFrame::decode(&sample_login().to_string());
        let Ok(ClientFrame::Login(login)) = frame else {
            panic!("not a login: {frame:?}");
        };
        assert_eq!(login.app_key, "demo");
        assert_eq!(login.device.device_type, DeviceType::Pc);
        assert_eq!(login.device.custom_tag.as_deref(), Some("desk"));
        assert_eq!(login.token.as_ref().map(Token::expose), Some("t.o.k"));
        assert_eq!(login.session_token, None);
        assert!(!format!("{login:?}").contains("t.o.k"));
    }

    #[test]
    fn a_login_carries_exactly_one_token() {
        let mut value = sample_login();
        value["sessionToken"] = json!("vst1.abc");
        let both = ClientFrame::decode(&value.to_string());
        assert!(both.is_err(), "{both:?}");
        if let Some(object) = value.as_object_mut() {
            object.remove("token");
        }
        let frame = ClientFrame::decode(&value.to_string());
        let Ok(ClientFrame::Login(login)) = frame else {
            panic!("{frame:?}")
        };
        assert_eq!(
            login.session_token.as_ref().map(Token::expose),
            Some("vst1.abc")
        );
        if let Some(object) = value.as_object_mut() {
            object.remove("sessionToken");
        }
        assert!(
            ClientFrame::decode(&value.to_string()).is_err(),
            "no token at all"
        );
    }

    #[test]
    fn device_names_are_trimmed_and_bounded() {
        assert_eq!(check_device_name("  Work laptop "), Ok("Work laptop"));
        assert!(check_device_name("   ").is_err());
        assert!(
            check_device_name(&"é".repeat(64)).is_ok(),
            "characters, not bytes"
        );
        assert!(check_device_name(&"é".repeat(65)).is_err());
        assert!(check_device_name("a\u{7}b").is_err());
        let rename = json!({"type": "renameDevice", "id": 5, "deviceId": "pc", "name": "\n"});
        assert!(ClientFrame::decode(&rename.to_string()).is_err());
    }

    #[test]
    fn client_frames_round_trip() {
        let frames = [
            json!({"type": "kick", "id": 2, "deviceIds": ["a", "b"]}),
            json!({"type": "refreshToken", "id": 3, "token": "x"}),
            json!({"type": "logout", "id": 4}),
            json!({"type": "renameDevice", "id": 5, "deviceId": "pc", "name": "Work laptop"}),
            sample_login(),
        ];
        for value in frames {
            let frame = ClientFrame::decode(&value.to_string());
            let Ok(frame) = frame else {
                panic!("{value}: {frame:?}")
            };
            let back: serde_json::Value = serde_json::from_str(&frame.encode()).unwrap_or_default();
            assert_eq!(back, value);
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let cases = [
            "",
            "null",
            "[]",
            "{",
            "{\"type\":\"dance\",\"id\":1}",
            "{\"id\":1}",
            "{\"type\":\"kick\",\"id\":1}",
            "{\"type\":\"kick\",\"id\":\"one\",\"deviceIds\":[]}",
            "{\"type\":\"kick\",\"id\":-1,\"deviceIds\":[\"a\"]}",
            "{\"type\":\"login\",\"id\":1}",
            "\u{0}\u{1}",
        ];
        for case in cases {
            assert!(
                matches!(ClientFrame::decode(case), Err(DecodeError::Malformed(_))),
                "{case:?} decoded"
            );
        }
    }

    #[test]
    fn unknown_fields_are_ignored_for_forward_compatibility() {
        let frame = ClientFrame::decode("{\"type\":\"logout\",\"id\":1,\"trace\":\"x\"}");
        assert_eq!(frame, Ok(ClientFrame::Logout { id: 1 }));
    }

    #[test]
    fn invalid_contents_are_named() {
        let mut login = sample_login();
        login["account"] = json!("");
        assert_eq!(
            ClientFrame::decode(&login.to_string()),
            Err(DecodeError::Invalid("account must not be empty".into()))
        );
        let mut login = sample_login();
        login["device"]["deviceId"] = json!("x".repeat(200));
        assert!(
            matches!(ClientFrame::decode(&login.to_string()), Err(DecodeError::Invalid(m)) if m.contains("deviceId"))
        );
        let kick = json!({"type": "kick", "id": 2, "deviceIds": []});
        assert!(matches!(
            ClientFrame::decode(&kick.to_string()),
            Err(DecodeError::Invalid(_))
        ));
    }

    #[test]
    fn oversized_frames_are_refused_before_parsing() {
        let big = format!(
            "{{\"type\":\"logout\",\"id\":1,\"pad\":\"{}\"}}",
            "x".repeat(MAX_FRAME_BYTES)
        );
        assert!(matches!(
            ClientFrame::decode(&big),
            Err(DecodeError::TooLarge(_))
        ));
        // Under the gateway's larger limit, and a type no gateway sends: a
        // newer gateway's frame, which an older client ignores.
        assert_eq!(ServerFrame::decode(&big), Ok(ServerFrame::Unknown));
        let huge = "x".repeat(crate::limits::MAX_SERVER_FRAME_BYTES + 1);
        assert!(matches!(
            ServerFrame::decode(&huge),
            Err(DecodeError::TooLarge(_))
        ));
    }

    #[test]
    fn server_frames_use_the_documented_names() {
        let frame = ServerFrame::LoginFailed {
            id: Some(1),
            code: Code::TooFrequent,
            message: "slow down".into(),
            retry_after_ms: Some(1200),
            ended: None,
        };
        let value: serde_json::Value = serde_json::from_str(&frame.encode()).unwrap_or_default();
        assert_eq!(
            value,
            json!({"type": "loginFailed", "id": 1, "code": 416, "message": "slow down", "retryAfterMs": 1200})
        );
        let kicked = ServerFrame::Kicked {
            reason: KickReason::ByDevice,
            by: Some(KickedBy {
                device_id: "d2".into(),
                device_type: DeviceType::Ios,
                os: "iOS 18".into(),
                ip: "10.0.0.2".into(),
            }),
            message: "bye".into(),
        };
        let value: serde_json::Value = serde_json::from_str(&kicked.encode()).unwrap_or_default();
        assert_eq!(value["reason"], "byDevice");
        assert_eq!(value["by"]["type"], "iOS");
        assert_eq!(value["by"]["deviceId"], "d2");
        assert_eq!(ServerFrame::decode(&kicked.encode()), Ok(kicked));
        let result = ServerFrame::KickResult {
            id: 5,
            kicked: vec![],
            not_found: vec!["x".into()],
        };
        assert!(result.encode().contains("\"notFound\":[\"x\"]"));
    }
}
