//! Child processes for cross-process tests and benchmarks.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// A workspace binary built into the same `target/<profile>` as the running
/// test or benchmark, or a panic that says how to build it.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> or target/<profile>/<bin>.
    let candidates = [
        exe.parent().and_then(Path::parent).map(|d| d.join(name)),
        exe.parent().map(|d| d.join(name)),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is missing next to {}: build it first (cargo build -p vestibule-gateway -p vestibule-cli -p vestibule-desktop)",
                exe.display()
            )
        })
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// A spawned process whose stdout is read line by line; killed on drop.
#[derive(Debug)]
pub struct Proc {
    /// The child.
    pub child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    /// Every stdout line read so far.
    pub seen: Vec<String>,
}

impl Proc {
    /// Spawns `command` with stdout and stdin piped (closing stdin stops
    /// processes that wait on it); panics if it cannot start.
    pub fn spawn(command: Command) -> Self {
        Self::try_spawn(command).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Proc::spawn`], for callers that report errors instead of panicking.
    pub fn try_spawn(mut command: Command) -> std::io::Result<Self> {
        command
            .stdout(Stdio::piped())
            .stdin(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| std::io::Error::new(e.kind(), format!("spawn {command:?}: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        Ok(Self {
            child,
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
        })
    }

    /// The process id (0 once it was reaped).
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Reads lines until one satisfies `want` (within `wait`); says why not otherwise.
    pub async fn try_line_where(
        &mut self,
        wait: Duration,
        want: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let found = tokio::time::timeout(wait, async {
            while let Ok(Some(line)) = self.lines.next_line().await {
                self.seen.push(line.clone());
                if want(&line) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => Ok(line),
            Ok(None) => Err(format!("stdout ended; saw {:?}", self.seen)),
            Err(_) => Err(format!(
                "no matching line within {wait:?}; saw {:?}",
                self.seen
            )),
        }
    }

    /// Reads lines until one satisfies `want` (within `wait`), or panics with what it saw.
    pub async fn line_where(&mut self, wait: Duration, want: impl Fn(&str) -> bool) -> String {
        self.try_line_where(wait, want)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits for exit (within `wait`) and returns the exit code.
    pub async fn exit_code(&mut self, wait: Duration) -> i32 {
        let status = tokio::time::timeout(wait, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("did not exit within {wait:?}; saw {:?}", self.seen))
            .unwrap_or_else(|e| panic!("wait: {e}"));
        while let Ok(Some(line)) = self.lines.next_line().await {
            self.seen.push(line);
        }
        status.code().unwrap_or(-1)
    }

    /// Sends SIGTERM to the process's children, then to the process
    /// (tauri-driver stops WebKitWebDriver and the app on SIGTERM).
    pub fn signal_terminate(&self) {
        if let Some(pid) = self.child.id() {
            let pid = pid.to_string();
            let _ = std::process::Command::new("pkill")
                .args(["-TERM", "-P", &pid])
                .status();
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status();
        }
    }

    /// SIGTERM (a graceful stop), then waits for the exit (at most 20 s).
    pub async fn terminate(mut self) {
        self.signal_terminate();
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
    }

    /// SIGKILL (a crash: no close frames, no notice), then waits for the exit.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
    }
}
