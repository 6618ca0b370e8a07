// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    #[cfg(target_os = "linux")]
    webkit_env::apply();
    vestibule_desktop::run();
}

/// WebKitGTK settings that must be in the environment before GTK starts.
/// Setting variables in a running process is unsafe in Rust 2024, so the
/// process re-executes itself (same pid, `execve`) with them set.
#[cfg(target_os = "linux")]
mod webkit_env {
    use std::os::unix::process::CommandExt;

    /// The DMA-BUF renderer costs ~65 MiB PSS across the app's processes and
    /// buys nothing for a small UI. `VESTIBULE_WEBKIT_DEFAULTS=1` keeps WebKit's defaults.
    const VARS: [(&str, &str); 1] = [("WEBKIT_DISABLE_DMABUF_RENDERER", "1")];

    pub fn apply() {
        if std::env::var_os("VESTIBULE_WEBKIT_DEFAULTS").is_some()
            || VARS
                .iter()
                .all(|(name, _)| std::env::var_os(name).is_some())
        {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut command = std::process::Command::new(exe);
        command.args(std::env::args_os().skip(1));
        for (name, value) in VARS {
            if std::env::var_os(name).is_none() {
                command.env(name, value);
            }
        }
        // Only returns on failure; then run with WebKit's defaults.
        let error = command.exec();
        eprintln!("vestibule: could not apply WebKit settings ({error}); continuing");
    }
}
