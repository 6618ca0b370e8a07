//! The embedded demo: a gateway in this process on 127.0.0.1 with the demo
//! app, tokens minted locally, and simulated other devices of an account so
//! device management and the signed-out path can be tried at once.

use std::collections::HashMap;
use std::time::Duration;

use vestibule_client::{ClientOptions, DeviceType, ReadyError, Status, Token, Vestibule};
use vestibule_gateway::{Gateway, GatewayConfig, Storage};

use crate::core::{AppCore, lock, not_found};
use crate::view::{CommandError, DemoView, ErrorCode, LoginRequest, TimelineEvent};

/// Accounts the login page suggests.
pub const SUGGESTED_ACCOUNTS: [&str; 3] = ["alice", "bob", "carol"];

/// A simulated device of an account.
#[derive(Debug)]
struct SimDevice {
    device_id: String,
    client: vestibule_client::Client,
}

/// The running demo gateway and its simulated devices.
#[derive(Debug)]
pub struct Demo {
    gateway: Gateway,
    secret: String,
    devices: HashMap<String, Vec<SimDevice>>,
    counter: u32,
}

fn demo_error(message: impl Into<String>) -> CommandError {
    CommandError::new(ErrorCode::Demo, message)
}

impl Demo {
    /// Starts the gateway on 127.0.0.1 (a free port), in memory.
    pub async fn start() -> Result<Self, CommandError> {
        let mut config = GatewayConfig::new(([127, 0, 0, 1], 0).into());
        config.storage = Storage::Memory;
        // Only this app may talk to it, never a web page in the person's browser.
        config.local_only = true;
        let gateway = Gateway::start(config)
            .await
            .map_err(|e| demo_error(format!("cannot start the demo gateway: {e}")))?;
        let secret = gateway
            .demo()
            .map(|d| d.secret.expose().to_owned())
            .ok_or_else(|| demo_error("the demo gateway has no demo app"))?;
        tracing::info!(url = %gateway.ws_url(), "demo gateway started");
        Ok(Self {
            gateway,
            secret,
            devices: HashMap::new(),
            counter: 0,
        })
    }

    /// What the login page shows.
    pub fn view(&self) -> DemoView {
        DemoView {
            url: self.gateway.ws_url(),
            app_key: vestibule_gateway::DEMO_APP_KEY.to_owned(),
            suggested_accounts: SUGGESTED_ACCOUNTS.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// A token for `account`, minted here (valid for a day).
    pub fn mint(&self, account: &str) -> Result<Token, CommandError> {
        vestibule_protocol::token::mint(
            &self.secret,
            vestibule_gateway::DEMO_APP_KEY,
            account,
            Duration::from_secs(24 * 3600),
        )
        .map_err(|e| demo_error(e.to_string()))
    }

    /// Logs in a simulated device of `account`; returns its deviceId once it is online.
    pub async fn add_device(
        &mut self,
        account: &str,
        device_type: DeviceType,
    ) -> Result<String, CommandError> {
        self.counter += 1;
        let device_id = format!(
            "demo-{}-{}",
            device_type.as_str().to_ascii_lowercase(),
            self.counter
        );
        let os = match device_type {
            DeviceType::Android => "Android 15",
            DeviceType::Ios => "iOS 18.2",
            DeviceType::Mac => "macOS 15.2",
            DeviceType::Web => "Firefox 134 on Linux",
            DeviceType::Pc | DeviceType::Unknown => "Windows 11",
        };
        let options = ClientOptions::builder(
            self.gateway.ws_url(),
            vestibule_gateway::DEMO_APP_KEY,
            account,
            self.mint(account)?,
            &device_id,
        )
        .device_type(device_type)
        .os(os)
        .client("vestibule-demo-device", env!("CARGO_PKG_VERSION"))
        .build()
        .map_err(CommandError::from)?;
        // Its own registry: a different device of the same account.
        let client = Vestibule::new()
            .instance(options)
            .map_err(CommandError::from)?;
        if let Err(e) = client.ready(Duration::from_secs(10)).await {
            let _ = client.destroy().await;
            let why = match e {
                ReadyError::Ended(info) => info.message,
                other => other.to_string(),
            };
            return Err(demo_error(format!(
                "the simulated device could not log in: {why}"
            )));
        }
        self.devices
            .entry(account.to_owned())
            .or_default()
            .push(SimDevice {
                device_id: device_id.clone(),
                client,
            });
        Ok(device_id)
    }

    /// The simulated devices of `account` that are still online.
    pub fn devices_of(&self, account: &str) -> Vec<String> {
        self.devices
            .get(account)
            .map(|list| {
                list.iter()
                    .filter(|d| d.client.snapshot().status == Status::Connected)
                    .map(|d| d.device_id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A simulated device of `account` (one is added if none is online) signs out `target`.
    pub async fn kick(&mut self, account: &str, target: &str) -> Result<String, CommandError> {
        let online = self
            .devices
            .get(account)
            .and_then(|list| {
                list.iter()
                    .find(|d| d.client.snapshot().status == Status::Connected)
            })
            .map(|d| (d.device_id.clone(), d.client.clone()));
        if let Some((kicker, client)) = online {
            match client.kick(vec![target.to_owned()]).await {
                Ok(result) => return kicked(kicker, &result, target),
                // That device was itself just signed out (its client has not
                // caught up yet): use a fresh one instead.
                Err(
                    vestibule_client::ClientError::NotConnected
                    | vestibule_client::ClientError::ConnectionLost,
                ) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let id = self.add_device(account, DeviceType::Android).await?;
        let client = self
            .devices
            .get(account)
            .and_then(|l| l.iter().find(|d| d.device_id == id))
            .map(|d| d.client.clone())
            .ok_or_else(|| demo_error("the simulated device vanished"))?;
        let result = client
            .kick(vec![target.to_owned()])
            .await
            .map_err(CommandError::from)?;
        kicked(id, &result, target)
    }

    /// Logs out every simulated device and stops the gateway.
    pub async fn shutdown(self) {
        for device in self.devices.into_values().flatten() {
            let _ = device.client.destroy().await;
        }
        self.gateway.shutdown().await;
    }
}

/// The kicker's id if `target` was signed out.
fn kicked(
    kicker: String,
    result: &vestibule_client::KickResult,
    target: &str,
) -> Result<String, CommandError> {
    if result.kicked.is_empty() {
        return Err(demo_error(format!("{target} is not online")));
    }
    Ok(kicker)
}

impl AppCore {
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
            demo.as_ref()
                .ok_or_else(|| demo_error("the demo gateway is not running"))?
                .mint(account)?
        };
        self.login(LoginRequest {
            url: demo_view.url,
            app_key: demo_view.app_key,
            account: account.to_owned(),
            token: token.expose().to_owned(),
            remember: false,
            proxy: None,
        })
        .await
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
            let demo = demo
                .as_mut()
                .ok_or_else(|| demo_error("the demo gateway is not running"))?;
            demo.add_device(&account, device_type).await?
        };
        self.timeline(
            id,
            TimelineEvent::DemoAddDevice {
                device_type,
                device_id: device_id.clone(),
            },
            format!("demo: a simulated {device_type} device ({device_id}) logged in"),
        );
        self.refresh_demo_devices().await;
        Ok(device_id)
    }

    /// A simulated other device of a demo account signs this app out.
    pub async fn demo_kick_me(&self, id: &str) -> Result<(), CommandError> {
        let account = self.demo_account(id)?;
        self.timeline(
            id,
            TimelineEvent::DemoKickMe,
            "demo: ask another device to sign this one out".into(),
        );
        {
            let mut demo = self.inner.demo.lock().await;
            let demo = demo
                .as_mut()
                .ok_or_else(|| demo_error("the demo gateway is not running"))?;
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
            return Err(demo_error("simulated devices exist only for demo accounts"));
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
}
