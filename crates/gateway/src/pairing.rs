//! Pairing: a device that is not signed in asks for a one-time code, a
//! signed-in device of the account approves it, and the waiting device gets
//! a session of its own.
//!
//! The waiting connection and the approving one may be on different nodes,
//! so the request lives in the store (Redis in a cluster; in memory on one
//! node, SQLite included: a code outlives no restart, and the waiting device
//! simply asks again). The waiting side polls its record; the approval is
//! one atomic change of it.

use std::collections::HashMap;
use std::sync::Mutex;

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vestibule_protocol::pairing::{CODE_ALPHABET, CODE_LEN};
use vestibule_protocol::{KickedBy, PairRequester, UnixMillis};

/// After its expiry a record is kept this long, so a late approval is told
/// "expired" or "already used" rather than "no such code".
pub const KEPT_AFTER_EXPIRY_MS: u64 = 10 * 60 * 1000;

/// How often a waiting connection looks for its approval.
pub const POLL_EVERY_MS: u64 = 250;

/// A fresh code: 8 symbols of the unambiguous alphabet (40 bits).
pub fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())]))
        .collect()
}

/// What the store keeps instead of the code (a normalized code).
pub fn hash_code(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

/// One pairing request as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairRecord {
    /// The app it asks to be signed in to.
    pub app_key: String,
    /// SHA-256 of the normalized code.
    pub code_hash: String,
    /// Who is asking, from where, until when.
    pub requester: PairRequester,
}

/// What an approval says: the account, who approved, and the expiry the new
/// session may not outlive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairApproval {
    /// The approver's account: the one the requester is signed in to.
    pub account: String,
    /// The approving device.
    pub by: KickedBy,
    /// When.
    pub at: UnixMillis,
    /// The approver's token expiry (none for a static token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<UnixMillis>,
}

/// Where a request stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PairState {
    /// Waiting for an approval.
    Waiting,
    /// Approved; the waiting connection signs the device in.
    Approved(PairApproval),
    /// The requester went away, or asked for a new code.
    Gone,
}

/// What an approval attempt found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApproveOutcome {
    /// Approved now.
    Approved,
    /// No such code (for this app).
    Unknown,
    /// Its expiry has passed.
    Expired,
    /// Approved before.
    AlreadyApproved,
    /// The requester is no longer waiting.
    Gone,
}

/// The pairing requests of one gateway process (the memory and SQLite stores).
#[derive(Debug, Default)]
pub struct PairTable {
    pairs: Mutex<HashMap<(String, String), (PairRecord, PairState)>>,
}

impl PairTable {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String), (PairRecord, PairState)>> {
        self.pairs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a request, forgetting those long past their expiry.
    pub fn put(&self, record: &PairRecord, now: UnixMillis) {
        let mut pairs = self.lock();
        pairs.retain(|_, (r, _)| r.requester.expires_at + KEPT_AFTER_EXPIRY_MS > now);
        pairs.insert(
            (record.app_key.clone(), record.code_hash.clone()),
            (record.clone(), PairState::Waiting),
        );
    }

    /// A request and where it stands.
    pub fn get(&self, app_key: &str, code_hash: &str) -> Option<(PairRecord, PairState)> {
        self.lock()
            .get(&(app_key.to_owned(), code_hash.to_owned()))
            .cloned()
    }

    /// Approves a waiting, unexpired request, once.
    pub fn approve(
        &self,
        app_key: &str,
        code_hash: &str,
        approval: &PairApproval,
        now: UnixMillis,
    ) -> ApproveOutcome {
        let mut pairs = self.lock();
        let Some((record, state)) = pairs.get_mut(&(app_key.to_owned(), code_hash.to_owned()))
        else {
            return ApproveOutcome::Unknown;
        };
        match state {
            PairState::Approved(_) => ApproveOutcome::AlreadyApproved,
            PairState::Gone => ApproveOutcome::Gone,
            PairState::Waiting if record.requester.expires_at <= now => ApproveOutcome::Expired,
            PairState::Waiting => {
                *state = PairState::Approved(approval.clone());
                ApproveOutcome::Approved
            }
        }
    }

    /// The requester went away or asked for a new code.
    pub fn close(&self, app_key: &str, code_hash: &str) {
        if let Some((_, state)) = self
            .lock()
            .get_mut(&(app_key.to_owned(), code_hash.to_owned()))
            && *state == PairState::Waiting
        {
            *state = PairState::Gone;
        }
    }
}
