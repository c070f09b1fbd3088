//! `cally audit verify|export`: a reviewer's view of the hash-chained audit log.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::audit::{self, ExportFormat, Pseudonymizer};
use crate::store::{AuditFilter, SqliteStore, Store};

use super::BadInput;

/// Exit code when `cally audit verify` finds a broken chain.
pub const EXIT_CHAIN_BROKEN: u8 = 5;

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
    #[command(after_help = "Exit codes: 0 every chain intact; 5 a chain is broken; 2 bad input.")]
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
                    println!("{report}");
                }
                reports.push(report);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            } else if reports.is_empty() {
                println!("no audit records in {}", data_dir.display());
            }
            Ok(if broken {
                ExitCode::from(EXIT_CHAIN_BROKEN)
            } else {
                ExitCode::SUCCESS
            })
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
