//! The app's Tauri commands: each forwards to [`AppCore`]. Errors cross as
//! `CommandError {code, field, serverCode, retryAfterMs, detail}` with a closed code enum.

use std::sync::Mutex;

use tauri::ipc::Channel;
use tauri::{AppHandle, Runtime, State};
use tokio::sync::watch;
use vestibule_app::AppCore;
use vestibule_app::settings::{Settings, SettingsUpdate};
use vestibule_app::view::{
    AboutView, CommandError, DemoView, ErrorCode, Folder, KickResult, LoginRequest, SessionView,
    TimelineUpdate, UpdateStatus,
};
use vestibule_client::DeviceType;

/// A live stream to the UI; a new subscription (a reloaded page) replaces the old one.
#[derive(Debug, Default)]
pub struct Stream(Mutex<Option<tauri::async_runtime::JoinHandle<()>>>);

impl Stream {
    /// Makes `task` the stream, stopping the one it replaces.
    fn replace(&self, task: tauri::async_runtime::JoinHandle<()>) {
        let previous = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .replace(task);
        if let Some(previous) = previous {
            previous.abort();
        }
    }
}

/// The live `subscribe` stream.
#[derive(Debug, Default)]
pub struct Subscription(Stream);

impl std::ops::Deref for Subscription {
    type Target = Stream;
    fn deref(&self) -> &Stream {
        &self.0
    }
}

/// Sends the current view, then every change, in order, until `send` fails.
pub async fn forward_views(
    mut views: watch::Receiver<SessionView>,
    mut send: impl FnMut(SessionView) -> bool,
) {
    let first = views.borrow_and_update().clone();
    if !send(first) {
        return;
    }
    while views.changed().await.is_ok() {
        let next = views.borrow_and_update().clone();
        if !send(next) {
            return;
        }
    }
}

/// Streams `SessionView`s to the UI over `on_view`: the current one first, then every change.
#[tauri::command]
pub async fn subscribe(
    core: State<'_, AppCore>,
    subscription: State<'_, Subscription>,
    on_view: Channel<SessionView>,
) -> Result<(), CommandError> {
    let views = core.view();
    let task =
        tauri::async_runtime::spawn(forward_views(views, move |view| on_view.send(view).is_ok()));
    subscription.replace(task);
    Ok(())
}

/// The live `subscribe_timeline` stream.
#[derive(Debug, Default)]
pub struct TimelineSubscription(Stream);

impl std::ops::Deref for TimelineSubscription {
    type Target = Stream;
    fn deref(&self) -> &Stream {
        &self.0
    }
}

/// Sends every account's timeline, then each new entry, until `send` fails.
/// A subscriber that fell behind gets the whole history again (`reset`).
pub async fn forward_timelines(core: AppCore, mut send: impl FnMut(TimelineUpdate) -> bool) {
    loop {
        let (history, mut updates) = core.timelines();
        for update in history {
            if !send(update) {
                return;
            }
        }
        loop {
            match updates.recv().await {
                Ok(update) => {
                    if !send(update) {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

/// Streams timeline updates to the UI over `on_update`: each account's
/// history first (`reset: true`), then every new entry.
#[tauri::command]
pub async fn subscribe_timeline(
    core: State<'_, AppCore>,
    subscription: State<'_, TimelineSubscription>,
    on_update: Channel<TimelineUpdate>,
) -> Result<(), CommandError> {
    let core = core.inner().clone();
    let task = tauri::async_runtime::spawn(forward_timelines(core, move |update| {
        on_update.send(update).is_ok()
    }));
    subscription.replace(task);
    Ok(())
}

/// Logs in with the login form.
#[tauri::command]
pub async fn login(
    core: State<'_, AppCore>,
    request: LoginRequest,
) -> Result<String, CommandError> {
    core.login(request).await
}

/// Logs in to the embedded demo gateway.
#[tauri::command]
pub async fn login_demo(core: State<'_, AppCore>, account: String) -> Result<String, CommandError> {
    core.login_demo(&account).await
}

/// Logs out an account.
#[tauri::command]
pub async fn logout(core: State<'_, AppCore>, account_id: String) -> Result<(), CommandError> {
    core.logout(&account_id).await
}

/// Signs out other devices.
#[tauri::command]
pub async fn kick(
    core: State<'_, AppCore>,
    account_id: String,
    device_ids: Vec<String>,
) -> Result<KickResult, CommandError> {
    core.kick(&account_id, device_ids).await
}

/// Signs out every other device.
#[tauri::command]
pub async fn kick_others(
    core: State<'_, AppCore>,
    account_id: String,
) -> Result<KickResult, CommandError> {
    core.kick_others(&account_id).await
}

/// Names a device of the account (this one or another).
#[tauri::command]
pub async fn rename_device(
    core: State<'_, AppCore>,
    account_id: String,
    device_id: String,
    name: String,
) -> Result<(), CommandError> {
    core.rename_device(&account_id, &device_id, &name).await
}

/// *Sign in with another device*: shows a code until another device approves it.
#[tauri::command]
pub async fn start_pairing(
    core: State<'_, AppCore>,
    request: vestibule_app::view::PairingRequest,
) -> Result<(), CommandError> {
    core.start_pairing(request).await
}

/// Stops *Sign in with another device*.
#[tauri::command]
pub async fn cancel_pairing(core: State<'_, AppCore>) -> Result<(), CommandError> {
    core.cancel_pairing();
    Ok(())
}

/// *Link a new device*: who waits behind a code.
#[tauri::command]
pub async fn lookup_pair(
    core: State<'_, AppCore>,
    account_id: String,
    code: String,
) -> Result<vestibule_app::view::PairRequesterView, CommandError> {
    core.lookup_pair(&account_id, &code).await
}

/// *Link a new device*: approves a code; that device is signed in to this account.
#[tauri::command]
pub async fn approve_pair(
    core: State<'_, AppCore>,
    account_id: String,
    code: String,
) -> Result<(), CommandError> {
    core.approve_pair(&account_id, &code).await
}

/// Skips the reconnect backoff.
#[tauri::command]
pub async fn retry_now(core: State<'_, AppCore>, account_id: String) -> Result<(), CommandError> {
    core.retry_now(&account_id)
}

/// Shows another account (or, with `null`, the login page to add one).
#[tauri::command]
pub async fn switch_account(
    core: State<'_, AppCore>,
    account_id: Option<String>,
) -> Result<(), CommandError> {
    core.switch_account(account_id.as_deref())
}

/// Logs out and forgets an account.
#[tauri::command]
pub async fn forget_account(
    core: State<'_, AppCore>,
    account_id: String,
) -> Result<(), CommandError> {
    core.forget_account(&account_id).await
}

/// Starts the embedded demo gateway.
#[tauri::command]
pub async fn start_demo(core: State<'_, AppCore>) -> Result<DemoView, CommandError> {
    core.start_demo().await
}

/// Logs in a simulated other device of a demo account.
#[tauri::command]
pub async fn demo_add_device(
    core: State<'_, AppCore>,
    account_id: String,
    device_type: DeviceType,
) -> Result<String, CommandError> {
    core.demo_add_device(&account_id, device_type).await
}

/// Has a simulated device sign this app out.
#[tauri::command]
pub async fn demo_kick_me(
    core: State<'_, AppCore>,
    account_id: String,
) -> Result<(), CommandError> {
    core.demo_kick_me(&account_id).await
}

/// Writes the account's diagnostics to a file; returns its path.
#[tauri::command]
pub async fn export_diagnostics(
    core: State<'_, AppCore>,
    account_id: String,
) -> Result<String, CommandError> {
    core.export_diagnostics(&account_id)
}

/// Changes settings; returns them as saved.
#[tauri::command]
pub async fn update_settings(
    core: State<'_, AppCore>,
    update: SettingsUpdate,
) -> Result<Settings, CommandError> {
    core.update_settings(update)
}

/// Version and folders, for Settings → About.
#[tauri::command]
pub async fn about<R: Runtime>(
    app: AppHandle<R>,
    paths: State<'_, crate::Paths>,
) -> Result<AboutView, CommandError> {
    Ok(AboutView {
        // The version the updater compares against (tauri.conf.json's).
        version: app.package_info().version.to_string(),
        config_dir: paths.config.display().to_string(),
        log_dir: paths.logs.display().to_string(),
        export_dir: paths.exports.display().to_string(),
    })
}

/// Opens one of the app's folders in the file manager.
#[tauri::command]
pub async fn open_folder<R: Runtime>(
    app: AppHandle<R>,
    paths: State<'_, crate::Paths>,
    folder: Folder,
) -> Result<(), CommandError> {
    use tauri_plugin_opener::OpenerExt;
    let path = match folder {
        Folder::Config => &paths.config,
        Folder::Logs => &paths.logs,
        Folder::Exports => &paths.exports,
    };
    let _ = std::fs::create_dir_all(path);
    app.opener()
        .open_path(path.display().to_string(), None::<&str>)
        .map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))
}

/// Whether the app starts when the person logs in to the computer.
#[tauri::command]
pub async fn autostart<R: Runtime>(app: AppHandle<R>) -> Result<bool, CommandError> {
    use tauri_plugin_autostart::ManagerExt;
    app.autolaunch()
        .is_enabled()
        .map_err(|e| CommandError::new(ErrorCode::Storage, e.to_string()))
}

/// Starts the app (hidden, in the tray) when the person logs in, or stops that.
#[tauri::command]
pub async fn set_autostart<R: Runtime>(
    app: AppHandle<R>,
    enabled: bool,
) -> Result<bool, CommandError> {
    use tauri_plugin_autostart::ManagerExt;
    let launcher = app.autolaunch();
    let done = if enabled {
        launcher.enable()
    } else {
        launcher.disable()
    };
    done.and_then(|()| launcher.is_enabled())
        .map_err(|e| CommandError::new(ErrorCode::Storage, e.to_string()))
}

/// What the last update check found.
#[tauri::command]
pub async fn update_status(
    updates: State<'_, crate::update::Updates>,
) -> Result<UpdateStatus, CommandError> {
    Ok(updates.status())
}

/// Checks the update feed now.
#[tauri::command]
pub async fn check_for_updates<R: Runtime>(
    app: AppHandle<R>,
) -> Result<UpdateStatus, CommandError> {
    Ok(crate::update::check(&app).await)
}

/// Downloads, verifies and installs the update found, then restarts.
#[tauri::command]
pub async fn install_update<R: Runtime>(app: AppHandle<R>) -> Result<(), CommandError> {
    crate::update::install(&app).await
}
