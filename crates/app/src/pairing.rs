//! *Sign in with another device* (this app waits behind a code) and *Link a
//! new device* (this app approves another one's code).

use std::sync::Arc;

use vestibule_client::pairing::{Pairing, PairingEvent, PairingOptions};
use vestibule_client::{ClientInfo, DeviceInfo, Token};

use crate::accounts::account_id;
use crate::core::{AppCore, Inner, OpenRequest, lock};
use crate::view::{
    CommandError, ErrorCode, PairRequesterView, PairingRequest, PairingState, PairingView,
    TimelineEvent,
};

/// A pairing under way: what the view shows, and the task that runs it.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) view: PairingView,
    task: tokio::task::AbortHandle,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the QR code encodes: the server, the app and the code.
pub fn pair_link(url: &str, app_key: &str, code: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("server", url)
        .append_pair("appKey", app_key)
        .append_pair("code", code)
        .finish();
    format!("vestibule://pair?{query}")
}

/// `link` as an SVG QR code, rendered here (no network).
pub fn qr_svg(link: &str) -> String {
    match qrcode::QrCode::new(link.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot draw the QR code");
            String::new()
        }
    }
}

impl AppCore {
    /// Starts *Sign in with another device*: asks `req.url` for a code and
    /// shows it until another device approves it (or it is cancelled).
    pub async fn start_pairing(&self, req: PairingRequest) -> Result<(), CommandError> {
        for (field, value) in [("server", &req.url), ("appKey", &req.app_key)] {
            if value.trim().is_empty() {
                return Err(CommandError::required(field));
            }
        }
        let url = req.url.trim().to_owned();
        let app_key = req.app_key.trim().to_owned();
        let config = &self.inner.config;
        let device = DeviceInfo {
            device_id: self.inner.device_id.clone(),
            device_type: config.device_type,
            os: config.os.clone(),
            mac: None,
            custom_tag: None,
        };
        let program = ClientInfo {
            name: "vestibule-desktop".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        };
        let mut options = PairingOptions::new(&url, &app_key, device, program);
        options.connect_timeout = config.timing.connect_timeout;
        let remember = req.remember && self.inner.keychain.available;
        let view = PairingView {
            url: url.clone(),
            app_key: app_key.clone(),
            remember,
            state: PairingState::Asking,
        };
        let weak = Arc::downgrade(&self.inner);
        let task = tokio::spawn(run(weak, Pairing::start(options), url, app_key, remember));
        // A new start replaces (and stops) the previous one.
        *lock(&self.inner.pairing) = Some(Running {
            view,
            task: task.abort_handle(),
        });
        self.publish();
        Ok(())
    }

    /// Stops *Sign in with another device*; the code is withdrawn.
    pub fn cancel_pairing(&self) {
        let running = lock(&self.inner.pairing).take();
        drop(running);
        self.publish();
    }

    /// *Link a new device*: who waits behind `code`.
    pub async fn lookup_pair(
        &self,
        id: &str,
        code: &str,
    ) -> Result<PairRequesterView, CommandError> {
        let client = self.client(id)?;
        let who = client.lookup_pair(code).await.map_err(CommandError::from)?;
        Ok(PairRequesterView {
            device_id: who.device.device_id,
            device_type: who.device.device_type,
            os: who.device.os,
            ip: who.ip,
            client: format!("{} {}", who.client.name, who.client.version),
            requested_at: who.requested_at,
            expires_at: who.expires_at,
        })
    }

    /// *Link a new device*: approves `code`; that device is signed in to this account.
    pub async fn approve_pair(&self, id: &str, code: &str) -> Result<(), CommandError> {
        let client = self.client(id)?;
        client
            .approve_pair(code)
            .await
            .map_err(CommandError::from)?;
        self.timeline(
            id,
            TimelineEvent::ApprovedPair,
            "approved a new device's pairing code".to_owned(),
        );
        Ok(())
    }

    fn set_pairing_state(&self, state: PairingState) {
        if let Some(running) = lock(&self.inner.pairing).as_mut() {
            running.view.state = state;
        }
        self.publish();
    }

    /// Approved: the account opens with the session it was given (kept in
    /// the keychain with *Remember me*), and the pairing view goes away.
    async fn paired(
        &self,
        url: String,
        app_key: String,
        account: String,
        session: Token,
        remember: bool,
    ) {
        let id = account_id(&url, &app_key, &account);
        // An earlier instance of the account (signed out, say) makes way:
        // closed, not logged out (that would end the new session of this deviceId).
        let earlier = {
            let mut state = lock(&self.inner.state);
            let index = state.accounts.iter().position(|a| a.id == id);
            index.map(|i| state.accounts.remove(i))
        };
        if let Some(earlier) = earlier {
            let _ = earlier.client.close().await;
        }
        if let Err(e) = self.inner.config.vault.delete(&id) {
            tracing::debug!(account = %id, error = %e, "nothing kept before pairing");
        }
        let opened = self.open(OpenRequest {
            url: url.clone(),
            app_key,
            account: account.clone(),
            token: Token::new(""),
            session_token: Some(session),
            remembered: remember,
            demo: false,
            proxy: vestibule_client::Proxy::default(),
        });
        match opened {
            Ok(()) => {
                self.keep_session(&id);
                self.timeline(
                    &id,
                    TimelineEvent::Paired {
                        account: account.clone(),
                        url: url.clone(),
                    },
                    format!("signed in to {account} on {url} by another device"),
                );
                let running = lock(&self.inner.pairing).take();
                drop(running);
                self.publish();
            }
            Err(e) => self.set_pairing_state(PairingState::Failed { error: e }),
        }
    }
}

/// Follows one pairing into the view.
async fn run(
    core: std::sync::Weak<Inner>,
    mut pairing: Pairing,
    url: String,
    app_key: String,
    remember: bool,
) {
    while let Some(event) = pairing.next().await {
        let Some(inner) = core.upgrade() else {
            return;
        };
        let core = AppCore { inner };
        match event {
            PairingEvent::Code { code, expires_at } => {
                let link = pair_link(&url, &app_key, &code);
                let qr_svg = qr_svg(&link);
                core.set_pairing_state(PairingState::Showing {
                    code,
                    expires_at,
                    qr_svg,
                    link,
                });
            }
            PairingEvent::Paired {
                account,
                session_token,
                ..
            } => {
                core.paired(url, app_key, account, session_token, remember)
                    .await;
                return;
            }
            PairingEvent::Failed {
                code,
                message,
                retry_after_ms,
            } => {
                let error = match code {
                    Some(code) => CommandError {
                        server_code: Some(code.as_u16()),
                        retry_after_ms,
                        ..CommandError::new(ErrorCode::Rejected, message)
                    },
                    None => CommandError::new(ErrorCode::NotConnected, message),
                };
                core.set_pairing_state(PairingState::Failed { error });
                return;
            }
        }
    }
}
