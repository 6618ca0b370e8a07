//! The desktop app's core: accounts and their connections. No Tauri in
//! here: the shell forwards commands and streams the view.
//!
//! One `Mutex<State>` holds the live accounts; it is never held across an
//! `.await` (clients are cloned out before they are called).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, watch};
use vestibule_client::{
    Client, ClientOptions, DeviceType, OptionsUpdate, Proxy, Timing, Token, Vestibule, WallClock,
};

use crate::account::{Account, watch_account};
use crate::accounts::{AccountStore, SavedAccount, account_id, install_device_id};
use crate::demo::Demo;
use crate::secrets::TokenVault;
use crate::timeline::{Timeline, TimelineHub};
use crate::view::{
    CommandError, DemoView, ErrorCode, InstallView, KeychainView, KickResult, LoginRequest,
    SessionView, TimelineEvent,
};

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
    /// The OS's language (`zh_CN.UTF-8`, `en-US`), for *Language: system*.
    pub os_locale: Option<String>,
}

/// Something worth an OS notification, in the app's language, already
/// filtered by the person's notification settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The account it concerns.
    pub account_id: String,
    /// Which setting lets it through.
    pub kind: NoticeKind,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
}

/// The kinds of notices, one setting each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    /// A device signed in to the account.
    NewSignIn,
    /// The account was signed out (kicked, expired, refused).
    SignedOut,
}

/// The core. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppCore {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: CoreConfig,
    registry: Vestibule,
    pub(crate) device_id: String,
    pub(crate) keychain: KeychainView,
    pub(crate) install: InstallView,
    pub(crate) store: Mutex<AccountStore>,
    pub(crate) state: Mutex<State>,
    pub(crate) view: watch::Sender<SessionView>,
    /// How many times the view changed and was sent (diagnostics: one per change).
    pub(crate) publishes: std::sync::atomic::AtomicU64,
    pub(crate) timelines: TimelineHub,
    pub(crate) notices: broadcast::Sender<Notice>,
    pub(crate) demo: tokio::sync::Mutex<Option<Demo>>,
    pub(crate) demo_view: Mutex<Option<DemoView>>,
    /// *Sign in with another device*, while it runs.
    pub(crate) pairing: Mutex<Option<crate::pairing::Running>>,
    /// The person's settings.
    pub(crate) settings: Mutex<crate::settings::Settings>,
    /// The latest login link and its number (the form refills when it changes).
    pub(crate) link_prefill: Mutex<Option<(u32, crate::link::LoginLink)>>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) accounts: Vec<Account>,
    pub(crate) active: Option<String>,
}

/// An account to connect: the login form's fields once checked, or a
/// remembered account at start.
#[derive(Debug)]
pub(crate) struct OpenRequest {
    pub(crate) url: String,
    pub(crate) app_key: String,
    pub(crate) account: String,
    /// The app's token (empty when coming back with a remembered session).
    pub(crate) token: Token,
    /// The device session's token *Remember me* kept.
    pub(crate) session_token: Option<Token>,
    /// The session's token is (to be) kept in the keychain.
    pub(crate) remembered: bool,
    /// The account lives on the embedded demo gateway.
    pub(crate) demo: bool,
    /// The way to its server.
    pub(crate) proxy: Proxy,
}

/// The vault entry of an account's proxy password.
fn proxy_secret_id(id: &str) -> String {
    format!("{id}#proxy")
}

/// The login page's proxy text as a choice: empty for the system's settings.
fn proxy_choice(text: Option<&str>) -> Proxy {
    match text.map(str::trim) {
        None | Some("") => Proxy::FromEnvironment,
        Some(t) if t.eq_ignore_ascii_case("direct") => Proxy::Direct,
        Some(url) => Proxy::Url(url.to_owned()),
    }
}

/// A proxy as the UI and the accounts file may hold it: no password.
pub(crate) fn proxy_text(proxy: &Proxy) -> Option<String> {
    match proxy {
        Proxy::FromEnvironment => None,
        Proxy::Direct => Some("direct".to_owned()),
        Proxy::Url(url) => Some(split_password(url).0),
    }
}

/// `url` without its password, and the password.
fn split_password(url: &str) -> (String, Option<String>) {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let password = parsed.password().map(str::to_owned);
            let _ = parsed.set_password(None);
            let mut text = parsed.to_string();
            // `Url` adds a root path to `http://host:port`.
            if parsed.path() == "/" && !url.trim_end().ends_with('/') {
                text.pop();
            }
            (text, password)
        }
        Err(_) => (url.to_owned(), None),
    }
}

/// `url` with `password` put back.
fn with_password(url: &str, password: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() && parsed.password().is_none() => {
            let _ = parsed.set_password(Some(password));
            let mut text = parsed.to_string();
            if parsed.path() == "/" && !url.trim_end().ends_with('/') {
                text.pop();
            }
            text
        }
        _ => url.to_owned(),
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn now() -> u64 {
    WallClock::system().now()
}

/// Whether a kept credential is a device session's token (not an app token
/// an older version kept).
fn is_session_token(token: &Token) -> bool {
    token.expose().starts_with("vst1.")
}

pub(crate) fn not_found(id: &str) -> CommandError {
    CommandError::new(ErrorCode::NotFound, format!("no account {id:?}"))
}

impl AppCore {
    /// The registry of this app's connections: the desktop's OS watchers
    /// (`vestibule_client::os::watch`) feed it the network and sleep events.
    pub fn registry(&self) -> &Vestibule {
        &self.inner.registry
    }

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
            Err(e) => KeychainView {
                available: false,
                reason: Some(e.to_string()),
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
        let (notices, _) = broadcast::channel(32);
        let settings = crate::settings::Settings::load(&config.config_dir);
        let core = Self {
            inner: Arc::new(Inner {
                config,
                registry: Vestibule::new(),
                device_id,
                view: watch::Sender::new(crate::projection::initial(
                    &keychain, &install, &settings,
                )),
                publishes: std::sync::atomic::AtomicU64::new(0),
                keychain,
                install,
                store: Mutex::new(store),
                state: Mutex::default(),
                timelines: TimelineHub::new(),
                notices,
                demo: tokio::sync::Mutex::new(None),
                demo_view: Mutex::new(None),
                pairing: Mutex::new(None),
                settings: Mutex::new(settings),
                link_prefill: Mutex::new(None),
            }),
        };
        if start_demo && let Err(e) = core.start_demo().await {
            tracing::warn!(error = %e, "demo gateway not started");
        }
        for saved in remembered {
            let id = saved.id();
            core.move_legacy_token(&saved);
            match core.inner.config.vault.get(&id) {
                Ok(Some(kept)) => {
                    // Since device sessions the keychain holds the session's
                    // token; an older version kept the app's token, which
                    // signs in once and is then replaced by a session.
                    let (token, session_token) = if is_session_token(&kept) {
                        (Token::new(""), Some(kept))
                    } else {
                        tracing::info!(account = %id, "an app token from an older version: signing in with it once");
                        (kept, None)
                    };
                    let proxy = core.saved_proxy(&id, saved.proxy.as_deref());
                    let request = OpenRequest {
                        url: saved.url,
                        app_key: saved.app_key,
                        account: saved.account,
                        token,
                        session_token,
                        remembered: true,
                        demo: false,
                        proxy,
                    };
                    if let Err(e) = core.open(request) {
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

    /// The proxy for `text` (the page's or the accounts file's): one written
    /// without its password (as both hold it) gets the one the keychain kept.
    fn saved_proxy(&self, id: &str, text: Option<&str>) -> Proxy {
        match proxy_choice(text) {
            Proxy::Url(url) => match self.inner.config.vault.get(&proxy_secret_id(id)) {
                Ok(Some(password)) => Proxy::Url(with_password(&url, password.expose())),
                _ => Proxy::Url(url),
            },
            other => other,
        }
    }

    /// Moves a token an older version kept under the ambiguous id to the new one.
    fn move_legacy_token(&self, saved: &SavedAccount) {
        let (id, legacy) = (saved.id(), saved.legacy_id());
        if id == legacy {
            return;
        }
        let vault = &self.inner.config.vault;
        if let Ok(Some(token)) = vault.get(&legacy)
            && vault.get(&id).is_ok_and(|t| t.is_none())
        {
            match vault.set(&id, &token) {
                Ok(()) => {
                    let _ = vault.delete(&legacy);
                    tracing::info!(account = %id, "moved a remembered token to its new keychain id");
                }
                Err(e) => {
                    tracing::warn!(account = %id, error = %e, "cannot move a remembered token")
                }
            }
        }
    }

    /// The view; every change is published.
    pub fn view(&self) -> watch::Receiver<SessionView> {
        self.inner.view.subscribe()
    }

    /// How many views were published so far (each one a real change).
    pub fn view_publishes(&self) -> u64 {
        self.inner
            .publishes
            .load(std::sync::atomic::Ordering::Relaxed)
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
                return Err(CommandError::required(field));
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
        // The app's token is never kept: once signed in, the device session's
        // token is (see `keep_session`). A new sign-in replaces what was kept.
        let remembered = req.remember && !demo && self.inner.keychain.available;
        if let Err(e) = self.inner.config.vault.delete(&id) {
            tracing::debug!(account = %id, error = %e, "no remembered session to delete");
        }
        if !url::Url::parse(&url).is_ok_and(|u| matches!(u.scheme(), "ws" | "wss")) {
            return Err(CommandError::invalid(
                "server",
                format!("the server is a ws:// or wss:// URL, got {url:?}"),
            ));
        }
        let action = (
            TimelineEvent::LogIn {
                account: account.clone(),
                url: url.clone(),
            },
            format!("log in as {account} to {url}"),
        );
        let proxy = self.saved_proxy(&id, req.proxy.as_deref());
        proxy
            .validate()
            .map_err(|e| CommandError::invalid("proxy", e.to_string()))?;
        self.open(OpenRequest {
            url,
            app_key,
            account,
            token,
            session_token: None,
            remembered,
            demo,
            proxy,
        })?;
        self.timeline(&id, action.0, action.1);
        Ok(id)
    }

    /// Creates or reuses the instance for an account, makes it active and connects.
    pub(crate) fn open(&self, req: OpenRequest) -> Result<(), CommandError> {
        let id = account_id(&req.url, &req.app_key, &req.account);
        let mut state = lock(&self.inner.state);
        if let Some(existing) = state.accounts.iter_mut().find(|a| a.id == id) {
            existing.remembered = req.remembered;
            existing.proxy = req.proxy.clone();
            let client = existing.client.clone();
            state.active = Some(id);
            drop(state);
            let update = OptionsUpdate {
                proxy: Some(req.proxy),
                ..OptionsUpdate::token(req.token)
            };
            tokio::spawn(async move {
                if let Err(e) = client.set_options(update).await {
                    tracing::warn!(error = %e, "token update failed");
                }
                client.connect();
            });
            self.publish();
            return Ok(());
        }
        let options = ClientOptions::builder(
            &req.url,
            &req.app_key,
            &req.account,
            req.token,
            &self.inner.device_id,
        )
        .device_type(self.inner.config.device_type)
        .os(self.inner.config.os.clone())
        .client("vestibule-desktop", env!("CARGO_PKG_VERSION"))
        .timing(self.inner.config.timing)
        .proxy(req.proxy.clone())
        .auto_connect(false);
        let options = match req.session_token {
            Some(session) => options.session_token(session),
            None => options,
        }
        .build()
        .map_err(CommandError::from)?;
        let client = self
            .inner
            .registry
            .instance(options)
            .map_err(CommandError::from)?;
        let watcher = tokio::spawn(watch_account(
            Arc::downgrade(&self.inner),
            id.clone(),
            &client,
        ))
        .abort_handle();
        state.accounts.push(Account {
            id: id.clone(),
            url: req.url,
            app_key: req.app_key,
            account: req.account,
            remembered: req.remembered,
            demo: req.demo,
            proxy: req.proxy,
            client: client.clone(),
            timeline: Timeline::default(),
            watcher,
            demo_devices: Vec::new(),
        });
        state.active = Some(id);
        drop(state);
        client.connect();
        self.publish();
        Ok(())
    }

    pub(crate) fn client(&self, id: &str) -> Result<Client, CommandError> {
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
        self.timeline(id, TimelineEvent::LogOut, "log out".into());
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
            TimelineEvent::SignOut {
                device_ids: device_ids.clone(),
            },
            format!("sign out {}", device_ids.join(", ")),
        );
        let result = client.kick(device_ids).await.map_err(CommandError::from)?;
        Ok(result)
    }

    /// Signs out every other device of the account.
    pub async fn kick_others(&self, id: &str) -> Result<KickResult, CommandError> {
        let client = self.client(id)?;
        self.timeline(
            id,
            TimelineEvent::SignOutOthers,
            "sign out all other devices".into(),
        );
        client.kick_others().await.map_err(CommandError::from)
    }

    /// Names a device of the account: 1–64 characters, trimmed.
    pub async fn rename_device(
        &self,
        id: &str,
        device_id: &str,
        name: &str,
    ) -> Result<(), CommandError> {
        let client = self.client(id)?;
        self.timeline(
            id,
            TimelineEvent::Rename {
                device_id: device_id.to_owned(),
                name: name.trim().to_owned(),
            },
            format!("rename {device_id} to {:?}", name.trim()),
        );
        client
            .rename_device(device_id, name)
            .await
            .map_err(CommandError::from)
    }

    /// Skips the backoff.
    pub fn retry_now(&self, id: &str) -> Result<(), CommandError> {
        let client = self.client(id)?;
        self.timeline(id, TimelineEvent::RetryNow, "retry now".into());
        client.retry_now();
        Ok(())
    }

    /// Shows another account; both stay connected. `None` shows the login page.
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
        // Both under the state lock (state, then store: the order
        // `remember_account` takes them in), so a login being recorded at this
        // moment cannot save the account again after it was forgotten.
        let (account, saved) = {
            let mut state = lock(&self.inner.state);
            let index = state.accounts.iter().position(|a| a.id == id);
            let account = index.map(|i| state.accounts.remove(i));
            if state.active.as_deref() == Some(id) {
                state.active = state.accounts.first().map(|a| a.id.clone());
            }
            let saved = lock(&self.inner.store).remove(id);
            (account, saved)
        };
        let saved = saved.map_err(|e| CommandError::new(ErrorCode::Storage, e.to_string()))?;
        if account.is_none() && !saved {
            return Err(not_found(id));
        }
        if let Some(account) = account {
            let _ = account.client.destroy().await;
        }
        if let Err(e) = self.inner.config.vault.delete(id) {
            tracing::debug!(error = %e, "no remembered token to delete");
        }
        if let Err(e) = self.inner.config.vault.delete(&proxy_secret_id(id)) {
            tracing::debug!(error = %e, "no proxy password to delete");
        }
        self.publish();
        Ok(())
    }

    /// Closes every connection and the demo gateway (app exit). A
    /// remembered account stays signed in (its device shows offline and its
    /// session brings it back at the next start); any other logs out, since
    /// nothing could bring it back.
    pub async fn shutdown(&self) {
        let clients: Vec<(Client, bool)> = lock(&self.inner.state)
            .accounts
            .iter()
            .map(|a| (a.client.clone(), a.remembered))
            .collect();
        for (client, remembered) in clients {
            let _ = if remembered {
                client.close().await
            } else {
                client.destroy().await
            };
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

    /// Keeps a remembered account's session token in the keychain (after a
    /// sign-in gave it a new one).
    pub(crate) fn keep_session(&self, id: &str) {
        let (client, remembered) = {
            let state = lock(&self.inner.state);
            let Some(account) = state.accounts.iter().find(|a| a.id == id) else {
                return;
            };
            (account.client.clone(), account.remembered)
        };
        let Some(session) = client.session_token().filter(|_| remembered) else {
            return;
        };
        if let Err(e) = self.inner.config.vault.set(id, &session) {
            tracing::warn!(account = %id, error = %e, "session not remembered");
            if let Some(account) = lock(&self.inner.state)
                .accounts
                .iter_mut()
                .find(|a| a.id == id)
            {
                account.remembered = false;
            }
        }
    }

    /// Forgets the keychain credential of every remembered account whose
    /// session ended for good (signed out by a device or the server, revoked,
    /// expired, banned), before any view shows it on the login page: no
    /// restart can sign a signed-out device back in.
    pub(crate) fn forget_ended_sessions(&self) {
        let ended: Vec<String> = lock(&self.inner.state)
            .accounts
            .iter_mut()
            .filter(|a| a.remembered)
            .filter(|a| {
                matches!(
                    a.client.snapshot().status,
                    vestibule_client::Status::SignedOut | vestibule_client::Status::NeedsToken
                )
            })
            .map(|a| {
                a.remembered = false;
                a.id.clone()
            })
            .collect();
        for id in ended {
            if let Err(e) = self.inner.config.vault.delete(&id) {
                tracing::warn!(account = %id, error = %e, "cannot forget an ended session");
            } else {
                tracing::info!(account = %id, "the session ended; its keychain entry is gone");
            }
            self.update_saved(&id, |saved| saved.remember = false);
        }
    }

    /// Saves a logged-in account (never for demo accounts: their gateway lives only as long as the app).
    pub(crate) fn remember_account(&self, id: &str) {
        let state = lock(&self.inner.state);
        let Some(account) = state.accounts.iter().find(|a| a.id == id) else {
            return;
        };
        if account.demo {
            return;
        }
        let saved = SavedAccount {
            url: account.url.clone(),
            app_key: account.app_key.clone(),
            account: account.account.clone(),
            device_id: self.inner.device_id.clone(),
            remember: account.remembered,
            last_used: now(),
            proxy: proxy_text(&account.proxy),
        };
        // The proxy's password goes to the keychain, never to the file.
        let secret = proxy_secret_id(id);
        let kept = match &account.proxy {
            Proxy::Url(url) => split_password(url).1,
            _ => None,
        };
        let vault = &self.inner.config.vault;
        let stored = match kept {
            Some(password) => vault.set(&secret, &Token::new(password)),
            None => vault.delete(&secret),
        };
        if let Err(e) = stored {
            tracing::warn!(error = %e, "cannot keep the proxy's password");
        }
        // Still under the state lock: see `forget_account`.
        if let Err(e) = lock(&self.inner.store).upsert(saved) {
            tracing::error!(error = %e, "cannot save accounts");
        }
    }
}
