//! `cally audit verify|export|checkpoint`: a reviewer's view of the hash-chained audit
//! log, and its chain heads signed with the host key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::audit::{
    self, CheckpointCheck, CheckpointError, CheckpointLog, ExportFormat, HostSigningKey,
    Pseudonymizer, PublicKey, VerifyReport,
};
use crate::store::{AuditFilter, AuditStore, SqliteStore};

use super::{BadInput, emit_line};

/// Exit code when `cally audit verify` finds a broken chain, or a log that no longer
/// holds what a kept checkpoint signed.
pub const EXIT_CHAIN_BROKEN: u8 = 5;
/// Exit code when a kept checkpoint does not verify under the trusted key (and the log
/// showed no other problem): forged, altered, or another key's.
pub const EXIT_CHECKPOINT_UNTRUSTED: u8 = 6;

/// Arguments of `cally audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Check every tenant's hash chain (or one tenant's) and name the first
    /// bad sequence number: an edited, deleted, inserted or reordered record.
    /// With `--checkpoint`, also check the log against every signed checkpoint
    /// in that file: a truncated, deleted or re-chained log is named.
    #[command(
        after_help = "Exit codes: 0 every chain intact (and every checkpoint matches); 5 a \
                      chain is broken or differs from a checkpoint; 6 a checkpoint's signature \
                      does not verify; 2 bad input."
    )]
    Verify {
        /// The host's data directory (where cally.db lives).
        #[arg(long, env = "CALLY_DATA_DIR", default_value = "cally-data")]
        data_dir: PathBuf,
        /// Verify only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
        /// A file of signed checkpoints (JSON lines, as `cally audit checkpoint` or
        /// `GET /v1/audit/checkpoint` give them), ideally one kept outside the host.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// The key the checkpoints must be signed with (`ed25519:<hex>`); default:
        /// the data directory's signing key. Give the one you kept: whoever can
        /// replace the key file can sign checkpoints of their own.
        #[arg(long, requires = "checkpoint")]
        public_key: Option<String>,
    },
    /// Sign every tenant's chain head that moved since its latest checkpoint,
    /// append the checkpoints to the data directory's checkpoint file, and print
    /// each tenant's latest checkpoint as a JSON line (to keep elsewhere).
    Checkpoint {
        /// The host's data directory.
        #[arg(long, env = "CALLY_DATA_DIR", default_value = "cally-data")]
        data_dir: PathBuf,
    },
    /// Write a tenant's audit records, for a lead or a time range, as JSON
    /// lines or CSV, to standard output.
    Export {
        /// The host's data directory.
        #[arg(long, env = "CALLY_DATA_DIR", default_value = "cally-data")]
        data_dir: PathBuf,
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// Only records about this lead (its id; the log holds its pseudonym).
        #[arg(long)]
        lead: Option<String>,
        /// Only records at or after this time (ms since the Unix epoch).
        #[arg(long)]
        from_ms: Option<i64>,
        /// Only records before this time (ms since the Unix epoch).
        #[arg(long)]
        to_ms: Option<i64>,
        /// `jsonl` or `csv`.
        #[arg(long, default_value = "jsonl")]
        format: ExportFormat,
    },
}

/// Runs `cally audit`.
pub async fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCommand::Verify {
            data_dir,
            tenant,
            json,
            checkpoint: None,
            ..
        } => {
            let store = open(&data_dir).await?;
            let tenants = match tenant {
                Some(tenant) => vec![tenant],
                None => store.audit_tenants().await?,
            };
            let mut broken = false;
            let mut reports = Vec::new();
            for tenant in tenants {
                let report = audit::verify_tenant(&store, &tenant).await?;
                broken |= !report.is_clean();
                if !json {
                    emit_line(&report.to_string())?;
                }
                reports.push(report);
            }
            if json {
                emit_line(&serde_json::to_string_pretty(&reports)?)?;
            } else if reports.is_empty() {
                emit_line(&format!("no audit records in {}", data_dir.display()))?;
            }
            Ok(if broken {
                ExitCode::from(EXIT_CHAIN_BROKEN)
            } else {
                ExitCode::SUCCESS
            })
        }
        AuditCommand::Verify {
            data_dir,
            tenant,
            json,
            checkpoint: Some(file),
            public_key,
        } => verify_with_checkpoints(&data_dir, tenant, json, &file, public_key).await,
        AuditCommand::Checkpoint { data_dir } => {
            let store = open(&data_dir).await?;
            let log = CheckpointLog::open(&data_dir)?;
            let fresh = log.checkpoint_all(&store).await?;
            for checkpoint in log.latest_all().await {
                emit_line(&serde_json::to_string(&checkpoint)?)?;
            }
            eprintln!(
                "signed {} new checkpoint(s) into {}; host key {}",
                fresh.len(),
                log.path().display(),
                log.public_key()
            );
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export {
            data_dir,
            tenant,
            lead,
            from_ms,
            to_ms,
            format,
        } => {
            let store = open(&data_dir).await?;
            let lead = match lead {
                Some(lead_id) => {
                    Some(Pseudonymizer::load_or_create(&data_dir)?.pseudonym(&tenant, &lead_id))
                }
                None => None,
            };
            let filter = AuditFilter {
                lead,
                from_ms,
                to_ms,
                ..AuditFilter::default()
            };
            let stdout = std::io::stdout().lock();
            audit::export(&store, &tenant, &filter, format, stdout).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Opens the data directory's database, refusing a directory without one
/// rather than creating an empty log to verify.
async fn open(data_dir: &std::path::Path) -> anyhow::Result<SqliteStore> {
    let db = data_dir.join(crate::store::DB_FILE_NAME);
    if !db.exists() {
        return Err(BadInput(format!("no Cally database at {}", db.display())).into());
    }
    Ok(SqliteStore::open(data_dir).await?)
}

/// `cally audit verify --checkpoint <file>`: every chain as plain `verify` checks it,
/// then every kept checkpoint (of `tenant`, if given) against the chain as stored now,
/// including tenants whose chain is gone from the database.
async fn verify_with_checkpoints(
    data_dir: &Path,
    tenant: Option<String>,
    json: bool,
    file: &Path,
    public_key: Option<String>,
) -> anyhow::Result<ExitCode> {
    let store = open(data_dir).await?;
    let kept = audit::read_checkpoint_file(file).map_err(bad_checkpoint_input)?;
    let trusted: PublicKey = match public_key {
        Some(text) => text
            .parse()
            .map_err(|e| BadInput(format!("--public-key: {e}")))?,
        None => HostSigningKey::load(data_dir)
            .map_err(|e| BadInput(e.to_string()))?
            .public_key(),
    };
    let mut by_tenant: BTreeMap<String, Vec<audit::KeptCheckpoint>> = BTreeMap::new();
    for kept in kept {
        if tenant.as_ref().is_none_or(|t| *t == kept.checkpoint.tenant) {
            by_tenant
                .entry(kept.checkpoint.tenant.clone())
                .or_default()
                .push(kept);
        }
    }
    let tenants: BTreeSet<String> = match &tenant {
        Some(tenant) => BTreeSet::from([tenant.clone()]),
        None => store.audit_tenants().await?.into_iter().collect(),
    };
    let mut reports: Vec<VerifyReport> = Vec::new();
    let mut checks: Vec<CheckpointCheck> = Vec::new();
    let mut unanchored = Vec::new();
    let every: BTreeSet<String> = tenants.iter().chain(by_tenant.keys()).cloned().collect();
    for name in every {
        // One snapshot per tenant serves both the chain's own check and the checkpoints'.
        let chain = store.audit_chain(&name).await?;
        if tenants.contains(&name) {
            reports.push(audit::verify_with_head(
                &name,
                &chain.records,
                chain.head.as_ref(),
            ));
        }
        match by_tenant.remove(&name) {
            Some(kept) => checks.extend(
                kept.into_iter()
                    .map(|k| CheckpointCheck::run(k.line, k.checkpoint, &trusted, &chain)),
            ),
            None => unanchored.push(name),
        }
    }
    let broken = reports.iter().any(|r| !r.is_clean())
        || checks.iter().any(|c| {
            c.problem
                .as_ref()
                .is_some_and(|p| !p.is_untrusted_checkpoint())
        });
    let untrusted = checks.iter().any(|c| {
        c.problem
            .as_ref()
            .is_some_and(|p| p.is_untrusted_checkpoint())
    });
    if json {
        let answer = serde_json::json!({
            "chains": reports,
            "checkpoints": checks,
            "public_key": trusted.to_string(),
            "tenants_without_checkpoint": unanchored,
        });
        emit_line(&serde_json::to_string_pretty(&answer)?)?;
    } else {
        for report in &reports {
            emit_line(&report.to_string())?;
        }
        for check in checks.iter().filter(|c| c.problem.is_some()) {
            emit_line(&check.to_string())?;
        }
        let matching = checks.iter().filter(|c| c.problem.is_none()).count();
        emit_line(&format!(
            "{matching} of {} checkpoint(s) in {} match the log (key {trusted})",
            checks.len(),
            file.display()
        ))?;
        for name in &unanchored {
            emit_line(&format!(
                "tenant '{name}': no checkpoint in {}; its newest records are anchored by \
                 nothing outside the database",
                file.display()
            ))?;
        }
    }
    Ok(if broken {
        ExitCode::from(EXIT_CHAIN_BROKEN)
    } else if untrusted {
        ExitCode::from(EXIT_CHECKPOINT_UNTRUSTED)
    } else {
        ExitCode::SUCCESS
    })
}

/// A checkpoint file that cannot be read or is not one is the user's input to fix.
fn bad_checkpoint_input(error: CheckpointError) -> anyhow::Error {
    BadInput(error.to_string()).into()
}
