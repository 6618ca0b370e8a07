//! The two sides of pairing on a connection: a device that is not signed in
//! waits behind a code; a signed-in device looks a code up and approves it.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::sleep;
use tokio_tungstenite::tungstenite::Message;
use vestibule_protocol::pairing::{display_code, normalize_code};
use vestibule_protocol::{ClientFrame, Code, PairRequest, PairRequester, ServerFrame};

use super::{Conn, End, Live, STORE_RETRY_AFTER_MS};
use crate::pairing::{
    ApproveOutcome, POLL_EVERY_MS, PairApproval, PairRecord, PairState, hash_code, new_code,
};
use crate::sessions::DeviceSession;
use crate::store::App;

/// How a wait for an approval ended.
enum Waited {
    /// Approved: sign the device in.
    Approved(PairApproval),
    /// The device asked for a new code.
    Renew(PairRequest),
    /// The connection, the code or the gateway is done.
    Over,
}

/// The answer to a lookup or an approval that did not find a waiting request.
fn not_usable(state: &PairState, expired: bool) -> Option<(Code, &'static str)> {
    match state {
        PairState::Approved(_) => Some((Code::PairingCodeUsed, "this code was already used")),
        PairState::Gone => Some((
            Code::PairingRequesterGone,
            "the device that asked is no longer waiting",
        )),
        PairState::Waiting if expired => Some((
            Code::PairingCodeExpired,
            "this code has expired; ask for a new one",
        )),
        PairState::Waiting => None,
    }
}

const NO_SUCH_CODE: &str = "no such code";

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Conn<S> {
    /// A device that is not signed in shows a code and waits until a signed-in
    /// device of an account approves it; then it gets its own session token
    /// (`paired`) and the connection closes. It learns nothing of any account
    /// before that.
    pub(super) async fn pairing(&mut self, mut request: PairRequest) {
        let shared = self.shared.clone();
        let ip = self.peer.ip();
        loop {
            if let Some(Err(wait)) = shared.ip_attempts.as_ref().map(|l| l.spend(&ip)) {
                let retry = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
                self.refuse(
                    Some(request.id),
                    Code::TooFrequent,
                    "too many attempts; slow down",
                    Some(retry),
                )
                .await;
                return;
            }
            let Some(app) = shared.store.app(&request.app_key) else {
                self.refuse(
                    Some(request.id),
                    Code::UnknownAppKey,
                    "unknown appKey",
                    None,
                )
                .await;
                return;
            };
            let now = shared.config.clock.now();
            let code = new_code();
            let ttl = u64::try_from(shared.config.pair_code_ttl.as_millis()).unwrap_or(u64::MAX);
            let record = PairRecord {
                app_key: app.app_key.clone(),
                code_hash: hash_code(&code),
                requester: PairRequester {
                    device: request.device.clone(),
                    client: request.client.clone(),
                    ip: ip.to_string(),
                    requested_at: now,
                    expires_at: now.saturating_add(ttl),
                },
            };
            if let Err(e) = shared.store.put_pair(&record, now).await {
                tracing::warn!(error = %e, "cannot keep a pairing request");
                self.refuse(
                    Some(request.id),
                    Code::Busy,
                    "cannot start pairing right now",
                    Some(STORE_RETRY_AFTER_MS),
                )
                .await;
                return;
            }
            let shown = ServerFrame::PairCode {
                id: request.id,
                code: display_code(&code),
                expires_at: record.requester.expires_at,
                expires_in_ms: ttl,
            };
            let waited = if self.send(shown).await.is_ok() {
                self.await_approval(&record, request.id).await
            } else {
                Waited::Over
            };
            match waited {
                Waited::Approved(approval) => {
                    self.finish_pairing(&app, &record, request.id, approval)
                        .await;
                    return;
                }
                Waited::Renew(next) => {
                    self.close_pair(&record).await;
                    request = next;
                }
                Waited::Over => {
                    self.close_pair(&record).await;
                    return;
                }
            }
        }
    }

    async fn close_pair(&self, record: &PairRecord) {
        if let Err(e) = self
            .shared
            .store
            .close_pair(&record.app_key, &record.code_hash)
            .await
        {
            tracing::warn!(error = %e, "cannot withdraw a pairing request");
        }
    }

    /// Waits for the approval of `record`, a new `pairRequest`, or the end.
    async fn await_approval(&mut self, record: &PairRecord, id: u64) -> Waited {
        let shared = self.shared.clone();
        // The code stays on screen a little past its expiry while the device
        // asks for the next one; then the connection is done.
        let give_up_at = record.requester.expires_at.saturating_add(30_000);
        loop {
            let next = tokio::select! {
                biased;
                () = shared.shutdown.cancelled() => {
                    self.refuse(Some(id), Code::Busy, "server shutting down", Some(super::SHUTDOWN_RETRY_AFTER_MS)).await;
                    return Waited::Over;
                }
                () = shared.kill.cancelled() => return Waited::Over,
                next = self.ws.next() => Some(next),
                () = sleep(Duration::from_millis(POLL_EVERY_MS)) => None,
            };
            match next {
                Some(None | Some(Err(_))) => return Waited::Over,
                Some(Some(Ok(Message::Text(text)))) => match ClientFrame::decode(text.as_str()) {
                    Ok(ClientFrame::PairRequest(request)) => return Waited::Renew(request),
                    Ok(other) => {
                        self.shared.metrics.bad_frame("unexpected");
                        let message = "waiting for an approval: only pairRequest may be sent";
                        if self
                            .error(Some(other.id()), Code::BadRequest, message)
                            .await
                            .is_err()
                        {
                            return Waited::Over;
                        }
                    }
                    Err(e) => {
                        self.count_decode_error(&e);
                        let id = super::request_id(text.as_str());
                        if self
                            .error(id, Code::BadRequest, &e.to_string())
                            .await
                            .is_err()
                        {
                            return Waited::Over;
                        }
                    }
                },
                Some(Some(Ok(Message::Close(_)))) => {
                    self.flush_close_reply().await;
                    return Waited::Over;
                }
                Some(Some(Ok(_))) => {}
                None => {
                    match shared.store.pair(&record.app_key, &record.code_hash).await {
                        Ok(Some((_, PairState::Approved(approval)))) => {
                            return Waited::Approved(approval);
                        }
                        Ok(Some((_, PairState::Waiting)))
                            if shared.config.clock.now() < give_up_at => {}
                        Ok(_) => {
                            self.refuse(
                                Some(id),
                                Code::PairingCodeExpired,
                                "this code has expired; ask for a new one",
                                None,
                            )
                            .await;
                            return Waited::Over;
                        }
                        // A store blip: look again at the next tick.
                        Err(e) => tracing::debug!(error = %e, "cannot read a pairing request"),
                    }
                }
            }
        }
    }

    /// The approved device gets its session (expiring no later than the
    /// approver's) and its token; the account's devices are told.
    async fn finish_pairing(
        &mut self,
        app: &App,
        record: &PairRecord,
        id: u64,
        approval: PairApproval,
    ) {
        let shared = self.shared.clone();
        let account = approval.account.clone();
        let flags = shared.store.flags(&app.app_key, &account);
        if flags.banned || flags.disabled {
            let (code, message) = if flags.banned {
                (Code::Forbidden, "account banned")
            } else {
                (Code::AccountDisabled, "account disabled")
            };
            self.refuse(Some(id), code, message, None).await;
            return;
        }
        let device = &record.requester.device;
        let previous = shared
            .store
            .session(&app.app_key, &account, &device.device_id)
            .await;
        let now = shared.config.clock.now();
        let (token, token_hash) = crate::sessions::new_session_token();
        let session = DeviceSession {
            app_key: app.app_key.clone(),
            account: account.clone(),
            device: device.clone(),
            client: record.requester.client.clone(),
            name: previous.ok().flatten().and_then(|p| p.name),
            created_at: now,
            last_active_at: now,
            last_login_at: now,
            last_ip: record.requester.ip.clone(),
            token_hash,
            token_expires_at: approval.token_expires_at,
            expires_at: None,
        }
        .with_expiry(app.policy.session_idle_days);
        if let Err(e) = shared.store.put_session(&session).await {
            tracing::warn!(error = %e, "cannot save a paired device's session");
            self.refuse(
                Some(id),
                Code::Busy,
                "cannot save this device's session right now; ask for a new code",
                Some(STORE_RETRY_AFTER_MS),
            )
            .await;
            return;
        }
        shared
            .registry
            .announce_new_device(&app.app_key, &account, session.offline_device(), "")
            .await;
        let _ = shared.registry.refresh(&app.app_key, &account).await;
        tracing::info!(
            app_key = %app.app_key,
            account = %account,
            device_id = %device.device_id,
            approved_by = %approval.by.device_id,
            "paired"
        );
        let paired = ServerFrame::Paired {
            id,
            account,
            session_token: token,
            token_expires_at: session.token_expires_at,
        };
        if self.send(paired).await.is_ok() {
            self.close(1000, "paired").await;
        }
    }

    /// A lookup or approval may try a code: not over the limits, a code at
    /// all, known to this app and still waiting. `Ok(None)` after answering why not.
    async fn usable_pair(
        &mut self,
        live: &Live,
        id: u64,
        code: &str,
    ) -> Result<Option<PairRecord>, End> {
        let shared = self.shared.clone();
        let ip = self.peer.ip();
        let conn = live.key.connection_id.clone();
        if let Err(wait) = shared
            .pair_failures_by_session
            .check(&conn)
            .and_then(|()| shared.pair_failures_by_ip.check(&ip))
        {
            let retry = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
            self.send(ServerFrame::Error {
                id: Some(id),
                code: Code::TooFrequent,
                message: "too many pairing codes tried; wait a little".into(),
                retry_after_ms: Some(retry),
            })
            .await?;
            return Ok(None);
        }
        let wrong = |shared: &crate::Shared| {
            let _ = shared.pair_failures_by_session.spend(&conn);
            let _ = shared.pair_failures_by_ip.spend(&ip);
        };
        let Some(code) = normalize_code(code) else {
            wrong(&shared);
            self.error(Some(id), Code::PairingCodeUnknown, NO_SUCH_CODE)
                .await?;
            return Ok(None);
        };
        let found = match shared
            .store
            .pair(&live.key.app_key, &hash_code(&code))
            .await
        {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a pairing request");
                self.send(ServerFrame::Error {
                    id: Some(id),
                    code: Code::Busy,
                    message: "pairing is unavailable right now".into(),
                    retry_after_ms: Some(STORE_RETRY_AFTER_MS),
                })
                .await?;
                return Ok(None);
            }
        };
        let Some((record, state)) = found else {
            wrong(&shared);
            self.error(Some(id), Code::PairingCodeUnknown, NO_SUCH_CODE)
                .await?;
            return Ok(None);
        };
        let expired = record.requester.expires_at <= shared.config.clock.now();
        if let Some((code, message)) = not_usable(&state, expired) {
            self.error(Some(id), code, message).await?;
            return Ok(None);
        }
        Ok(Some(record))
    }

    /// `pairLookup`: who is waiting behind a code.
    pub(super) async fn pair_lookup(
        &mut self,
        live: &Live,
        id: u64,
        code: &str,
    ) -> Result<(), End> {
        let Some(record) = self.usable_pair(live, id, code).await? else {
            return Ok(());
        };
        self.send(ServerFrame::PairInfo {
            id,
            requester: record.requester,
        })
        .await
    }

    /// `pairApprove`: signs the waiting device in to this account.
    pub(super) async fn pair_approve(
        &mut self,
        live: &Live,
        id: u64,
        code: &str,
    ) -> Result<(), End> {
        let Some(record) = self.usable_pair(live, id, code).await? else {
            return Ok(());
        };
        let now = self.shared.config.clock.now();
        let approval = PairApproval {
            account: live.key.account.clone(),
            by: live.me.clone(),
            at: now,
            token_expires_at: live.token_expires_at,
        };
        let outcome = self
            .shared
            .store
            .approve_pair(&record.app_key, &record.code_hash, &approval, now)
            .await;
        let (code, message) = match outcome {
            Ok(ApproveOutcome::Approved) => {
                tracing::info!(device_id = %record.requester.device.device_id, "approved a pairing code");
                return self.send(ServerFrame::Ok { id }).await;
            }
            Ok(ApproveOutcome::Unknown) => (Code::PairingCodeUnknown, NO_SUCH_CODE),
            Ok(ApproveOutcome::Expired) => (
                Code::PairingCodeExpired,
                "this code has expired; ask for a new one",
            ),
            Ok(ApproveOutcome::AlreadyApproved) => {
                (Code::PairingCodeUsed, "this code was already used")
            }
            Ok(ApproveOutcome::Gone) => (
                Code::PairingRequesterGone,
                "the device that asked is no longer waiting",
            ),
            Err(e) => {
                tracing::warn!(error = %e, "cannot approve a pairing request");
                (Code::Busy, "pairing is unavailable right now")
            }
        };
        self.error(Some(id), code, message).await
    }
}
