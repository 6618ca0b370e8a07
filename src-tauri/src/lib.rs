//! Vestibule's desktop shell: Tauri wiring only. Commands forward to
//! [`vestibule_app::AppCore`]; the UI gets the whole `SessionView` over a
//! channel. [`run_app`] takes any Tauri runtime so tests can run the same
//! wiring on `tauri::test::mock_builder()`.

pub mod commands;
mod logging;
pub mod tray;

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use tauri::{Builder, Manager, RunEvent, Runtime};
use tauri_plugin_notification::NotificationExt;
use vestibule_app::secrets::Keychain;
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
        ]
    };
}

/// The wiring, on any runtime, around a started core. `native` adds the
/// single-instance guard (registered first), window state, notifications and
/// the tray.
pub fn run_app<R: Runtime>(builder: Builder<R>, core: AppCore, native: bool) -> Builder<R> {
    let builder = if native {
        builder
            .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
                tray::show_main(app)
            }))
            .plugin(tauri_plugin_window_state::Builder::default().build())
            .plugin(tauri_plugin_notification::init())
    } else {
        builder
    };
    builder
        .manage(commands::Subscription::default())
        .manage(commands::TimelineSubscription::default())
        .manage(core.clone())
        .invoke_handler(app_commands!())
        .setup(move |app| {
            if native {
                tray::install(app.handle(), &core)?;
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
                        if let Err(e) = handle
                            .notification()
                            .builder()
                            .title(&notice.title)
                            .body(&notice.body)
                            .show()
                        {
                            tracing::debug!(error = %e, "no notification shown");
                        }
                    }
                });
            }
            Ok(())
        })
}

/// Starts the desktop app.
pub fn run() {
    let args = Args::parse();
    let Some(paths) = Paths::platform() else {
        eprintln!("vestibule: no home directory to keep settings in");
        std::process::exit(1);
    };
    let _log_guard = logging::init(&paths.logs);
    tracing::info!(version = env!("CARGO_PKG_VERSION"), config = %paths.config.display(), "starting");
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
    let app = match run_app(tauri::Builder::default(), core, true).build(tauri::generate_context!())
    {
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
