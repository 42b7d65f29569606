//! The sandbox: a local HTTP server that plays both Defender hosts the
//! connector talks to (sign-in and API) on one port. It serves a synthetic
//! tenant generated lazily from a seed, or a fixtures folder, moves through
//! simulated days on request and injects the faults a connector must survive
//! (`microsoft-tvm.md`, "Sandbox").

mod auth;
mod body;
mod clock;
mod faults;
mod fixtures;
mod limits;
mod mix;
mod options;
mod records;
mod reply;
mod server;
mod source;
mod stats;
mod tenant;
mod vulns;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use async_trait::async_trait;
use clap::Parser;
use inlet_core::registry::SandboxFuture;
use inlet_core::{BoxError, SandboxError, SandboxHandle};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use fixtures::FixtureError;
pub use options::{
    Fault, FaultSpecError, Permission, SandboxOptions, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
    DEFAULT_DAILY_CHANGE_PERCENT, DEFAULT_DEVICES, DEFAULT_SEED, DEFAULT_TENANT_ID,
    DEFAULT_VULNS_PER_DEVICE,
};
pub use source::AdvanceError;
pub use stats::SandboxStats;
pub use tenant::{ChangeStatus, SyntheticTenant, TenantSummary};

use clock::Clock;
use faults::{FaultPlan, Faults};
use server::{App, Settings};
use source::Dataset;

/// Why [`start`] failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the fixtures folder cannot be served")]
    Fixtures(#[from] FixtureError),
    #[error("loading the sandbox's data was interrupted")]
    Load(#[source] tokio::task::JoinError),
    #[error("building the synthetic tenant failed")]
    Tenant(#[from] AdvanceError),
}

/// Parses command-line style arguments (no program name) and starts a sandbox.
pub fn start_from_args(args: Vec<String>) -> SandboxFuture {
    Box::pin(async move {
        let options = SandboxOptions::try_parse_from(args).map_err(|error| {
            use clap::error::ErrorKind;
            let text = error.render().to_string();
            match error.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => SandboxError::Help(text),
                _ => SandboxError::Usage(text),
            }
        })?;
        let running = start(options).await.map_err(SandboxError::Start)?;
        Ok(Box::new(running) as Box<dyn SandboxHandle>)
    })
}

async fn load_data(options: &SandboxOptions, clock: &Clock) -> Result<Dataset, StartError> {
    match &options.fixtures {
        Some(dir) => {
            let dir = dir.clone();
            let days = tokio::task::spawn_blocking(move || fixtures::load(&dir))
                .await
                .map_err(StartError::Load)??;
            Ok(Dataset::fixtures(days))
        }
        None => {
            let tenant =
                SyntheticTenant::new(options.seed, options.devices, options.vulns_per_device)
                    .with_daily_change_percent(options.daily_change_percent);
            // Day 0 begins exactly at the pin, so pinned runs are reproducible.
            let start = options.now.unwrap_or_else(|| clock.now());
            Ok(Dataset::synthetic(tenant, start).await?)
        }
    }
}

/// Starts a sandbox and serves it until [`RunningSandbox::shutdown`] (or drop).
pub async fn start(options: SandboxOptions) -> Result<RunningSandbox, BoxError> {
    let clock = Clock::new(options.now);
    let data = load_data(&options, &clock).await?;
    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: options.listen,
            source,
        })?;
    let local = listener.local_addr().map_err(|source| StartError::Bind {
        addr: options.listen,
        source,
    })?;
    let host = match local.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    let base_url = format!("http://{}", SocketAddr::new(host, local.port()));

    let app = Arc::new(App {
        settings: Settings {
            tenant_id: options.tenant_id.clone(),
            client_id: options.client_id.clone(),
            client_secret: options.client_secret.clone(),
            denied: options.deny_permissions.clone(),
        },
        data,
        clock,
        tokens: Default::default(),
        limits: Default::default(),
        faults: Faults::new(FaultPlan::new(&options.faults), options.seed),
        stats: Default::default(),
        base_url: base_url.clone(),
        port: local.port(),
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let router = server::router(Arc::clone(&app));
    let task = tokio::spawn(async move {
        let serving = axum::serve(listener, router).with_graceful_shutdown(async {
            // A dropped sender also stops the server.
            let _ = stopped.await;
        });
        if let Err(error) = serving.await {
            tracing::error!(error = %error, "sandbox server stopped");
        }
    });
    Ok(RunningSandbox {
        base_url,
        app,
        stop: Some(stop),
        task: Some(task),
    })
}

/// A sandbox serving on loopback (or `--listen`).
pub struct RunningSandbox {
    base_url: String,
    app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RunningSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The accepted secret stays out of Debug output.
        f.debug_struct("RunningSandbox")
            .field("base_url", &self.base_url)
            .field("day", &self.day())
            .finish_non_exhaustive()
    }
}

impl RunningSandbox {
    /// Counts of what was served so far.
    pub fn stats(&self) -> SandboxStats {
        self.app.stats.snapshot()
    }

    /// The current simulated day (0 at start).
    pub fn day(&self) -> u32 {
        self.app.data.current_day()
    }

    /// Moves the simulated tenant one day on; the new day number (the same
    /// as `POST /_sandbox/advance-day`).
    ///
    /// Simulated days and real time: the change events of day `d` are
    /// stamped within a second after the real instant day `d` began (start-up
    /// or its advance call, at least a second after the previous day), so a
    /// delta asked with the start of the previous sync as `sinceTime` returns
    /// exactly the days advanced since, plus the overlap of the 6-hour window
    /// upstream also sends. Device and row timestamps are placed relative to
    /// their day's start: active devices reported within the day before it,
    /// stale devices recede a day per day. Every day's snapshot is kept, so a
    /// skiptoken issued on an older day keeps paging through that day.
    ///
    /// A fixtures folder has one day per folder (`day2/` is day 1, ...);
    /// advancing past the last one fails and leaves the day unchanged.
    pub async fn advance_day(&self) -> Result<u32, AdvanceError> {
        self.app.data.advance(self.app.clock.now()).await
    }

    /// Stops serving and waits for open connections to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[async_trait]
impl SandboxHandle for RunningSandbox {
    fn base_url(&self) -> String {
        self.base_url.clone()
    }

    fn instance_config(&self) -> serde_json::Value {
        let settings = &self.app.settings;
        serde_json::json!({
            "tenant_id": settings.tenant_id,
            "client_id": settings.client_id,
            "client_secret": settings.client_secret,
            "api_url": self.base_url,
            "login_url": self.base_url,
        })
    }

    async fn advance_day(&self) -> Result<u32, BoxError> {
        RunningSandbox::advance_day(self)
            .await
            .map_err(|error| Box::new(error) as BoxError)
    }

    async fn shutdown(self: Box<Self>) {
        RunningSandbox::shutdown(*self).await
    }

    fn issued_credentials(&self) -> Vec<String> {
        self.app.tokens.issued()
    }
}
