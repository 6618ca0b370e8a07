//! Signed updates (tauri-plugin-updater). The feed and the public key are in
//! `tauri.conf.json`; a download whose minisign signature is not from the
//! release key (`scripts/release.sh` holds the private one) is refused before
//! anything is written. Checked on demand from Settings and once a day.
//!
//! Debug builds (tests) may point at another feed and key with
//! `VESTIBULE_UPDATE_FEED` and `VESTIBULE_UPDATE_PUBKEY`; release builds
//! ignore both.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_updater::{Update, UpdaterExt};
use vestibule_app::AppCore;
use vestibule_app::view::{CommandError, ErrorCode, UpdateStatus};

/// How often the background check runs (when the person allows it).
pub const CHECK_EVERY: Duration = Duration::from_secs(24 * 60 * 60);

/// The updater's state, shared by the commands and the daily check.
pub struct Updates {
    status: Mutex<UpdateStatus>,
    pending: Mutex<Option<Update>>,
    /// Where the running binary was when the app started (an install replaces it).
    executable: Option<PathBuf>,
}

impl std::fmt::Debug for Updates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Updates")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl Default for Updates {
    fn default() -> Self {
        Self {
            status: Mutex::new(UpdateStatus::Unchecked),
            pending: Mutex::new(None),
            executable: std::env::current_exe().ok(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Updates {
    /// What the last check or install found.
    pub fn status(&self) -> UpdateStatus {
        lock(&self.status).clone()
    }

    fn set(&self, status: UpdateStatus) {
        *lock(&self.status) = status;
    }
}

fn internal(e: impl std::fmt::Display) -> CommandError {
    CommandError::new(ErrorCode::Internal, e.to_string())
}

/// The file an install replaces and the restart starts: the AppImage when
/// the app runs as one (`current_exe` is then inside its read-only mount),
/// else the binary as it was when the app started. (A .deb install is
/// dpkg's business: the plugin hands the package to `dpkg -i`.)
fn install_path<R: Runtime>(app: &AppHandle<R>, updates: &Updates) -> Option<PathBuf> {
    app.env()
        .appimage
        .map(PathBuf::from)
        .or_else(|| updates.executable.clone())
}

fn updater<R: Runtime>(
    app: &AppHandle<R>,
    updates: &Updates,
) -> Result<tauri_plugin_updater::Updater, CommandError> {
    let mut builder = app.updater_builder();
    if cfg!(debug_assertions) {
        if let Ok(feed) = std::env::var("VESTIBULE_UPDATE_FEED") {
            let url = feed.parse().map_err(internal)?;
            builder = builder.endpoints(vec![url]).map_err(internal)?;
        }
        if let Ok(key) = std::env::var("VESTIBULE_UPDATE_PUBKEY") {
            builder = builder.pubkey(key);
        }
    }
    if let Some(path) = install_path(app, updates) {
        builder = builder.executable_path(path);
    }
    builder
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(internal)
}

/// Asks the feed whether a newer version exists.
pub async fn check<R: Runtime>(app: &AppHandle<R>) -> UpdateStatus {
    let updates = app.state::<Updates>();
    updates.set(UpdateStatus::Checking);
    let found = match updater(app, &updates) {
        Ok(updater) => updater.check().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.detail),
    };
    let status = match found {
        Ok(Some(update)) => {
            let status = UpdateStatus::Available {
                version: update.version.clone(),
                notes: update.body.clone(),
            };
            *lock(&updates.pending) = Some(update);
            status
        }
        Ok(None) => UpdateStatus::UpToDate {
            checked_at: now_ms(),
        },
        Err(e) => {
            tracing::info!(error = %e, "could not check for updates");
            UpdateStatus::CouldNotCheck
        }
    };
    if let Some(core) = app.try_state::<AppCore>() {
        let _ = core.change_settings(|mut s| {
            s.last_update_check = Some(now_ms());
            s
        });
    }
    updates.set(status.clone());
    status
}

/// Downloads, verifies and installs the update found by the last check,
/// then restarts into it.
pub async fn install<R: Runtime>(app: &AppHandle<R>) -> Result<(), CommandError> {
    let updates = app.state::<Updates>();
    let Some(update) = lock(&updates.pending).take() else {
        return Err(CommandError::new(
            ErrorCode::NotFound,
            "no update to install: check first",
        ));
    };
    let version = update.version.clone();
    updates.set(UpdateStatus::Installing {
        version: version.clone(),
        downloaded: 0,
        total: None,
    });
    let progress = app.clone();
    let mut downloaded = 0u64;
    let result = update
        .download_and_install(
            |chunk, total| {
                downloaded += chunk as u64;
                // A status per 4 MiB is plenty for a progress bar.
                if downloaded % (4 << 20) < chunk as u64 {
                    progress.state::<Updates>().set(UpdateStatus::Installing {
                        version: update_version(&progress),
                        downloaded,
                        total,
                    });
                }
            },
            || {},
        )
        .await;
    match result {
        Ok(()) => {
            tracing::info!(%version, "update installed; restarting");
            restart(app, install_path(app, &updates));
            Ok(())
        }
        Err(e) => {
            let bad_signature = matches!(
                e,
                tauri_plugin_updater::Error::Minisign(_)
                    | tauri_plugin_updater::Error::SignatureUtf8(_)
                    | tauri_plugin_updater::Error::Base64(_)
                    | tauri_plugin_updater::Error::SignedVersionMismatch { .. }
                    | tauri_plugin_updater::Error::MissingSignedVersion
            );
            tracing::warn!(error = %e, %version, bad_signature, "update not installed");
            updates.set(if bad_signature {
                UpdateStatus::BadSignature {
                    version: version.clone(),
                }
            } else {
                UpdateStatus::InstallFailed {
                    version: version.clone(),
                }
            });
            Err(CommandError::new(ErrorCode::Rejected, e.to_string()))
        }
    }
}

fn update_version<R: Runtime>(app: &AppHandle<R>) -> String {
    match app.state::<Updates>().status() {
        UpdateStatus::Installing { version, .. } => version,
        _ => String::new(),
    }
}

/// Starts the installed binary and quits. The new process waits for this one
/// to be gone (`VESTIBULE_WAIT_FOR_PID`) before it claims the single
/// instance, or it would hand its arguments to us and exit.
fn restart<R: Runtime>(app: &AppHandle<R>, executable: Option<PathBuf>) {
    let Some(executable) = executable else {
        app.restart();
    };
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("vestibule://"))
        .collect();
    match std::process::Command::new(&executable)
        .args(&args)
        .env("VESTIBULE_WAIT_FOR_PID", std::process::id().to_string())
        .spawn()
    {
        Ok(_) => app.exit(0),
        Err(e) => {
            tracing::error!(error = %e, path = %executable.display(), "cannot start the new version");
            app.restart();
        }
    }
}

/// At start: if an older process of ours is still exiting, wait for it (10 s at most).
pub fn wait_for_previous() {
    let Some(pid) = std::env::var("VESTIBULE_WAIT_FOR_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return;
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while running(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `pid` still runs. An exited process its parent has not reaped yet
/// (a zombie) has let go of everything: it counts as gone.
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised name.
        Ok(stat) => !matches!(
            stat.rsplit(')').next().map(str::trim_start),
            Some(rest) if rest.starts_with('Z') || rest.starts_with('X')
        ),
        Err(_) => false,
    }
}

/// The daily check: once a day while the person allows it; a found update
/// becomes an OS notification.
pub fn spawn_daily<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        loop {
            let Some(core) = app.try_state::<AppCore>() else {
                return;
            };
            let settings = core.settings();
            let due = settings.last_update_check.map_or(0, |at| {
                (at + CHECK_EVERY.as_millis() as u64).saturating_sub(now_ms())
            });
            if settings.check_updates && due == 0 {
                if let UpdateStatus::Available { version, .. } = check(&app).await {
                    crate::notify(
                        &app,
                        &vestibule_app::i18n::tr(core.locale(), "notice.update.title", &[]),
                        &vestibule_app::i18n::tr(
                            core.locale(),
                            "notice.update.body",
                            &[("version", &version)],
                        ),
                    );
                }
                tokio::time::sleep(CHECK_EVERY).await;
            } else {
                // Asleep until due, but look again within the hour (the
                // setting may be turned back on).
                tokio::time::sleep(Duration::from_millis(due.clamp(60_000, 3_600_000))).await;
            }
        }
    });
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
