use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A result code, numbered like NIM's so people who know that SDK feel at home.
///
/// On the wire it is a bare number. Numbers this version does not know decode
/// to [`Code::Other`] instead of failing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// 302: wrong account or token (bad signature, another account's token, expired).
    WrongCredentials,
    /// 403: forbidden (account banned; a too-young session may not kick).
    Forbidden,
    /// 404: unknown appKey.
    UnknownAppKey,
    /// 408: timeout (handshake, login, heartbeat).
    Timeout,
    /// 414: bad request or invalid parameter — a client bug.
    BadRequest,
    /// 416: too frequent; retry after `retryAfterMs`.
    TooFrequent,
    /// 417: duplicate login refused by the app's device policy.
    DuplicateLogin,
    /// 419: over the account's device limit.
    DeviceLimit,
    /// 420: the device's session was signed out, banned or expired (with
    /// `ended`: why, by whom, when): sign in again.
    SessionEnded,
    /// 421: the gateway does not know this session token (it lost its
    /// sessions, e.g. an in-memory gateway restarted): sign in with the app's token.
    UnknownSession,
    /// 422: account disabled.
    AccountDisabled,
    /// 423: no such pairing code (a wrong one, or another app's: no oracle).
    PairingCodeUnknown,
    /// 424: the pairing code has expired; the waiting device shows a new one.
    PairingCodeExpired,
    /// 425: the pairing code was already approved (single use).
    PairingCodeUsed,
    /// 426: the device that asked for the pairing code is no longer waiting.
    PairingRequesterGone,
    /// 500: server error.
    ServerError,
    /// 503: server busy or shutting down; retry after `retryAfterMs`.
    Busy,
    /// A number this version does not know.
    Other(u16),
}

impl Code {
    /// Every known code, in numeric order.
    pub const KNOWN: [Code; 17] = [
        Self::WrongCredentials,
        Self::Forbidden,
        Self::UnknownAppKey,
        Self::Timeout,
        Self::BadRequest,
        Self::TooFrequent,
        Self::DuplicateLogin,
        Self::DeviceLimit,
        Self::SessionEnded,
        Self::UnknownSession,
        Self::AccountDisabled,
        Self::PairingCodeUnknown,
        Self::PairingCodeExpired,
        Self::PairingCodeUsed,
        Self::PairingRequesterGone,
        Self::ServerError,
        Self::Busy,
    ];

    /// The code's number.
    pub fn as_u16(self) -> u16 {
        match self {
            Self::WrongCredentials => 302,
            Self::Forbidden => 403,
            Self::UnknownAppKey => 404,
            Self::Timeout => 408,
            Self::BadRequest => 414,
            Self::TooFrequent => 416,
            Self::DuplicateLogin => 417,
            Self::DeviceLimit => 419,
            Self::SessionEnded => 420,
            Self::UnknownSession => 421,
            Self::AccountDisabled => 422,
            Self::PairingCodeUnknown => 423,
            Self::PairingCodeExpired => 424,
            Self::PairingCodeUsed => 425,
            Self::PairingRequesterGone => 426,
            Self::ServerError => 500,
            Self::Busy => 503,
            Self::Other(n) => n,
        }
    }

    /// The code for a number; unknown numbers become [`Code::Other`].
    pub fn from_u16(n: u16) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|c| c.as_u16() == n)
            .unwrap_or(Self::Other(n))
    }

    /// A short English description, suitable for a person.
    pub fn describe(self) -> &'static str {
        match self {
            Self::WrongCredentials => "wrong account or token",
            Self::Forbidden => "forbidden",
            Self::UnknownAppKey => "unknown appKey",
            Self::Timeout => "timed out",
            Self::BadRequest => "bad request",
            Self::TooFrequent => "too many attempts, slow down",
            Self::DuplicateLogin => "already logged in on another device",
            Self::DeviceLimit => "too many devices logged in",
            Self::SessionEnded => "this device was signed out",
            Self::UnknownSession => "the server does not know this device's session",
            Self::AccountDisabled => "account disabled",
            Self::PairingCodeUnknown => "no such code",
            Self::PairingCodeExpired => "this code has expired",
            Self::PairingCodeUsed => "this code was already used",
            Self::PairingRequesterGone => "the device that asked is no longer waiting",
            Self::ServerError => "server error",
            Self::Busy => "server busy",
            Self::Other(_) => "unknown error",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.as_u16(), self.describe())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.as_u16())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u16::deserialize(d).map(Self::from_u16)
    }
}

/// Why a session was kicked (TIM's KICKED_OUT types, plus NIM's device kick).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum KickReason {
    /// A newer device of a conflicting type took over (TIM MULT_DEVICE).
    LoginElsewhere,
    /// Too many instances or devices; the oldest went (TIM MULT_ACCOUNT).
    InstanceLimit,
    /// Another device of the account kicked this one; `by` says which.
    ByDevice,
    /// The token expired while online (TIM USERSIG_EXPIRED).
    TokenExpired,
    /// The server's admin API kicked it (TIM REST_API).
    Admin,
    /// The account was banned.
    Banned,
    /// A reason this version does not know (a newer gateway): still a
    /// sign-out. Its close code is 4900; unknown codes 4907–4999 read as it too.
    #[serde(other)]
    Unknown,
}

impl KickReason {
    /// Every kick reason, in close-code order.
    pub const ALL: [KickReason; 6] = [
        Self::LoginElsewhere,
        Self::InstanceLimit,
        Self::ByDevice,
        Self::TokenExpired,
        Self::Admin,
        Self::Banned,
    ];

    /// The WebSocket close code that accompanies this kick (4901–4906).
    pub fn close_code(self) -> u16 {
        match self {
            Self::LoginElsewhere => 4901,
            Self::InstanceLimit => 4902,
            Self::ByDevice => 4903,
            Self::TokenExpired => 4904,
            Self::Admin => 4905,
            Self::Banned => 4906,
            Self::Unknown => close_code::KICK_BASE,
        }
    }

    /// The camelCase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginElsewhere => "loginElsewhere",
            Self::InstanceLimit => "instanceLimit",
            Self::ByDevice => "byDevice",
            Self::TokenExpired => "tokenExpired",
            Self::Admin => "admin",
            Self::Banned => "banned",
            Self::Unknown => "unknown",
        }
    }

    /// A sentence for the person who was signed out.
    pub fn describe(self) -> &'static str {
        match self {
            Self::LoginElsewhere => "signed in on another device of the same kind",
            Self::InstanceLimit => "too many sessions; this one was the oldest",
            Self::ByDevice => "signed out by another of your devices",
            Self::TokenExpired => "your session expired",
            Self::Admin => "signed out by the server administrator",
            Self::Banned => "the account was banned",
            Self::Unknown => "signed out by the server",
        }
    }
}

impl std::fmt::Display for KickReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// WebSocket close codes the gateway sends.
pub mod close_code {
    /// The session was replaced by a newer login of the same deviceId.
    pub const REPLACED: u16 = 4001;
    /// Base for result codes: a close after `loginFailed` or `error` carries `4000 + code`.
    pub const CODE_BASE: u16 = 4000;
    /// Kicks carry 4901–4906; see [`crate::KickReason::close_code`].
    pub const KICK_BASE: u16 = 4900;

    /// The close code that accompanies a result code.
    pub fn for_code(code: crate::Code) -> u16 {
        CODE_BASE.saturating_add(code.as_u16())
    }
}

/// What ended a connection, as a client saw it.
///
/// Build it from a close frame with [`CloseCause::from_close_code`], which
/// reads what the number says (a kick, a refusal, a replaced session) once, so
/// [`classify`] and [`CloseCause::code`] never look at raw close codes again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseCause {
    /// The gateway answered `loginFailed` (or an `error` that closed the socket).
    Rejected {
        /// The code the gateway gave.
        code: Code,
        /// The gateway's `retryAfterMs`, if any.
        retry_after: Option<Duration>,
    },
    /// The gateway sent `kicked`.
    Kicked(KickReason),
    /// A newer login of the same deviceId took this session's place (close 4001).
    Replaced,
    /// The socket closed with a close code that says nothing more (1000, 1006,
    /// an unknown number), or with none.
    Closed(Option<u16>),
    /// The connection failed or broke: refused, reset, DNS, TLS, end of stream.
    Transport,
    /// Nothing heard in time (connect, login or heartbeat).
    Timeout,
}

impl CloseCause {
    /// What a WebSocket close code says when no frame explained it: `4001` is a
    /// replaced session, `4900–4999` a kick (unknown numbers: [`KickReason::Unknown`]), `4300–4599` a refusal with
    /// `code − 4000`, `1002/1003/1007/1008/1009` a frame the gateway refused
    /// (a client bug, 414); anything else is a plain close.
    pub fn from_close_code(close: Option<u16>) -> Self {
        let Some(close) = close else {
            return Self::Closed(None);
        };
        if close == close_code::REPLACED {
            return Self::Replaced;
        }
        if let Some(reason) = KickReason::ALL
            .into_iter()
            .find(|r| r.close_code() == close)
        {
            return Self::Kicked(reason);
        }
        match close {
            // A kick this version does not know is still a kick.
            4900..=4999 => Self::Kicked(KickReason::Unknown),
            1002 | 1003 | 1007 | 1008 | 1009 => Self::Rejected {
                code: Code::BadRequest,
                retry_after: None,
            },
            4300..=4599 => Self::Rejected {
                code: Code::from_u16(close - close_code::CODE_BASE),
                retry_after: None,
            },
            _ => Self::Closed(Some(close)),
        }
    }

    /// The same cause with a meaningful close code read into what it means
    /// (see [`CloseCause::from_close_code`]); idempotent.
    pub fn normalized(self) -> Self {
        match self {
            Self::Closed(close) => Self::from_close_code(close),
            other => other,
        }
    }

    /// The NIM-style number people see for this end: the result code of a
    /// refusal, the close code of a kick or a replaced session, 408 for a
    /// timeout, the raw close code of a plain close.
    pub fn code(self) -> Option<u16> {
        match self.normalized() {
            Self::Rejected { code, .. } => Some(code.as_u16()),
            Self::Kicked(reason) => Some(reason.close_code()),
            Self::Replaced => Some(close_code::REPLACED),
            Self::Closed(close) => close,
            Self::Transport => None,
            Self::Timeout => Some(Code::Timeout.as_u16()),
        }
    }
}

/// Why a client must stop and ask the person (or the app) for something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerminalReason {
    /// The gateway refused the login or the request with this code.
    Rejected(Code),
    /// The session was kicked.
    Kicked(KickReason),
    /// A newer login of the same deviceId took this session's place.
    Replaced,
}

/// What a client does after a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Reconnect, no sooner than `after` when the gateway said so.
    Retry {
        /// The gateway's minimum wait, if it gave one.
        after: Option<Duration>,
    },
    /// The token is no longer good: reconnect only with a new one.
    RefreshCredential,
    /// Stop; never reconnect on its own.
    Terminal {
        /// Why.
        reason: TerminalReason,
    },
}

/// Decides, for every way a connection can end, whether the client retries,
/// needs a new token, or stops for good. The one table of client policy.
pub fn classify(cause: CloseCause) -> Disposition {
    match cause.normalized() {
        CloseCause::Rejected { code, retry_after } => classify_code(code, retry_after),
        CloseCause::Kicked(KickReason::TokenExpired) => Disposition::RefreshCredential,
        CloseCause::Kicked(reason) => Disposition::Terminal {
            reason: TerminalReason::Kicked(reason),
        },
        CloseCause::Replaced => Disposition::Terminal {
            reason: TerminalReason::Replaced,
        },
        // Normal closure, going away, abnormal, server restarting, unknown: try again.
        CloseCause::Closed(_) | CloseCause::Transport | CloseCause::Timeout => {
            Disposition::Retry { after: None }
        }
    }
}

fn classify_code(code: Code, retry_after: Option<Duration>) -> Disposition {
    match code {
        Code::Timeout | Code::ServerError => Disposition::Retry { after: None },
        Code::TooFrequent | Code::Busy => Disposition::Retry { after: retry_after },
        Code::WrongCredentials
        | Code::Forbidden
        | Code::UnknownAppKey
        | Code::BadRequest
        | Code::DuplicateLogin
        | Code::DeviceLimit
        | Code::SessionEnded
        | Code::AccountDisabled
        | Code::PairingCodeUnknown
        | Code::PairingCodeExpired
        | Code::PairingCodeUsed
        | Code::PairingRequesterGone => Disposition::Terminal {
            reason: TerminalReason::Rejected(code),
        },
        // A credential problem: the client signs in with the app's token if it has one.
        Code::UnknownSession => Disposition::RefreshCredential,
        // A server newer than this client: 5xx-like numbers are worth a retry,
        // anything else is a refusal we cannot fix by retrying.
        Code::Other(n) if n >= 500 => Disposition::Retry { after: retry_after },
        Code::Other(_) => Disposition::Terminal {
            reason: TerminalReason::Rejected(code),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terminal(code: Code) -> Disposition {
        Disposition::Terminal {
            reason: TerminalReason::Rejected(code),
        }
    }

    fn rejected(n: u16, after_ms: Option<u64>) -> CloseCause {
        CloseCause::Rejected {
            code: Code::from_u16(n),
            retry_after: after_ms.map(Duration::from_millis),
        }
    }

    #[test]
    fn codes_round_trip_their_numbers() {
        for code in Code::KNOWN {
            assert_eq!(Code::from_u16(code.as_u16()), code);
            let json = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(json, code.as_u16().to_string());
        }
        assert_eq!(Code::from_u16(999), Code::Other(999));
        assert_eq!(
            serde_json::from_str::<Code>("777").ok(),
            Some(Code::Other(777))
        );
        assert!(serde_json::from_str::<Code>("\"302\"").is_err());
    }

    #[test]
    fn every_code_row() {
        let retry = |ms: Option<u64>| Disposition::Retry {
            after: ms.map(Duration::from_millis),
        };
        let rows: [(u16, Disposition); 17] = [
            (302, terminal(Code::WrongCredentials)),
            (403, terminal(Code::Forbidden)),
            (404, terminal(Code::UnknownAppKey)),
            (408, retry(None)),
            (414, terminal(Code::BadRequest)),
            (416, retry(Some(1500))),
            (417, terminal(Code::DuplicateLogin)),
            (419, terminal(Code::DeviceLimit)),
            (420, terminal(Code::SessionEnded)),
            (421, Disposition::RefreshCredential),
            (422, terminal(Code::AccountDisabled)),
            (423, terminal(Code::PairingCodeUnknown)),
            (424, terminal(Code::PairingCodeExpired)),
            (425, terminal(Code::PairingCodeUsed)),
            (426, terminal(Code::PairingRequesterGone)),
            (500, retry(None)),
            (503, retry(Some(1500))),
        ];
        for (n, want) in rows {
            assert_eq!(classify(rejected(n, Some(1500))), want, "code {n}");
        }
        // retryAfterMs only counts where the table says it does.
        assert_eq!(classify(rejected(408, Some(1500))), retry(None));
        assert_eq!(classify(rejected(503, None)), retry(None));
        assert_eq!(classify(rejected(599, Some(10))), retry(Some(10)));
        assert_eq!(classify(rejected(499, None)), terminal(Code::Other(499)));
    }

    #[test]
    fn every_kick_reason_row() {
        for reason in KickReason::ALL {
            let want = if reason == KickReason::TokenExpired {
                Disposition::RefreshCredential
            } else {
                Disposition::Terminal {
                    reason: TerminalReason::Kicked(reason),
                }
            };
            assert_eq!(classify(CloseCause::Kicked(reason)), want, "{reason}");
            // A kick whose frame got lost still arrives as its close code.
            assert_eq!(
                classify(CloseCause::Closed(Some(reason.close_code()))),
                want
            );
        }
    }

    #[test]
    fn close_code_rows() {
        let retry = Disposition::Retry { after: None };
        assert_eq!(classify(CloseCause::Closed(None)), retry);
        assert_eq!(classify(CloseCause::Transport), retry);
        assert_eq!(classify(CloseCause::Timeout), retry);
        for normal in [1000, 1001, 1006, 1011, 1012, 1013, 4000] {
            assert_eq!(
                classify(CloseCause::Closed(Some(normal))),
                retry,
                "{normal}"
            );
        }
        assert_eq!(
            classify(CloseCause::Closed(Some(1009))),
            terminal(Code::BadRequest)
        );
        assert_eq!(
            classify(CloseCause::Closed(Some(close_code::REPLACED))),
            Disposition::Terminal {
                reason: TerminalReason::Replaced
            }
        );
        assert_eq!(
            classify(CloseCause::Closed(Some(close_code::for_code(
                Code::WrongCredentials
            )))),
            terminal(Code::WrongCredentials)
        );
        assert_eq!(classify(CloseCause::Closed(Some(4503))), retry);
        assert_eq!(classify(CloseCause::Closed(Some(4408))), retry);
    }

    #[test]
    fn close_codes_are_read_once() {
        assert_eq!(CloseCause::from_close_code(Some(4302)), rejected(302, None));
        assert_eq!(CloseCause::from_close_code(Some(4503)), rejected(503, None));
        assert_eq!(
            CloseCause::from_close_code(Some(4903)),
            CloseCause::Kicked(KickReason::ByDevice)
        );
        assert_eq!(
            CloseCause::from_close_code(Some(4001)),
            CloseCause::Replaced
        );
        assert_eq!(CloseCause::from_close_code(Some(1009)), rejected(414, None));
        assert_eq!(
            CloseCause::from_close_code(Some(1006)),
            CloseCause::Closed(Some(1006))
        );
        assert_eq!(CloseCause::from_close_code(None), CloseCause::Closed(None));
        let codes = [
            (Some(4302), Some(302)),
            (Some(4503), Some(503)),
            (Some(4903), Some(4903)),
            (Some(4904), Some(4904)),
            (Some(4001), Some(4001)),
            (Some(1009), Some(414)),
            (Some(1006), Some(1006)),
            (None, None),
        ];
        for (close, want) in codes {
            assert_eq!(CloseCause::Closed(close).code(), want, "{close:?}");
        }
        assert_eq!(CloseCause::Timeout.code(), Some(408));
        assert_eq!(CloseCause::Transport.code(), None);
        for cause in [
            CloseCause::Closed(Some(4302)),
            CloseCause::Transport,
            CloseCause::Kicked(KickReason::Admin),
        ] {
            assert_eq!(cause.normalized().normalized(), cause.normalized());
        }
    }

    #[test]
    fn kick_close_codes_are_distinct_and_in_range() {
        let mut seen: Vec<u16> = KickReason::ALL.iter().map(|r| r.close_code()).collect();
        seen.dedup();
        assert_eq!(seen.len(), KickReason::ALL.len());
        assert!(seen.iter().all(|c| (4901..=4999).contains(c)));
    }
}
