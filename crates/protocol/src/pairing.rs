//! Signing a new device in from one that is already signed in: the new
//! device asks for a short code, a signed-in device of the account approves
//! it, and the new device receives its own session token.

use serde::{Deserialize, Serialize};

use crate::UnixMillis;
use crate::device::{ClientInfo, DeviceInfo};

/// The code's symbols: Crockford's base32 (no I, L, O, U), so a code read
/// aloud or typed from a screen is never ambiguous.
pub const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Symbols in a code: 8 × 5 bits = 40 bits.
pub const CODE_LEN: usize = 8;

/// How long a code may be approved.
pub const CODE_TTL_MS: u64 = 120_000;

/// The longest `code` a request may carry (it is normalized first).
pub const MAX_CODE_INPUT_LEN: usize = 64;

/// A code as people see it: `ABCD-EFGH`.
pub fn display_code(code: &str) -> String {
    let (a, b) = code.split_at(code.len() / 2);
    format!("{a}-{b}")
}

/// A typed or pasted code, normalized: case, dashes and spaces do not
/// matter, and the look-alikes `O`, `I` and `L` read as `0` and `1`.
/// `None` when it cannot be a code.
pub fn normalize_code(input: &str) -> Option<String> {
    let mut code = String::with_capacity(CODE_LEN);
    for c in input.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' | '\u{2010}'..='\u{2015}' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !c.is_ascii() || !CODE_ALPHABET.contains(&(c as u8)) {
            return None;
        }
        code.push(c);
    }
    (code.len() == CODE_LEN).then_some(code)
}

/// The first frame of a device that wants to be signed in by another one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairRequest {
    /// Request id; the `pairCode` and the final `paired` echo it.
    pub id: u64,
    /// The app to be signed in to.
    pub app_key: String,
    /// The device asking.
    pub device: DeviceInfo,
    /// The client program.
    pub client: ClientInfo,
}

/// Who asked for a code, as the approving device is shown it ("Is this you?").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairRequester {
    /// The device asking.
    pub device: DeviceInfo,
    /// Its client program.
    pub client: ClientInfo,
    /// Its IP address as the gateway saw it.
    pub ip: String,
    /// When it asked.
    pub requested_at: UnixMillis,
    /// When the code stops working.
    pub expires_at: UnixMillis,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_however_they_are_typed() {
        assert_eq!(normalize_code("ABCD-EFGH").as_deref(), Some("ABCDEFGH"));
        assert_eq!(normalize_code(" abcd efgh ").as_deref(), Some("ABCDEFGH"));
        assert_eq!(normalize_code("OIL2-3456").as_deref(), Some("01123456"));
        assert_eq!(normalize_code("ABCD-EFG"), None, "too short");
        assert_eq!(normalize_code("ABCD-EFGHJ"), None, "too long");
        assert_eq!(normalize_code("ABCD-EFGU"), None, "U is not a symbol");
        assert_eq!(normalize_code("ÄBCD-EFGH"), None);
        assert_eq!(display_code("ABCDEFGH"), "ABCD-EFGH");
    }

    #[test]
    fn the_alphabet_has_no_look_alikes() {
        for c in [b'I', b'L', b'O', b'U'] {
            assert!(!CODE_ALPHABET.contains(&c));
        }
        let mut sorted = CODE_ALPHABET.to_vec();
        sorted.dedup();
        assert_eq!(sorted.len(), 32, "32 distinct symbols: 5 bits each");
    }
}
