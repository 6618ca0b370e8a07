//! The desktop app's core: accounts, their connections, the demo gateway,
//! and the one [`SessionView`] the UI renders. No Tauri in here: the shell
//! forwards commands and streams the view.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, watch};
use tokio::task::AbortHandle;
use vestibule_client::{
    Client, ClientOptions, DeviceType, DisconnectInfo, DisconnectReason, Event, NetState,
    OptionsUpdate, Timing, Token, Vestibule, WallClock,
};

use crate::accounts::{AccountStore, SavedAccount, account_id, install_device_id};
use crate::demo::Demo;
use crate::secrets::TokenVault;
use crate::view::{
    AccountView, CommandError, DemoView, ErrorCode, InstallView, KeychainView, KickResult,
    LoginDefaults, LoginRequest, SessionView, TimelineEntry, TimelineKind,
};

/// Timeline entries kept per account.
const TIMELINE_LEN: usize = 300;

/// When to run the embedded demo gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoMode {
    /// Only when no account is saved (a first start).
    Auto,
    /// Always (`vestibule --demo`).
    Always,
    /// Never.
    Never,
}

/// How the core is set up.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Saved accounts and the install id live here.
    pub config_dir: PathBuf,
    /// Diagnostics exports go here.
    pub export_dir: PathBuf,
    /// The demo gateway.
    pub demo: DemoMode,
    /// Where remembered tokens go.
    pub vault: Arc<dyn TokenVault>,
    /// The device type this install reports.
    pub device_type: DeviceType,
    /// The OS this install reports.
    pub os: String,
    /// Connection timing (tests shorten it).
    pub timing: Timing,
}

/// Something worth an OS notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The account it concerns.
    pub account_id: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
}

/// The core. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppCore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: CoreConfig,
    registry: Vestibule,
    device_id: String,
    keychain: KeychainView,
    store: Mutex<AccountStore>,
    state: Mutex<State>,
    view: watch::Sender<SessionView>,
    notices: broadcast::Sender<Notice>,
    demo: tokio::sync::Mutex<Option<Demo>>,
    demo_view: Mutex<Option<DemoView>>,
}

#[derive(Debug, Default)]
struct State {
    accounts: Vec<Account>,
    active: Option<String>,
}

#[derive(Debug)]
struct Account {
    id: String,
    url: String,
    app_key: String,
    account: String,
    remembered: bool,
    demo: bool,
    client: Client,
    timeline: VecDeque<TimelineEntry>,
    watcher: AbortHandle,
    demo_devices: Vec<String>,
}

impl Drop for Account {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now() -> u64 {
    WallClock::system().now()
}

fn not_found(id: &str) -> CommandError {
    CommandError::new(ErrorCode::NotFound, format!("no account {id:?}"))
}

impl AppCore {
    /// Loads saved accounts, starts the demo gateway if wanted, and logs in
    /// every remembered account.
    pub async fn start(config: CoreConfig) -> Result<Self, CommandError> {
        let storage =
            |e: crate::accounts::StorageError| CommandError::new(ErrorCode::Storage, e.to_string());
        let device_id = install_device_id(&config.config_dir).map_err(storage)?;
        let store = AccountStore::load(&config.config_dir).map_err(storage)?;
        let keychain = match config.vault.availability() {
            Ok(()) => KeychainView {
                available: true,
                reason: None,
            },
            Err(reason) => KeychainView {
                available: false,
                reason: Some(reason),
            },
        };
        let start_demo = match config.demo {
            DemoMode::Always => true,
            DemoMode::Auto => store.accounts().is_empty(),
            DemoMode::Never => false,
        };
        let remembered: Vec<SavedAccount> = store
            .accounts()
            .iter()
            .filter(|a| a.remember)
            .cloned()
            .collect();
        let install = InstallView {
            device_id: device_id.clone(),
            device_type: config.device_type,
            os: config.os.clone(),
        };
        let initial = SessionView {
            accounts: Vec::new(),
            active: None,
            demo: None,
            keychain: keychain.clone(),
            defaults: LoginDefaults::default(),
            install,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let (view, _) = watch::channel(initial);
        let (notices, _) = broadcast::channel(32);
        let core = Self {
            inner: Arc::new(Inner {
                config,
                registry: Vestibule::new(),
                device_id,
                keychain,
                store: Mutex::new(store),
                state: Mutex::default(),
                view,
                notices,
                demo: tokio::sync::Mutex::new(None),
                demo_view: Mutex::new(None),
            }),
        };
        if start_demo && let Err(e) = core.start_demo().await {
            tracing::warn!(error = %e, "demo gateway not started");
        }
        for saved in remembered {
            let id = saved.id();
            match core.inner.config.vault.get(&id) {
                Ok(Some(token)) => {
                    if let Err(e) = core.open(
                        &saved.url,
                        &saved.app_key,
                        &saved.account,
                        token,
                        true,
                        false,
                    ) {
                        tracing::warn!(account = %id, error = %e, "cannot restore account");
                    }
                }
                Ok(None) => {
                    tracing::info!(account = %id, "no remembered token; the login page will ask")
                }
                Err(e) => tracing::warn!(account = %id, error = %e, "keychain read failed"),
            }
        }
        core.publish();
        Ok(core)
    }

    /// The view; every change is published.
    pub fn view(&self) -> watch::Receiver<SessionView> {
        self.inner.view.subscribe()
    }

    /// Remote sign-outs, for OS notifications.
    pub fn notices(&self) -> broadcast::Receiver<Notice> {
        self.inner.notices.subscribe()
    }

    /// Logs in (or logs in again) with the login form.
    pub async fn login(&self, req: LoginRequest) -> Result<String, CommandError> {
        for (field, value) in [
            ("server", &req.url),
            ("appKey", &req.app_key),
            ("account", &req.account),
            ("token", &req.token),
        ] {
            if value.trim().is_empty() {
                return Err(CommandError::new(
                    ErrorCode::InvalidInput,
                    format!("{field} is required"),
                ));
            }
        }
        let url = req.url.trim().to_owned();
        let app_key = req.app_key.trim().to_owned();
        let account = req.account.trim().to_owned();
        let id = account_id(&url, &app_key, &account);
        let demo = lock(&self.inner.demo_view)
            .as_ref()
            .is_some_and(|d| d.url == url);
        let token = Token::new(req.token.trim());
        let mut remembered = false;
        if req.remember && !demo {
            match self.inner.config.vault.set(&id, &token) {
                Ok(()) => remembered = true,
                Err(e) => tracing::warn!(account = %id, error = %e, "token not remembered"),
            }
        } else if let Err(e) = self.inner.config.vault.delete(&id) {
            tracing::debug!(account = %id, error = %e, "no remembered token to delete");
        }
        self.open(&url, &app_key, &account, token, remembered, demo)?;
        self.timeline(
            &id,
            TimelineKind::Action,
            format!("log in as {account} to {url}"),
            None,
        );
        Ok(id)
    }

    /// Logs in to the demo gateway as `account` with a locally minted token.
    pub async fn login_demo(&self, account: &str) -> Result<String, CommandError> {
        let account = if account.trim().is_empty() {
            "alice"
        } else {
            account.trim()
        };
        let demo_view = self.start_demo().await?;
        let token = {
            let demo = self.inner.demo.lock().await;
            let demo = demo.as_ref().ok_or_else(|| {
                CommandError::new(ErrorCode::Demo, "the demo gateway is not running")
            })?;
            demo.mint(account)?
        };
        self.login(LoginRequest {
            url: demo_view.url,
            app_key: demo_view.app_key,
            account: account.to_owned(),
            token: token.expose().to_owned(),
            remember: false,
        })
        .await
    }

    /// Creates or reuses the instance for an account, makes it active and connects.
    fn open(
        &self,
        url: &str,
        app_key: &str,
        account: &str,
        token: Token,
        remembered: bool,
        demo: bool,
    ) -> Result<(), CommandError> {
        let id = account_id(url, app_key, account);
        let mut state = lock(&self.inner.state);
        if let Some(existing) = state.accounts.iter_mut().find(|a| a.id == id) {
            existing.remembered = remembered;
            let client = existing.client.clone();
            state.active = Some(id);
            drop(state);
            let update = OptionsUpdate::token(token);
            tokio::spawn(async move {
                if let Err(e) = client.set_options(update).await {
                    tracing::warn!(error = %e, "token update failed");
                }
                client.connect();
            });
            self.publish();
            return Ok(());
        }
        let mut options = ClientOptions::new(url, app_key, account, token, &self.inner.device_id);
        options.device.device_type = self.inner.config.device_type;
        options.device.os = self.inner.config.os.clone();
        options.client.name = "vestibule-desktop".into();
        options.client.version = env!("CARGO_PKG_VERSION").into();
        options.timing = self.inner.config.timing;
        options.auto_connect = false;
        let client = self
            .inner
            .registry
            .instance(options)
            .map_err(CommandError::from)?;
        let watcher = tokio::spawn(watch_account(
            Arc::downgrade(&self.inner),
            id.clone(),
            client.clone(),
        ))
        .abort_handle();
        state.accounts.push(Account {
            id: id.clone(),
            url: url.to_owned(),
            app_key: app_key.to_owned(),
            account: account.to_owned(),
            remembered,
            demo,
            client: client.clone(),
            timeline: VecDeque::new(),
            watcher,
            demo_devices: Vec::new(),
        });
        state.active = Some(id);
        drop(state);
        client.connect();
        self.publish();
        Ok(())
    }

    fn client(&self, id: &str) -> Result<Client, CommandError> {
        lock(&self.inner.state)
            .accounts
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.client.clone())
            .ok_or_else(|| not_found(id))
    }

    /// Logs out: the gateway is told (other devices see it at once), the
    /// remembered token is forgotten; the account stays listed.
    pub async fn logout(&self, id: &str) -> Result<(), CommandError> {
        let client = self.client(id)?;
        self.timeline(id, TimelineKind::Action, "log out".into(), None);
        client.disconnect().await.map_err(CommandError::from)?;
        if let Err(e) = self.inner.config.vault.delete(id) {
            tracing::debug!(error = %e, "no remembered token to delete");
        }
        {
            let mut state = lock(&self.inner.state);
            if let Some(account) = state.accounts.iter_mut().find(|a| a.id == id) {
                account.remembered = false;
            }
        }
        self.update_saved(id, |saved| saved.remember = false);
        self.publish();
        Ok(())
    }

    /// Signs out other devices of the account.
    pub async fn kick(
        &self,
        id: &str,
        device_ids: Vec<String>,
    ) -> Result<KickResult, CommandError> {
        let client = self.client(id)?;
        self.timeline(
            id,
            TimelineKind::Action,
            format!("sign out {}", device_ids.join(", ")),
            None,
        );
        let result = client.kick(device_ids).await.map_err(CommandError::from)?;
        Ok(result)
    }

    /// Signs out every other device of the account.
    pub async fn kick_others(&self, id: &str) -> Result<KickResult, CommandError> {
        let client = self.client(id)?;
        self.timeline(
            id,
            TimelineKind::Action,
            "sign out all other devices".into(),
            None,
        );
        client.kick_others().await.map_err(CommandError::from)
    }

    /// Skips the backoff.
    pub fn retry_now(&self, id: &str) -> Result<(), CommandError> {
        let client = self.client(id)?;
        self.timeline(id, TimelineKind::Action, "retry now".into(), None);
        client.retry_now();
        Ok(())
    }

    /// Shows another account; both stay connected.
    pub fn switch_account(&self, id: Option<&str>) -> Result<(), CommandError> {
        {
            let mut state = lock(&self.inner.state);
            if let Some(id) = id
                && !state.accounts.iter().any(|a| a.id == id)
            {
                return Err(not_found(id));
            }
            state.active = id.map(str::to_owned);
        }
        self.publish();
        Ok(())
    }

    /// Logs out and forgets an account: its instance, saved entry and token.
    pub async fn forget_account(&self, id: &str) -> Result<(), CommandError> {
        let account = {
            let mut state = lock(&self.inner.state);
            let index = state.accounts.iter().position(|a| a.id == id);
            let account = index.map(|i| state.accounts.remove(i));
            if state.active.as_deref() == Some(id) {
                state.active = state.accounts.first().map(|a| a.id.clone());
            }
            account
        };
        let saved = lock(&self.inner.store)
            .remove(id)
            .map_err(|e| CommandError::new(ErrorCode::Storage, e.to_string()))?;
        if account.is_none() && !saved {
            return Err(not_found(id));
        }
        if let Some(account) = account {
            let _ = account.client.destroy().await;
        }
        if let Err(e) = self.inner.config.vault.delete(id) {
            tracing::debug!(error = %e, "no remembered token to delete");
        }
        self.publish();
        Ok(())
    }

    /// Starts the embedded demo gateway (once).
    pub async fn start_demo(&self) -> Result<DemoView, CommandError> {
        let mut demo = self.inner.demo.lock().await;
        if let Some(running) = demo.as_ref() {
            return Ok(running.view());
        }
        let started = Demo::start().await?;
        let view = started.view();
        *demo = Some(started);
        *lock(&self.inner.demo_view) = Some(view.clone());
        drop(demo);
        self.publish();
        Ok(view)
    }

    /// Logs in a simulated other device of a demo account.
    pub async fn demo_add_device(
        &self,
        id: &str,
        device_type: DeviceType,
    ) -> Result<String, CommandError> {
        let account = self.demo_account(id)?;
        let device_id = {
            let mut demo = self.inner.demo.lock().await;
            let demo = demo.as_mut().ok_or_else(|| {
                CommandError::new(ErrorCode::Demo, "the demo gateway is not running")
            })?;
            demo.add_device(&account, device_type).await?
        };
        self.timeline(
            id,
            TimelineKind::Action,
            format!("demo: a simulated {device_type} device ({device_id}) logged in"),
            None,
        );
        self.refresh_demo_devices().await;
        Ok(device_id)
    }

    /// A simulated other device of a demo account signs this app out.
    pub async fn demo_kick_me(&self, id: &str) -> Result<(), CommandError> {
        let account = self.demo_account(id)?;
        self.timeline(
            id,
            TimelineKind::Action,
            "demo: ask another device to sign this one out".into(),
            None,
        );
        {
            let mut demo = self.inner.demo.lock().await;
            let demo = demo.as_mut().ok_or_else(|| {
                CommandError::new(ErrorCode::Demo, "the demo gateway is not running")
            })?;
            demo.kick(&account, &self.inner.device_id).await?;
        }
        self.refresh_demo_devices().await;
        Ok(())
    }

    fn demo_account(&self, id: &str) -> Result<String, CommandError> {
        let state = lock(&self.inner.state);
        let account = state
            .accounts
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| not_found(id))?;
        if !account.demo {
            return Err(CommandError::new(
                ErrorCode::Demo,
                "simulated devices exist only for demo accounts",
            ));
        }
        Ok(account.account.clone())
    }

    async fn refresh_demo_devices(&self) {
        {
            let guard = self.inner.demo.lock().await;
            let Some(demo) = guard.as_ref() else { return };
            let mut state = lock(&self.inner.state);
            for account in state.accounts.iter_mut().filter(|a| a.demo) {
                account.demo_devices = demo.devices_of(&account.account);
            }
        }
        self.publish();
    }

    /// Writes the account's diagnostics (state and timeline, no token) to a
    /// JSON file in the export directory; returns its path.
    pub fn export_diagnostics(&self, id: &str) -> Result<String, CommandError> {
        let view = self.inner.view.borrow().clone();
        let account = view
            .accounts
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| not_found(id))?;
        let report = serde_json::json!({
            "exportedAt": now(),
            "app": {"name": "vestibule-desktop", "version": view.version},
            "install": view.install,
            "account": account,
        });
        let text = serde_json::to_vec_pretty(&report)
            .map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))?;
        let safe: String = account
            .account
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = self
            .inner
            .config
            .export_dir
            .join(format!("vestibule-diagnostics-{safe}-{}.json", now()));
        crate::accounts::write_atomically(&path, &text)
            .map_err(|e| CommandError::new(ErrorCode::Storage, e.to_string()))?;
        self.timeline(
            id,
            TimelineKind::Action,
            format!("diagnostics exported to {}", path.display()),
            None,
        );
        Ok(path.display().to_string())
    }

    /// Closes every connection and the demo gateway (app exit).
    pub async fn shutdown(&self) {
        let clients: Vec<Client> = lock(&self.inner.state)
            .accounts
            .iter()
            .map(|a| a.client.clone())
            .collect();
        for client in clients {
            let _ = client.destroy().await;
        }
        if let Some(demo) = self.inner.demo.lock().await.take() {
            demo.shutdown().await;
        }
    }

    fn update_saved(&self, id: &str, change: impl FnOnce(&mut SavedAccount)) {
        let mut store = lock(&self.inner.store);
        if let Some(mut saved) = store.get(id).cloned() {
            change(&mut saved);
            if let Err(e) = store.upsert(saved) {
                tracing::error!(error = %e, "cannot save accounts");
            }
        }
    }

    /// Saves a logged-in account (never for demo accounts: their gateway lives only as long as the app).
    fn remember_account(&self, id: &str) {
        let saved = {
            let state = lock(&self.inner.state);
            let Some(account) = state.accounts.iter().find(|a| a.id == id) else {
                return;
            };
            if account.demo {
                return;
            }
            SavedAccount {
                url: account.url.clone(),
                app_key: account.app_key.clone(),
                account: account.account.clone(),
                device_id: self.inner.device_id.clone(),
                remember: account.remembered,
                last_used: now(),
            }
        };
        if let Err(e) = lock(&self.inner.store).upsert(saved) {
            tracing::error!(error = %e, "cannot save accounts");
        }
    }

    fn timeline(&self, id: &str, kind: TimelineKind, text: String, code: Option<u16>) {
        {
            let mut state = lock(&self.inner.state);
            let Some(account) = state.accounts.iter_mut().find(|a| a.id == id) else {
                return;
            };
            if account.timeline.len() == TIMELINE_LEN {
                account.timeline.pop_front();
            }
            account.timeline.push_back(TimelineEntry {
                at: now(),
                kind,
                text,
                code,
            });
        }
        self.publish();
    }

    /// Rebuilds the view from the accounts and publishes it if it changed.
    fn publish(&self) {
        let state = lock(&self.inner.state);
        let accounts: Vec<AccountView> = state
            .accounts
            .iter()
            .map(|a| AccountView {
                id: a.id.clone(),
                url: a.url.clone(),
                app_key: a.app_key.clone(),
                account: a.account.clone(),
                remembered: a.remembered,
                demo: a.demo,
                session: a.client.snapshot(),
                timeline: a.timeline.iter().cloned().collect(),
                demo_devices: a.demo_devices.clone(),
            })
            .collect();
        let active = state.active.clone();
        drop(state);
        let demo = lock(&self.inner.demo_view).clone();
        let defaults = {
            let store = lock(&self.inner.store);
            match (store.last_used(), &demo) {
                (Some(last), _) => LoginDefaults {
                    url: last.url.clone(),
                    app_key: last.app_key.clone(),
                    account: last.account.clone(),
                },
                (None, Some(demo)) => LoginDefaults {
                    url: demo.url.clone(),
                    app_key: demo.app_key.clone(),
                    account: String::new(),
                },
                (None, None) => LoginDefaults::default(),
            }
        };
        self.inner.view.send_if_modified(|view| {
            let next = SessionView {
                accounts,
                active,
                demo,
                keychain: self.inner.keychain.clone(),
                defaults,
                install: view.install.clone(),
                version: view.version.clone(),
            };
            if *view == next {
                false
            } else {
                *view = next;
                true
            }
        });
    }
}

/// Follows one account's events: timeline, saved accounts, notices, view.
async fn watch_account(inner: std::sync::Weak<Inner>, id: String, client: Client) {
    let mut events = client.subscribe();
    let mut snapshots = client.watch();
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(inner) = inner.upgrade() else { return };
                let core = AppCore { inner };
                match event {
                    Ok(event) => core.on_event(&id, &event),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        core.timeline(&id, TimelineKind::Error, format!("{n} events were missed (the state shown is current)"), None);
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
            changed = snapshots.changed() => {
                if changed.is_err() {
                    return;
                }
                let Some(inner) = inner.upgrade() else { return };
                AppCore { inner }.publish();
            }
        }
    }
}

impl AppCore {
    fn on_event(&self, id: &str, event: &Event) {
        let (kind, text, code) = match event {
            Event::NetState { state } => (
                TimelineKind::State,
                match state {
                    NetState::Connected => "network state: connected",
                    NetState::Connecting => "network state: connecting",
                    NetState::Disconnected => "network state: disconnected",
                }
                .to_owned(),
                None,
            ),
            Event::Connected { info } => {
                self.remember_account(id);
                (
                    TimelineKind::Connected,
                    format!(
                        "connected: connection {}, seen from {}:{}{}",
                        info.connection_id,
                        info.ip,
                        info.port,
                        if info.repeat_login {
                            " (replaced this device's earlier session)"
                        } else {
                            ""
                        }
                    ),
                    None,
                )
            }
            Event::WillReconnect { retry_count, delay } => {
                let last = self
                    .client(id)
                    .ok()
                    .and_then(|c| c.snapshot().last_disconnect);
                let why = last.as_ref().map(|d| d.message.clone()).unwrap_or_default();
                (
                    TimelineKind::Reconnect,
                    format!(
                        "{why}; reconnecting: attempt {retry_count} in {:.1} s",
                        delay.as_secs_f64()
                    ),
                    last.and_then(|d| d.code),
                )
            }
            Event::Disconnected { info } => {
                if let Some(notice) = notice_for(id, info) {
                    let _ = self.inner.notices.send(notice);
                }
                (
                    TimelineKind::Disconnected,
                    describe_disconnect(info),
                    info.code,
                )
            }
            Event::DevicesChanged { devices, rev } => (
                TimelineKind::Devices,
                format!(
                    "{} device(s) online: {} (rev {rev})",
                    devices.len(),
                    devices
                        .iter()
                        .map(|d| format!("{} {}", d.device_type, d.device_id))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None,
            ),
            Event::Error { code, message } => (TimelineKind::Error, message.clone(), Some(*code)),
            Event::Ready | Event::NotReady => return,
            other => (TimelineKind::State, format!("{other:?}"), None),
        };
        self.timeline(id, kind, text, code);
    }
}

/// The sentence shown for a disconnect (login page, timeline, notification).
pub fn describe_disconnect(info: &DisconnectInfo) -> String {
    let by = info
        .by
        .as_ref()
        .map(|b| {
            format!(
                " by {} ({}, {}, {})",
                b.device_id, b.device_type, b.os, b.ip
            )
        })
        .unwrap_or_default();
    match &info.reason {
        DisconnectReason::Kicked { reason } => format!("signed out{by}: {}", reason.describe()),
        DisconnectReason::Rejected { code } => format!(
            "login refused ({code}): {}",
            vestibule_protocol::Code::from_u16(*code).describe()
        ),
        DisconnectReason::Replaced => {
            "signed out: this device logged in again elsewhere".to_owned()
        }
        DisconnectReason::LoggedOut => "logged out".to_owned(),
        DisconnectReason::Destroyed => "closed".to_owned(),
        DisconnectReason::Lost { .. } | DisconnectReason::Timeout => {
            format!("connection lost: {}", info.message)
        }
    }
}

fn notice_for(id: &str, info: &DisconnectInfo) -> Option<Notice> {
    let title = match info.reason {
        DisconnectReason::Kicked {
            reason: vestibule_client::KickReason::TokenExpired,
        } => "Your session expired",
        DisconnectReason::Kicked { .. } | DisconnectReason::Replaced => "You were signed out",
        DisconnectReason::Rejected { .. } => "Login refused",
        _ => return None,
    };
    Some(Notice {
        account_id: id.to_owned(),
        title: title.to_owned(),
        body: describe_disconnect(info),
    })
}
