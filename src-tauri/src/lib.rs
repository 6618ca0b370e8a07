//! Vestibule's desktop shell: Tauri wiring only. Commands forward to
//! [`vestibule_app::AppCore`]; the UI gets the whole `SessionView` over a
//! channel. [`run_app`] takes any Tauri runtime so tests can run the same
//! wiring on `tauri::test::mock_builder()`.

pub mod commands;
mod links;
mod logging;
pub mod tray;
pub mod update;

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use tauri::{Builder, Manager, RunEvent, Runtime};
use tauri_plugin_notification::NotificationExt;
use vestibule_app::i18n;
use vestibule_app::secrets::Keychain;
use vestibule_app::settings::CloseAction;
use vestibule_app::{AppCore, CoreConfig, DemoMode};
use vestibule_client::{DeviceType, Timing};

/// Command-line flags of `vestibule`.
#[derive(Debug, Parser)]
#[command(name = "vestibule", version, about = "Vestibule desktop")]
pub struct Args {
    /// Start the embedded demo gateway even when servers are configured.
    #[arg(long)]
    pub demo: bool,
    /// Never start the embedded demo gateway.
    #[arg(long, conflicts_with = "demo")]
    pub no_demo: bool,
    /// Start in the tray, without a window (how *Start at login* starts it).
    #[arg(long)]
    pub hidden: bool,
    /// A `vestibule://login?server=…&appKey=…&account=…` link to open.
    pub link: Option<String>,
}

/// Where the app keeps things, from `directories`.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Saved accounts and the install id.
    pub config: PathBuf,
    /// Logs.
    pub logs: PathBuf,
    /// Diagnostics exports.
    pub exports: PathBuf,
}

impl Paths {
    /// The platform directories (XDG on Linux).
    pub fn platform() -> Option<Self> {
        let dirs = directories::ProjectDirs::from("im", "Vestibule", "Vestibule")?;
        let exports = directories::UserDirs::new()
            .and_then(|u| u.download_dir().map(|d| d.to_owned()))
            .unwrap_or_else(|| dirs.data_dir().join("diagnostics"));
        Some(Self {
            config: dirs.config_dir().to_owned(),
            logs: dirs.data_dir().join("logs"),
            exports,
        })
    }
}

/// Every command the UI may call (also declared in build.rs and granted in capabilities/default.json).
#[macro_export]
macro_rules! app_commands {
    () => {
        tauri::generate_handler![
            $crate::commands::subscribe,
            $crate::commands::subscribe_timeline,
            $crate::commands::login,
            $crate::commands::login_demo,
            $crate::commands::logout,
            $crate::commands::kick,
            $crate::commands::kick_others,
            $crate::commands::rename_device,
            $crate::commands::start_pairing,
            $crate::commands::cancel_pairing,
            $crate::commands::lookup_pair,
            $crate::commands::approve_pair,
            $crate::commands::retry_now,
            $crate::commands::switch_account,
            $crate::commands::forget_account,
            $crate::commands::start_demo,
            $crate::commands::demo_add_device,
            $crate::commands::demo_kick_me,
            $crate::commands::export_diagnostics,
            $crate::commands::update_settings,
            $crate::commands::about,
            $crate::commands::open_folder,
            $crate::commands::autostart,
            $crate::commands::set_autostart,
            $crate::commands::update_status,
            $crate::commands::check_for_updates,
            $crate::commands::install_update,
        ]
    };
}

/// The wiring, on any runtime, around a started core. `native` adds the
/// single-instance guard (registered first, so a second launch hands its
/// link to this one), deep links, window state, notifications, autostart,
/// the updater, the tray and the close-to-tray behaviour.
pub fn run_app<R: Runtime>(
    builder: Builder<R>,
    core: AppCore,
    paths: Paths,
    native: bool,
    hidden: bool,
) -> Builder<R> {
    let builder = if native {
        builder
            .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
                tray::show_main(app)
            }))
            .plugin(tauri_plugin_deep_link::init())
            .plugin(
                tauri_plugin_window_state::Builder::default()
                    // Visibility is ours: hidden in the tray or shown.
                    .with_state_flags(
                        tauri_plugin_window_state::StateFlags::all()
                            - tauri_plugin_window_state::StateFlags::VISIBLE,
                    )
                    .build(),
            )
            .plugin(tauri_plugin_notification::init())
            .plugin(tauri_plugin_opener::init())
            .plugin(tauri_plugin_autostart::init(
                tauri_plugin_autostart::MacosLauncher::LaunchAgent,
                Some(vec!["--hidden"]),
            ))
            .plugin(tauri_plugin_updater::Builder::new().build())
    } else {
        builder
    };
    builder
        .manage(commands::Subscription::default())
        .manage(commands::TimelineSubscription::default())
        .manage(update::Updates::default())
        .manage(paths)
        .manage(core.clone())
        .invoke_handler(app_commands!())
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::CloseRequested { api, .. } = event
                && window.label() == "main"
            {
                on_close(window, api);
            }
        })
        .setup(move |app| {
            // The window starts hidden (tauri.conf.json): shown here unless
            // the app started in the tray, so it never flashes.
            if !hidden && let Some(window) = app.get_webview_window("main") {
                let _ = window.show();
            }
            if native {
                tray::install(app.handle(), &core)?;
                links::install(app.handle(), &core);
                // The OS's network and sleep events feed every connection
                // (*No network*, a dial as soon as it is back or on wake).
                #[cfg(target_os = "linux")]
                {
                    let registry = core.registry().clone();
                    tauri::async_runtime::spawn(async move {
                        let _watch = vestibule_client::os::watch(&registry);
                        std::future::pending::<()>().await;
                    });
                }
                let handle = app.handle().clone();
                let mut notices = core.notices();
                tauri::async_runtime::spawn(async move {
                    while let Ok(notice) = notices.recv().await {
                        notify(&handle, &notice.title, &notice.body);
                    }
                });
                update::spawn_daily(app.handle().clone());
            }
            Ok(())
        })
}

/// Shows an OS notification (or logs why it could not).
pub fn notify<R: Runtime>(app: &tauri::AppHandle<R>, title: &str, body: &str) {
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::debug!(error = %e, "no notification shown");
    }
}

/// Closing the main window: hide it to the tray (saying so the first time)
/// or quit, as the person chose in Settings.
fn on_close<R: Runtime>(window: &tauri::Window<R>, api: &tauri::CloseRequestApi) {
    let app = window.app_handle();
    let Some(core) = app.try_state::<AppCore>() else {
        return;
    };
    let settings = core.settings();
    match settings.close_action {
        CloseAction::Quit => app.exit(0),
        CloseAction::Tray => {
            api.prevent_close();
            let _ = window.hide();
            if !settings.close_notice_shown {
                let locale = core.locale();
                notify(
                    app,
                    &i18n::tr(locale, "notice.still_running.title", &[]),
                    &i18n::tr(locale, "notice.still_running.body", &[]),
                );
                let _ = core.change_settings(|mut s| {
                    s.close_notice_shown = true;
                    s
                });
            }
        }
    }
}

/// The app's context (`tauri.conf.json`). With the `e2e-newer-version`
/// feature the version is the next minor one (0.1.0 → 0.2.0): the "newer
/// build" that the updater end-to-end test installs (`scripts/test.sh`).
fn context() -> tauri::Context {
    #[allow(unused_mut)]
    let mut context = tauri::generate_context!();
    #[cfg(feature = "e2e-newer-version")]
    {
        let version = &mut context.package_info_mut().version;
        *version = format!("{}.{}.0", version.major, version.minor + 1)
            .parse()
            .unwrap_or_else(|e| panic!("version: {e}"));
    }
    context
}

/// Starts the desktop app.
pub fn run() {
    update::wait_for_previous();
    let args = Args::parse();
    let Some(paths) = Paths::platform() else {
        eprintln!("vestibule: no home directory to keep settings in");
        std::process::exit(1);
    };
    let _log_guard = logging::init(&paths.logs);
    let context = context();
    tracing::info!(version = %context.package_info().version, config = %paths.config.display(), "starting");
    let config = CoreConfig {
        config_dir: paths.config.clone(),
        export_dir: paths.exports.clone(),
        demo: if args.demo {
            DemoMode::Always
        } else if args.no_demo {
            DemoMode::Never
        } else {
            DemoMode::Auto
        },
        vault: Arc::new(Keychain::probe()),
        device_type: DeviceType::for_this_desktop(),
        os: vestibule_client::os_description(),
        timing: Timing::default(),
        os_locale: sys_locale::get_locale(),
    };
    let core = match tauri::async_runtime::block_on(AppCore::start(config)) {
        Ok(core) => core,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("vestibule: cannot start: {e}");
            std::process::exit(1);
        }
    };
    let builder = run_app(tauri::Builder::default(), core, paths, true, args.hidden);
    let app = match builder.build(context) {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the window");
            eprintln!("vestibule: cannot start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|handle, event| {
        if let RunEvent::Exit = event
            && let Some(core) = handle.try_state::<AppCore>()
        {
            tauri::async_runtime::block_on(core.shutdown());
        }
    });
}
