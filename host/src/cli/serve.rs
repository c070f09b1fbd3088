//! `cally serve`: the HTTP API on the embedded SQLite store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::BadInput;
use super::limits::SandboxArgs;
use crate::api::tls::{CertificateFiles, ReloadingCert};
use crate::api::{self, ApiHost};
use crate::audit::{CheckpointSchedule, DEFAULT_CHECKPOINT_INTERVAL};
use crate::retention;
use crate::sandbox::SandboxConfig;

/// Arguments of `cally serve`. Each setting comes from its flag, else its
/// environment variable, else the `--config` file, else the default.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Where the database, the pseudonym key and precompiled plugins live
    /// [default: ./cally-data].
    #[arg(long, env = "CALLY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The address to listen on; port 0 takes any free port, printed at start.
    /// One that is not loopback needs --tls-cert/--tls-key or --insecure-http
    /// [default: 127.0.0.1:8080].
    #[arg(long, env = "CALLY_BIND")]
    bind: Option<SocketAddr>,
    /// A TOML file with `data_dir`, `bind`, `tls_cert`, `tls_key`,
    /// `insecure_http`, the intervals and a `[limits]` table (the platform
    /// limits' flags, in snake case), for what flags and the environment leave
    /// unset.
    #[arg(long, env = "CALLY_CONFIG")]
    config: Option<PathBuf>,
    /// Seconds between scheduled retention purges; 0 turns the schedule off
    /// [default: 3600].
    #[arg(long, env = "CALLY_RETENTION_INTERVAL_SECS")]
    retention_interval_secs: Option<u64>,
    /// Seconds between signed audit checkpoints (each tenant's chain head that
    /// moved, appended to <data-dir>/audit-checkpoints.jsonl); 0 turns the
    /// schedule off [default: 60].
    #[arg(long, env = "CALLY_CHECKPOINT_INTERVAL_SECS")]
    checkpoint_interval_secs: Option<u64>,
    /// Also create the demo tenant: the bundled examples approved and active,
    /// a few leads with consents, and a key for each role (printed).
    #[arg(long)]
    demo: bool,
    /// Serve HTTPS with this PEM certificate chain (server certificate first);
    /// needs --tls-key. SIGHUP reloads both files.
    #[arg(long, env = "CALLY_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "CALLY_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Accept plain HTTP on an address that is not loopback (behind your own
    /// TLS proxy, say); without it such a bind is refused. Warned at every start.
    #[arg(long, env = "CALLY_INSECURE_HTTP")]
    insecure_http: bool,
    /// The platform limits: pool size, wall-clock bound, memory budget and caps.
    #[command(flatten)]
    limits: SandboxArgs,
}

/// The `--config` file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// See [`ServeArgs::data_dir`].
    data_dir: Option<PathBuf>,
    /// See [`ServeArgs::bind`].
    bind: Option<SocketAddr>,
    /// See [`ServeArgs::retention_interval_secs`].
    retention_interval_secs: Option<u64>,
    /// See [`ServeArgs::checkpoint_interval_secs`].
    checkpoint_interval_secs: Option<u64>,
    /// See [`ServeArgs::tls_cert`].
    tls_cert: Option<PathBuf>,
    /// See [`ServeArgs::tls_key`].
    tls_key: Option<PathBuf>,
    /// See [`ServeArgs::insecure_http`].
    insecure_http: Option<bool>,
    /// The `[limits]` table: see [`SandboxArgs`].
    #[serde(default)]
    limits: SandboxArgs,
}

/// What `cally serve` runs with, each from flag, environment, file or default.
struct Settings {
    data_dir: PathBuf,
    bind: SocketAddr,
    retention: Option<Duration>,
    checkpoints: Option<Duration>,
    /// `None`: plain HTTP, allowed only on loopback or with `--insecure-http`.
    tls: Option<CertificateFiles>,
    /// The platform limits, flags over the file's `[limits]`.
    sandbox: SandboxConfig,
}

impl ServeArgs {
    /// The data directory, address, retention and checkpoint intervals (`None`:
    /// off) and TLS files: flag or environment, else file, else default.
    /// Refuses plain HTTP on a non-loopback address unless `--insecure-http`.
    fn settings(&self) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    BadInput(format!("cannot read config file {}: {e}", path.display()))
                })?;
                toml::from_str::<ConfigFile>(&text)
                    .map_err(|e| BadInput(format!("config file {}: {e}", path.display())))?
            }
            None => ConfigFile::default(),
        };
        let data_dir = self
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./cally-data"));
        let bind = self
            .bind
            .or(file.bind)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let retention = match self
            .retention_interval_secs
            .or(file.retention_interval_secs)
        {
            Some(0) => None,
            Some(secs) => Some(Duration::from_secs(secs)),
            None => Some(retention::DEFAULT_INTERVAL),
        };
        let checkpoints = match self
            .checkpoint_interval_secs
            .or(file.checkpoint_interval_secs)
        {
            Some(0) => None,
            Some(secs) => Some(Duration::from_secs(secs)),
            None => Some(DEFAULT_CHECKPOINT_INTERVAL),
        };
        let tls = match (
            self.tls_cert.clone().or(file.tls_cert),
            self.tls_key.clone().or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(CertificateFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(BadInput(
                    "--tls-cert needs --tls-key (or CALLY_TLS_KEY, or tls_key in the config file): the certificate's private key".into(),
                )
                .into());
            }
            (None, Some(_)) => {
                return Err(BadInput(
                    "--tls-key needs --tls-cert (or CALLY_TLS_CERT, or tls_cert in the config file): the certificate chain".into(),
                )
                .into());
            }
        };
        let insecure_http = self.insecure_http || file.insecure_http.unwrap_or(false);
        if tls.is_none() && !bind.ip().is_loopback() && !insecure_http {
            return Err(BadInput(format!(
                "refusing to serve plain HTTP on {bind}, which is not a loopback address: \
                 give --tls-cert and --tls-key to serve HTTPS, or --insecure-http to accept \
                 clear text knowingly (behind your own TLS proxy)"
            ))
            .into());
        }
        let sandbox = self
            .limits
            .or_file(&file.limits)
            .config()
            .map_err(|e| BadInput(e.to_string()))?;
        Ok(Settings {
            data_dir,
            bind,
            retention,
            checkpoints,
            tls,
            sandbox,
        })
    }
}

/// Runs `cally serve` until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let Settings {
        data_dir,
        bind,
        retention: retention_interval,
        checkpoints: checkpoint_interval,
        tls,
        sandbox,
    } = args.settings()?;
    // The certificate is checked before anything is opened or created.
    let tls = tls
        .map(|files| ReloadingCert::load(files).map(Arc::new))
        .transpose()
        .map_err(|e| BadInput(e.to_string()))?;
    if tls.is_none() && !bind.ip().is_loopback() {
        tracing::warn!(
            "serving plain HTTP on {bind}, which is not a loopback address \
             (--insecure-http): API keys and personal data cross the network in clear \
             unless a TLS proxy is in front"
        );
    }
    let (host, sqlite) = ApiHost::open(&data_dir, sandbox).await?;

    if let Some(key) = host.bootstrap_platform_admin().await? {
        println!("platform-admin key (shown once; keep it): {}", key.key);
    }
    if args.demo {
        let keys = api::demo::seed(&host, &data_dir)
            .await
            .map_err(|e| anyhow::anyhow!("cannot create the demo tenant: {e}"))?;
        println!(
            "demo tenant '{}' (keys kept in {}, the same after a restart):",
            api::demo::DEMO_TENANT,
            data_dir.join(api::demo::DEMO_KEYS_FILE).display()
        );
        for key in keys {
            println!("  {:<13} {}", key.role.as_str(), key.key);
        }
    }

    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let shutdown = shutdown_signal();
    let tls_config = match &tls {
        Some(cert) => {
            let config = cert.server_config().map_err(|e| BadInput(e.to_string()))?;
            reload_on_hangup(cert.clone())?;
            Some(config)
        }
        None => None,
    };
    let scheme = if tls_config.is_some() {
        "https"
    } else {
        "http"
    };
    println!("listening on {scheme}://{}", listener.local_addr()?);
    let schedule =
        retention_interval.map(|every| retention::Schedule::start(host.services.clone(), every));
    let checkpoints = checkpoint_interval.map(|every| {
        CheckpointSchedule::start(host.checkpoints.clone(), host.store.clone(), every)
    });
    match tls_config {
        Some(config) => api::tls::serve_tls(listener, config, host.clone(), shutdown).await?,
        None => api::serve(listener, host.clone(), shutdown).await?,
    }
    if let Some(schedule) = schedule {
        schedule.stop().await;
    }
    if let Some(checkpoints) = checkpoints {
        checkpoints.stop().await;
        // The heads as the last calls left them, signed before the host goes away.
        if let Err(error) = host.checkpoints.checkpoint_all(host.store()).await {
            eprintln!("cally: cannot sign the final audit checkpoints: {error}");
        }
    }
    sqlite.close().await;
    eprintln!("cally: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Reloads the certificate and key files on each SIGHUP (installed now, before
/// the banner); a file that does not load leaves the certificate in use and
/// logs why.
fn reload_on_hangup(cert: Arc<ReloadingCert>) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup =
            signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?;
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                let files = cert.files();
                match cert.reload() {
                    Ok(()) => eprintln!(
                        "cally: reloaded the TLS certificate from {} and {}",
                        files.cert.display(),
                        files.key.display()
                    ),
                    Err(error) => tracing::error!(
                        "cannot reload the TLS certificate, keeping the one in use: {error}"
                    ),
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = cert;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
fn shutdown_signal() -> impl Future<Output = ()> {
    // The handlers are installed now, before the banner says the host is
    // listening: a signal sent the moment it is printed must find them (a
    // handler installed when the future is first polled would leave a
    // window in which SIGTERM kills the process outright).
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            async fn recv(signal: std::io::Result<tokio::signal::unix::Signal>) {
                match signal {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            }
            let (interrupt, terminate) = signals;
            tokio::select! {
                () = recv(interrupt) => {},
                () = recv(terminate) => {},
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("cally: shutting down: no new connections; ending live calls");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn settings(args: &[&str]) -> anyhow::Result<Settings> {
        Cli::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))
            .unwrap()
            .serve
            .settings()
    }

    #[test]
    fn plain_http_is_refused_off_loopback_unless_insecure_http() {
        for bind in ["0.0.0.0:0", "[::]:0", "10.0.0.7:8080"] {
            let error = settings(&["--bind", bind]).err().expect("refused");
            let text = error.to_string();
            assert!(text.contains("--insecure-http"), "{text}");
            assert!(text.contains("--tls-cert"), "{text}");
            assert!(error.is::<BadInput>(), "exit 2: {text}");
            assert!(settings(&["--bind", bind, "--insecure-http"]).is_ok());
            let tls = settings(&["--bind", bind, "--tls-cert", "c.pem", "--tls-key", "k.pem"]);
            assert!(tls.unwrap().tls.is_some());
        }
        for bind in ["127.0.0.1:0", "[::1]:0", "127.0.0.2:8080"] {
            assert!(settings(&["--bind", bind]).unwrap().tls.is_none());
        }
    }

    #[test]
    fn a_certificate_without_its_key_or_a_key_without_its_certificate_is_refused() {
        let error = settings(&["--tls-cert", "c.pem"]).err().unwrap();
        assert!(error.to_string().contains("--tls-key"), "{error}");
        let error = settings(&["--tls-key", "k.pem"]).err().unwrap();
        assert!(error.to_string().contains("--tls-cert"), "{error}");
    }
}
