//! The gateway's Debian package, for real: built by
//! scripts/build-gateway-deb.sh from the debug binary, installed with dpkg
//! into a fresh empty root (maintainer scripts included), its unit checked
//! by systemd-analyze, its default configuration checked and round-tripped
//! by the installed binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vestibule_e2e::bin;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap_or_else(|e| {
        panic!("cannot run {command:?}: {e} (scripts/setup.sh --test installs it)")
    });
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn is_root() -> bool {
    text(&run(Command::new("id").arg("-u")).stdout).trim() == "0"
}

/// `program args…`, as root, or else under fakeroot keeping ownership in
/// `state` (so the maintainer script's chown can be read back).
fn as_root(state: &Path, program: &str) -> Command {
    if is_root() {
        return Command::new(program);
    }
    let mut command = Command::new("fakeroot");
    if state.exists() {
        command.arg("-i").arg(state);
    }
    command.arg("-s").arg(state).arg("--").arg(program);
    command
}

/// Builds the .deb and installs it into a fresh root; returns (tempdir, root, deb).
fn install() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let built = run(
        Command::new(workspace().join("scripts/build-gateway-deb.sh"))
            .arg("--binary")
            .arg(bin("vestibule-gateway"))
            .arg("--out")
            .arg(&out),
    );
    let deb = PathBuf::from(
        text(&built.stdout)
            .lines()
            .last()
            .expect("the .deb path")
            .trim(),
    );
    assert!(deb.is_file(), "{deb:?}");

    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("var/lib/dpkg/info")).expect("mkdir");
    std::fs::create_dir_all(root.join("var/lib/dpkg/updates")).expect("mkdir");
    std::fs::write(root.join("var/lib/dpkg/status"), "").expect("status");
    let state = dir.path().join("fakeroot.state");
    // The root is empty: libc6 and systemd are not "installed" in it.
    let installed = run(as_root(&state, "dpkg")
        .arg(format!("--root={}", root.display()))
        .args([
            "--force-script-chrootless",
            "--force-depends",
            "--log=/dev/null",
            "-i",
        ])
        .arg(&deb));
    assert!(
        text(&installed.stdout).contains("Setting up vestibule-gateway"),
        "{}",
        text(&installed.stdout)
    );
    (dir, root, deb, state)
}

#[test]
fn the_package_installs_into_a_clean_root_with_a_verified_hardened_unit() {
    let (dir, root, deb, state) = install();

    // The control data.
    let field =
        |name: &str| text(&run(Command::new("dpkg-deb").args(["-f"]).arg(&deb).arg(name)).stdout);
    assert_eq!(field("Package").trim(), "vestibule-gateway");
    assert!(field("Depends").contains("libc6"));
    let conffiles = text(&run(Command::new("dpkg-deb").arg("--ctrl-tarfile").arg(&deb)).stdout);
    assert!(conffiles.contains("conffiles"), "a conffiles member");
    let listed = text(
        &run(Command::new("dpkg-query")
            .arg(format!(
                "--admindir={}",
                root.join("var/lib/dpkg").display()
            ))
            .args(["-W", "-f=${Status} ${Conffiles}\n", "vestibule-gateway"]))
        .stdout,
    );
    assert!(listed.starts_with("install ok installed"), "{listed}");
    assert!(
        listed.contains("/etc/vestibule/gateway.toml"),
        "the config is a conffile: {listed}"
    );

    // The files, where they belong.
    for file in [
        "usr/bin/vestibule-gateway",
        "etc/vestibule/gateway.toml",
        "usr/lib/systemd/system/vestibule-gateway.service",
        "usr/lib/sysusers.d/vestibule-gateway.conf",
        "usr/share/doc/vestibule-gateway/grafana/vestibule-gateway.json",
        "usr/share/doc/vestibule-gateway/admin-openapi.json",
    ] {
        assert!(root.join(file).is_file(), "{file} is installed");
    }

    // postinst made the system user (in the root, not on this machine) and
    // gave its group, only, read access to the configuration.
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).expect("passwd in the root");
    let user = passwd
        .lines()
        .find(|l| l.starts_with("vestibule:"))
        .unwrap_or_else(|| panic!("no vestibule user in {passwd}"));
    assert!(
        user.ends_with(":/var/lib/vestibule:/usr/sbin/nologin"),
        "{user}"
    );
    let group = std::fs::read_to_string(root.join("etc/group")).expect("group in the root");
    let gid = group
        .lines()
        .find_map(|l| l.strip_prefix("vestibule:x:"))
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("no vestibule group in {group}"))
        .to_owned();
    assert_ne!(gid, "0");
    let config = root.join("etc/vestibule/gateway.toml");
    let owner = text(
        &run(as_root(&state, "stat")
            .args(["-c", "%a %u %g"])
            .arg(&config))
        .stdout,
    );
    assert_eq!(
        owner.trim(),
        format!("640 0 {gid}"),
        "mode, owner, group of the config"
    );

    // The installed binary accepts the installed default configuration.
    let binary = root.join("usr/bin/vestibule-gateway");
    let checked = run(Command::new(&binary)
        .arg("check-config")
        .arg("--config")
        .arg(&config));
    assert!(
        text(&checked.stdout).contains("configuration OK"),
        "{}",
        text(&checked.stdout)
    );
    assert_eq!(text(&checked.stderr), "", "no warning on the default file");

    // The unit: systemd-analyze verify with its ExecStart pointing into the
    // root (the host provides /bin/kill and the targets), no warning at all.
    let unit =
        std::fs::read_to_string(root.join("usr/lib/systemd/system/vestibule-gateway.service"))
            .expect("unit");
    for directive in [
        "User=vestibule",
        "ProtectSystem=strict",
        "StateDirectory=vestibule",
        "LimitNOFILE=",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "CapabilityBoundingSet=\n",
        "RestrictAddressFamilies=",
        "SystemCallFilter=@system-service",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ExecStart=/usr/bin/vestibule-gateway serve --config /etc/vestibule/gateway.toml",
    ] {
        assert!(unit.contains(directive), "the unit has {directive:?}");
    }
    let units = dir.path().join("units");
    std::fs::create_dir_all(&units).expect("mkdir");
    let local = units.join("vestibule-gateway.service");
    std::fs::write(
        &local,
        unit.replace(
            "/usr/bin/vestibule-gateway",
            binary.to_str().expect("utf-8 path"),
        ),
    )
    .expect("write");
    let verified = run(Command::new("systemd-analyze").arg("verify").arg(&local));
    assert_eq!(
        text(&verified.stderr),
        "",
        "systemd-analyze verify complains"
    );
    // And its exposure score stays "OK" (≤ 2.0 of 10).
    let security = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
        .arg(&local));
    assert!(
        text(&security.stdout).contains("OK"),
        "{}",
        text(&security.stdout)
    );

    // A broken unit is caught by the same check (the check can fail).
    let broken = std::fs::read_to_string(&local)
        .expect("unit")
        .replace("ProtectSystem=strict", "ProtectSystem=sometimes");
    std::fs::write(&local, broken).expect("write");
    let broken = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&local)
        .output()
        .expect("systemd-analyze runs");
    assert!(
        text(&broken.stderr).contains("protect system value"),
        "{}",
        text(&broken.stderr)
    );
}

#[test]
fn the_installed_config_round_trips_and_bad_ones_are_named() {
    let (dir, root, _deb, _state) = install();
    let binary = root.join("usr/bin/vestibule-gateway");
    let config = root.join("etc/vestibule/gateway.toml");
    let print = |path: &Path| {
        text(
            &run(Command::new(&binary)
                .args(["print-config", "--show-secrets", "--config"])
                .arg(path)
                .env_remove("VESTIBULE_IDLE_TIMEOUT"))
            .stdout,
        )
    };
    let printed = print(&config);
    assert!(
        printed.contains("data-dir = \"/var/lib/vestibule\""),
        "{printed}"
    );
    assert!(printed.contains("no-demo = true"), "{printed}");
    let again = dir.path().join("printed.toml");
    std::fs::write(&again, &printed).expect("write");
    assert_eq!(
        print(&again),
        printed,
        "print-config of its own output is the same file"
    );

    // Environment over the file, flag over the environment.
    let file = dir.path().join("timeouts.toml");
    std::fs::write(&file, "idle-timeout = 30\nlogin-deadline = 4\n").expect("write");
    let merged = text(
        &run(Command::new(&binary)
            .args(["print-config", "--login-deadline", "6", "--config"])
            .arg(&file)
            .env("VESTIBULE_IDLE_TIMEOUT", "77")
            .env("VESTIBULE_LOGIN_DEADLINE", "5"))
        .stdout,
    );
    assert!(merged.contains("idle-timeout = 77"), "{merged}");
    assert!(merged.contains("login-deadline = 6"), "{merged}");

    // A typo'd key: exit 1, the key and the line named.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "listen = \"127.0.0.1:7878\"\nidle-timout = 30\n").expect("write");
    let out = Command::new(&binary)
        .arg("check-config")
        .arg("--config")
        .arg(&bad)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let message = text(&out.stderr);
    assert!(
        message.contains("idle-timout") && message.contains("line 2"),
        "{message}"
    );
    // Unreadable TLS files are found before serve would fail on them.
    std::fs::write(
        &bad,
        "tls-cert = \"/nonexistent/cert.pem\"\ntls-key = \"/nonexistent/key.pem\"\n",
    )
    .expect("write");
    let out = Command::new(&binary)
        .arg("check-config")
        .arg("--config")
        .arg(&bad)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/nonexistent/cert.pem"),
        "{}",
        text(&out.stderr)
    );
    // A world-readable file with the admin key: accepted, with a warning.
    std::fs::write(&bad, "admin-key = \"a-long-admin-key-for-the-test\"\n").expect("write");
    run(Command::new("chmod").arg("0644").arg(&bad));
    let out = run(Command::new(&binary)
        .arg("check-config")
        .arg("--config")
        .arg(&bad));
    let warning = text(&out.stderr);
    assert!(
        warning.contains("world-readable") && warning.contains("chmod 0640"),
        "{warning}"
    );
    assert!(
        !warning.contains("a-long-admin-key"),
        "the key itself is not shown"
    );
    run(Command::new("chmod").arg("0640").arg(&bad));
    let out = run(Command::new(&binary)
        .arg("check-config")
        .arg("--config")
        .arg(&bad));
    assert_eq!(text(&out.stderr), "", "no warning once it is 0640");
}
