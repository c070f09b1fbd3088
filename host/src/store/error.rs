//! [`StoreError`]: what every store trait's methods fail with, whatever the backend.

use std::path::PathBuf;

/// Errors from the store. Messages name the tenant, lead or row involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Occurs when the data directory cannot be created.
    #[error("cannot create data directory '{path}': {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Occurs when the database file cannot be opened or configured.
    #[error("cannot open database '{path}': {source}")]
    Open {
        /// The database file (`:memory:` for an in-memory one).
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },
    /// Occurs when the migrations cannot be applied (for example, the database was
    /// written by a newer Cally, or a released migration was edited).
    #[error("cannot migrate database '{path}': {source}")]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// Occurs when a file that holds personal data or keys (the database, its WAL
    /// and shared-memory files) cannot be made readable by its owner only.
    #[error(
        "cannot make '{path}' readable by its owner only (mode 0600): {source}; fix its ownership or permissions"
    )]
    Private {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Occurs when a consent, tag or message names a lead the tenant does not have.
    #[error("unknown lead '{lead}' for tenant '{tenant}'")]
    UnknownLead {
        /// The tenant.
        tenant: String,
        /// The lead id.
        lead: String,
    },
    /// Occurs when writing to a lead that was erased: an erased lead is never
    /// brought back (a returning person gets a new lead id).
    #[error("lead '{lead}' of tenant '{tenant}' was erased; it cannot be changed or given consent")]
    LeadErased {
        /// The tenant.
        tenant: String,
        /// The lead id.
        lead: String,
    },
    /// Occurs when a consent, call or message id is not the tenant's.
    #[error("{what} not found for tenant '{tenant}'")]
    NotFound {
        /// The tenant.
        tenant: String,
        /// What was looked for: `consent 7`, `call 'c-1'`, ...
        what: String,
    },
    /// Occurs when something to create already exists (a tenant, a plugin version).
    #[error("{what} already exists for tenant '{tenant}'")]
    Conflict {
        /// The tenant.
        tenant: String,
        /// What exists already: `plugin 'x' version 1.0.0`, ...
        what: String,
    },
    /// Occurs when a value to store is malformed (for example, an expiry before the
    /// grant).
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// What was invalid: `consent for lead 'x'`, ...
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Occurs when a stored value cannot be read back as its type (a database edited
    /// by hand, or written by a newer version).
    #[error("stored {table}.{column} of {row} holds {value:?}: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// Which row: `tenant 'acme' lead 'l-1'`, ...
        row: String,
        /// The stored value.
        value: String,
        /// Why it cannot be read.
        detail: String,
    },
    /// Occurs when the database refuses or fails an operation (disk full, I/O error,
    /// locked for longer than the busy timeout, a trigger aborting, ...).
    #[error("database error while {action}: {source}")]
    Database {
        /// What the store was doing: `appending 12 audit records`, ...
        action: String,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },
}
