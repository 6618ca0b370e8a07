//! `vestibule-cli`: Vestibule from a terminal, for people and scripts.
//!
//! Exit codes: 0 success (or Ctrl-C), 1 usage or unexpected error, 2 could
//! not log in for a retryable reason before giving up, 3 the login was
//! refused (302, 403, 404, 417, 420 signed out while away, ...), 4 signed
//! out remotely (kicked, token expired, replaced).
//!
//! A login with the app's token (`--token`) is a new sign-in: the gateway
//! gives the device a session, and other devices are told. A login with
//! `--session-token` (from `login --print-session-token`) is the device
//! coming back. Ctrl-C logs out (the session ends) unless `--stay-signed-in`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use vestibule_client::{
    ClientOptions, DeviceType, DisconnectInfo, DisconnectReason, Event, NetState, Proxy,
    ReadyError, RecvError, Status, Vestibule,
};
use vestibule_protocol::{Device, Token, UnixMillis};

mod render;

/// Exit code when the gateway refused the login.
const EXIT_REFUSED: u8 = 3;
/// Exit code when the session was signed out remotely.
const EXIT_SIGNED_OUT: u8 = 4;
/// Exit code when a one-shot command could not log in in time.
const EXIT_UNREACHABLE: u8 = 2;

#[derive(Debug, Parser)]
#[command(name = "vestibule-cli", version, about = "Vestibule from a terminal")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Mint a login token offline (JWT HS256 signed with the app secret).
    Token(TokenArgs),
    /// Log in and stay connected, printing one line per event, until Ctrl-C
    /// or a remote sign-out.
    Login(LoginArgs),
    /// Log in as a helper device, print the account's signed-in devices
    /// (online and offline, with when each was last active), and log out.
    Devices(OneShotArgs),
    /// Log in as a helper device, sign out the given devices (online or
    /// not: their sessions end), and log out.
    Kick(KickArgs),
    /// Log in as a helper device, name a device of the account, and log out.
    Rename(RenameArgs),
    /// Log in as a helper device, show who is waiting behind a pairing code
    /// (another device's "Sign in with another device"), ask, approve it,
    /// and log out: that device is then signed in to this account.
    Approve(ApproveArgs),
    /// Sign this terminal in from another device: print a pairing code, wait
    /// until a signed-in device approves it, print the account.
    Pair(PairArgs),
}

#[derive(Debug, Args)]
struct ApproveArgs {
    #[command(flatten)]
    shot: OneShotArgs,
    /// The code the other device shows (ABCD-EFGH; case and dashes do not matter).
    code: String,
    /// Approve without asking (for scripts).
    #[arg(long)]
    yes: bool,
}

#[derive(Debug, Args)]
struct PairArgs {
    /// The gateway, e.g. ws://127.0.0.1:7878/v1/ws.
    #[arg(long, env = "VESTIBULE_URL")]
    url: String,
    /// The app.
    #[arg(long, env = "VESTIBULE_APP_KEY")]
    app_key: String,
    /// This device's id (default: a new random one).
    #[arg(long)]
    device_id: Option<String>,
    /// Device type: PC, Mac, Web, Android or iOS.
    #[arg(long, default_value = "PC")]
    device_type: DeviceType,
    /// Print one JSON object per line.
    #[arg(long)]
    json: bool,
    /// Print the new session's token once approved (a credential: to log in
    /// with `login --session-token`).
    #[arg(long)]
    print_session_token: bool,
}

#[derive(Debug, Args)]
struct TokenArgs {
    /// The app's secret.
    #[arg(long, env = "VESTIBULE_SECRET", hide_env_values = true)]
    secret: String,
    /// The appKey the token is for.
    #[arg(long)]
    app_key: String,
    /// The account the token is for.
    #[arg(long)]
    account: String,
    /// Lifetime in seconds; 0 mints a static token (no expiry: only a
    /// sign-out or idleness ends the sessions it signs in).
    #[arg(long, default_value_t = 86_400)]
    ttl: u64,
}

#[derive(Debug, Args)]
struct ConnectArgs {
    /// The gateway, e.g. ws://127.0.0.1:7878/v1/ws.
    #[arg(long, env = "VESTIBULE_URL")]
    url: String,
    /// The app.
    #[arg(long, env = "VESTIBULE_APP_KEY")]
    app_key: String,
    /// The account.
    #[arg(long, env = "VESTIBULE_ACCOUNT")]
    account: String,
    /// The app's login token (prefer VESTIBULE_TOKEN: arguments are visible to other users in `ps`).
    #[arg(
        long,
        env = "VESTIBULE_TOKEN",
        hide_env_values = true,
        required_unless_present = "session_token"
    )]
    token: Option<String>,
    /// A device session's token from `login --print-session-token`: this
    /// device coming back (with --device-id, the same device). Prefer
    /// VESTIBULE_SESSION_TOKEN.
    #[arg(long, env = "VESTIBULE_SESSION_TOKEN", hide_env_values = true)]
    session_token: Option<String>,
    /// This device's id (default: a new random one).
    #[arg(long)]
    device_id: Option<String>,
    /// Another gateway of the same cluster to fail over to (repeatable):
    /// after a failed attempt or a lost connection the next attempt goes to
    /// the next one.
    #[arg(long = "fallback-url", value_name = "URL")]
    fallback_urls: Vec<String>,
    /// The cluster's LBS, e.g. http://node:7878/v1/lbs (repeatable): asked
    /// for the live nodes; after a failure the next attempt goes to another.
    #[arg(long = "lbs-url", value_name = "URL")]
    lbs_urls: Vec<String>,
    /// Reach the gateway through this proxy: http://[user:password@]host:port
    /// (CONNECT) or socks5://[user:password@]host:port; `direct` for none.
    /// Default: HTTPS_PROXY (wss://) / HTTP_PROXY (ws://) / ALL_PROXY, unless
    /// NO_PROXY lists the host.
    #[arg(long, env = "VESTIBULE_PROXY", hide_env_values = true)]
    proxy: Option<String>,
    /// A customTag for this login.
    #[arg(long)]
    custom_tag: Option<String>,
    /// Print one JSON object per line instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct LoginArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Device type: PC, Mac, Web, Android or iOS.
    #[arg(long, default_value = "PC")]
    device_type: DeviceType,
    /// Print the device session's token once signed in (a `sessionToken`
    /// object with --json), to come back later with --session-token. It is
    /// a credential: it is never logged.
    #[arg(long)]
    print_session_token: bool,
    /// On Ctrl-C, close without logging out: the device stays signed in
    /// (offline) and its session token brings it back.
    #[arg(long)]
    stay_signed_in: bool,
}

#[derive(Debug, Args)]
struct OneShotArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Device type of the helper login. Under the app's device policy this
    /// login can sign out a device of the same type: pick one you do not use.
    #[arg(long, default_value = "Web")]
    device_type: DeviceType,
    /// Give up if not logged in within this many seconds.
    #[arg(long, default_value_t = 15)]
    timeout: u64,
}

#[derive(Debug, Args)]
struct KickArgs {
    #[command(flatten)]
    shot: OneShotArgs,
    /// The deviceIds to sign out.
    #[arg(required = true)]
    device_ids: Vec<String>,
}

#[derive(Debug, Args)]
struct RenameArgs {
    #[command(flatten)]
    shot: OneShotArgs,
    /// The device to name.
    #[arg(value_name = "DEVICE_ID")]
    target: String,
    /// Its new name: 1–64 characters.
    name: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse().command).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Token(args) => {
            let token = if args.ttl == 0 {
                vestibule_protocol::token::mint_static(&args.secret, &args.app_key, &args.account)
            } else {
                vestibule_protocol::token::mint(
                    &args.secret,
                    &args.app_key,
                    &args.account,
                    Duration::from_secs(args.ttl),
                )
            }
            .context("cannot mint a token")?;
            println!("{}", token.expose());
            Ok(ExitCode::SUCCESS)
        }
        Command::Login(args) => login(args).await,
        Command::Devices(args) => {
            let (client, json) = one_shot_login(&args).await?;
            let Some(client) = client else {
                return Ok(ExitCode::from(EXIT_UNREACHABLE));
            };
            let devices = client.devices();
            if json {
                println!("{}", serde_json::to_string(&devices)?);
            } else {
                print_devices(&devices, Some(&client.snapshot().device_id));
            }
            leave(&client, &args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Kick(args) => {
            let (client, json) = one_shot_login(&args.shot).await?;
            let Some(client) = client else {
                return Ok(ExitCode::from(EXIT_UNREACHABLE));
            };
            let result = client.kick(args.device_ids).await;
            leave(&client, &args.shot).await?;
            let result = result.context("kick failed")?;
            if json {
                println!("{}", serde_json::to_string(&result)?);
            } else {
                for id in &result.kicked {
                    println!("signed out {id}");
                }
                for id in &result.not_found {
                    println!("not signed in: {id}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Approve(args) => approve(args).await,
        Command::Pair(args) => pair(args).await,
        Command::Rename(args) => {
            let (client, json) = one_shot_login(&args.shot).await?;
            let Some(client) = client else {
                return Ok(ExitCode::from(EXIT_UNREACHABLE));
            };
            let result = client.rename_device(&args.target, &args.name).await;
            leave(&client, &args.shot).await?;
            result.context("rename failed")?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"renamed": args.target, "name": args.name.trim()})
                );
            } else {
                println!("{} is now named {:?}", args.target, args.name.trim());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `approve CODE`: who is asking, then (after a yes) the approval.
async fn approve(args: ApproveArgs) -> anyhow::Result<ExitCode> {
    let (client, json) = one_shot_login(&args.shot).await?;
    let Some(client) = client else {
        return Ok(ExitCode::from(EXIT_UNREACHABLE));
    };
    let refused = |e: &vestibule_client::ClientError| {
        matches!(e, vestibule_client::ClientError::Rejected { .. })
    };
    let who = match client.lookup_pair(&args.code).await {
        Ok(who) => who,
        Err(e) => {
            leave(&client, &args.shot).await?;
            eprintln!("cannot approve: {e}");
            return Ok(ExitCode::from(if refused(&e) { EXIT_REFUSED } else { 1 }));
        }
    };
    let account = client
        .snapshot()
        .login
        .map(|l| l.account)
        .unwrap_or_default();
    if json {
        println!(
            "{}",
            serde_json::json!({"type": "requester", "requester": &who})
        );
    } else {
        println!(
            "{} · {} · {} · {} {} · asked {} ({})",
            who.device.device_type,
            who.device.os,
            who.ip,
            who.client.name,
            who.client.version,
            render::clock(who.requested_at),
            render::ago(who.requested_at, now()),
        );
    }
    let yes = args.yes || {
        use std::io::Write as _;
        eprint!("Sign this device in to {account}? Only if it is yours, in front of you. [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let read = tokio::task::spawn_blocking(move || {
            std::io::stdin().read_line(&mut answer).map(|_| answer)
        })
        .await?;
        read.is_ok_and(|a| matches!(a.trim(), "y" | "Y" | "yes" | "Yes"))
    };
    if !yes {
        leave(&client, &args.shot).await?;
        println!("not approved");
        return Ok(ExitCode::from(1));
    }
    let result = client.approve_pair(&args.code).await;
    leave(&client, &args.shot).await?;
    match result {
        Ok(()) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"type": "approved", "account": account})
                );
            } else {
                println!(
                    "approved: {} ({}) is signed in to {account}",
                    who.device.device_id, who.device.device_type
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("cannot approve: {e}");
            Ok(ExitCode::from(if refused(&e) { EXIT_REFUSED } else { 1 }))
        }
    }
}

/// `pair`: this terminal asks to be signed in by another device.
async fn pair(args: PairArgs) -> anyhow::Result<ExitCode> {
    use vestibule_client::pairing::{Pairing, PairingEvent, PairingOptions};
    let device = vestibule_client::DeviceInfo {
        device_id: args
            .device_id
            .clone()
            .unwrap_or_else(|| format!("cli-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])),
        device_type: args.device_type,
        os: vestibule_client::os_description(),
        mac: None,
        custom_tag: None,
    };
    let program = vestibule_client::ClientInfo {
        name: "vestibule-cli".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    let mut pairing = Pairing::start(PairingOptions::new(
        &args.url,
        &args.app_key,
        device,
        program,
    ));
    while let Some(event) = pairing.next().await {
        match event {
            PairingEvent::Code { code, expires_at } => {
                if args.json {
                    println!(
                        "{}",
                        serde_json::json!({"type": "pairCode", "code": code, "expiresAt": expires_at})
                    );
                } else {
                    println!(
                        "enter {code} on a signed-in device (Link a new device, or `vestibule-cli approve {code}`); valid until {}",
                        render::clock(expires_at)
                    );
                }
            }
            PairingEvent::Paired {
                account,
                session_token,
                ..
            } => {
                if args.json {
                    println!(
                        "{}",
                        serde_json::json!({"type": "paired", "account": account})
                    );
                    if args.print_session_token {
                        println!(
                            "{}",
                            serde_json::json!({"type": "sessionToken", "sessionToken": session_token.expose()})
                        );
                    }
                } else {
                    println!("approved: signed in to {account}");
                    if args.print_session_token {
                        println!("session token: {}", session_token.expose());
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            PairingEvent::Failed { code, message, .. } => {
                eprintln!("pairing failed: {message}");
                return Ok(ExitCode::from(if code.is_some() {
                    EXIT_REFUSED
                } else {
                    EXIT_UNREACHABLE
                }));
            }
        }
    }
    Ok(ExitCode::FAILURE)
}

fn options(connect: &ConnectArgs, device_type: DeviceType) -> ClientOptions {
    let device_id = connect
        .device_id
        .clone()
        .unwrap_or_else(|| format!("cli-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]));
    let mut options = ClientOptions::new(
        &connect.url,
        &connect.app_key,
        &connect.account,
        Token::new(connect.token.clone().unwrap_or_default()),
        device_id,
    );
    options.session_token = connect.session_token.clone().map(Token::new);
    options.fallback_urls = connect.fallback_urls.clone();
    options.lbs_urls = connect.lbs_urls.clone();
    options.proxy = match connect.proxy.as_deref().map(str::trim) {
        None | Some("") => Proxy::FromEnvironment,
        Some("direct") => Proxy::Direct,
        Some(url) => Proxy::Url(url.to_owned()),
    };
    options.device.device_type = device_type;
    options.device.os = vestibule_client::os_description();
    options.device.custom_tag = connect.custom_tag.clone();
    options.client.name = "vestibule-cli".into();
    options.client.version = env!("CARGO_PKG_VERSION").into();
    options.auto_connect = false;
    options
}

/// `login`: stays connected, one line per event.
async fn login(args: LoginArgs) -> anyhow::Result<ExitCode> {
    let json = args.connect.json;
    let client = Vestibule::global()
        .instance(options(&args.connect, args.device_type))
        .context("invalid options")?;
    let mut events = client.subscribe();
    // The OS's network and sleep events (Linux): *No network* at once, and a
    // dial as soon as it is back or the machine wakes.
    #[cfg(target_os = "linux")]
    let _os = vestibule_client::os::watch(Vestibule::global());
    client.connect();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => {
                if args.stay_signed_in {
                    client.close().await?;
                    if !json {
                        println!("{} closed; this device stays signed in", render::clock(now()));
                    }
                } else {
                    client.destroy().await?;
                    if !json {
                        println!("{} logged out", render::clock(now()));
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            event = events.recv() => {
                let event = match event {
                    Ok(event) => event,
                    Err(RecvError::Lagged(n)) => {
                        eprintln!("(missed {n} events; the state below is current)");
                        continue;
                    }
                    Err(RecvError::Closed) => return Ok(ExitCode::FAILURE),
                };
                if json {
                    println!("{}", serde_json::to_string(&event)?);
                } else if event == (Event::NetState { state: NetState::Disconnected })
                    && client.snapshot().status == Status::Reconnecting
                {
                    println!("{} no network: waiting for it (no attempts until it is back)", render::clock(now()));
                } else if let (Event::WillReconnect { retry_count, delay }, Some(last)) =
                    (&event, client.snapshot().last_disconnect)
                {
                    // Why, too: "connection lost: proxy refused: 407 …; reconnecting…".
                    println!(
                        "{} {last}; reconnecting: attempt {retry_count} in {:.1} s",
                        render::clock(now()),
                        delay.as_secs_f64()
                    );
                } else if let Some(line) = render::event_line(&event, now()) {
                    println!("{line}");
                    if let Event::DevicesChanged { devices, .. } = &event {
                        print_devices(devices, None);
                    }
                }
                if args.print_session_token
                    && matches!(&event, Event::Connected { info } if info.new_session)
                    && let Some(session) = client.session_token()
                {
                    // Asked for: the one place the credential is shown.
                    if json {
                        println!("{}", serde_json::json!({"type": "sessionToken", "sessionToken": session.expose()}));
                    } else {
                        println!("session token: {}", session.expose());
                    }
                }
                if let Event::Disconnected { info } = &event {
                    return Ok(exit_for(info));
                }
            }
        }
    }
}

fn exit_for(info: &DisconnectInfo) -> ExitCode {
    match info.reason {
        DisconnectReason::Rejected { .. } => ExitCode::from(EXIT_REFUSED),
        DisconnectReason::Kicked { .. } | DisconnectReason::Replaced => {
            ExitCode::from(EXIT_SIGNED_OUT)
        }
        DisconnectReason::LoggedOut | DisconnectReason::Destroyed => ExitCode::SUCCESS,
        DisconnectReason::Lost { .. } | DisconnectReason::Timeout | DisconnectReason::NoNetwork => {
            ExitCode::FAILURE
        }
    }
}

/// Ends a one-shot command's login: a helper signed in with the app's token
/// logs out (its session ends, nothing lingers in device lists); one that came
/// back with a session token only closes (the session stays usable).
async fn leave(client: &vestibule_client::Client, args: &OneShotArgs) -> anyhow::Result<()> {
    if args.connect.session_token.is_some() {
        client.close().await?;
    } else {
        client.destroy().await?;
    }
    Ok(())
}

/// Logs in for a one-shot command; `None` (after printing why) when it could not.
async fn one_shot_login(
    args: &OneShotArgs,
) -> anyhow::Result<(Option<vestibule_client::Client>, bool)> {
    let json = args.connect.json;
    let client = Vestibule::global()
        .instance(options(&args.connect, args.device_type))
        .context("invalid options")?;
    client.connect();
    match client.ready(Duration::from_secs(args.timeout)).await {
        Ok(_) => Ok((Some(client), json)),
        Err(ReadyError::Ended(info)) => {
            client.destroy().await?;
            eprintln!("cannot log in: {info}");
            std::process::exit(i32::from(match info.reason {
                DisconnectReason::Rejected { .. } => EXIT_REFUSED,
                _ => EXIT_SIGNED_OUT,
            }));
        }
        Err(e) => {
            client.destroy().await?;
            eprintln!("cannot log in within {} s: {e}", args.timeout);
            Ok((None, json))
        }
    }
}

fn print_devices(devices: &[Device], me: Option<&str>) {
    for line in render::device_table(devices, me, now()) {
        println!("{line}");
    }
}

fn now() -> UnixMillis {
    vestibule_client::WallClock::system().now()
}
