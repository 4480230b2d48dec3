//! The PostgreSQL store's schema: created and migrated by the program itself
//! (`mailwire store migrate URL`, and at start), refusing a database whose schema is newer than
//! this program knows.
//!
//! Only the schema and its migrations are built so far; the backend over it is not (issue 17).

use tokio_postgres::{Client, NoTls};

/// The schema version this program writes and reads.
pub const SCHEMA_VERSION: i32 = 1;

/// Each version's migration from the one before; index 0 makes version 1 from nothing.
const MIGRATIONS: [&str; 1] = [include_str!("schema_v1.sql")];

/// Why a migration failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The URL is not a PostgreSQL URL (`postgres://` or `postgresql://`).
    #[error("not a PostgreSQL URL: {0}")]
    Url(String),
    /// The database refused or failed.
    #[error("PostgreSQL: {0}")]
    Db(#[from] tokio_postgres::Error),
    /// The database has a schema newer than this program's: it is not touched.
    #[error(
        "the database's schema is version {found}, newer than this mailwire's {known}: upgrade mailwire"
    )]
    Newer {
        /// The version in the database.
        found: i32,
        /// [`SCHEMA_VERSION`].
        known: i32,
    },
}

/// What [`migrate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// The version before (0: no schema).
    pub from: i32,
    /// The version now ([`SCHEMA_VERSION`]).
    pub to: i32,
}

/// Connects to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`; a password missing from the
/// URL is taken from `PGPASSWORD`).
///
/// # Errors
/// [`MigrateError::Url`] or [`MigrateError::Db`].
pub async fn connect(url: &str) -> Result<Client, MigrateError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(MigrateError::Url(url.to_owned()));
    }
    let mut config: tokio_postgres::Config =
        url.parse().map_err(|_| MigrateError::Url(url.to_owned()))?;
    if config.get_password().is_none()
        && let Ok(p) = std::env::var("PGPASSWORD")
    {
        config.password(p);
    }
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// Brings the schema at `url` to [`SCHEMA_VERSION`], each step in one transaction under an
/// advisory lock (two processes starting at once migrate once). Refuses a newer schema.
///
/// ```no_run
/// # async fn run() -> Result<(), mailwire_store::postgres::MigrateError> {
/// let m = mailwire_store::postgres::migrate("postgres://mailwire:secret@127.0.0.1/mailwire").await?;
/// assert_eq!(m.to, mailwire_store::postgres::SCHEMA_VERSION);
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`MigrateError`].
pub async fn migrate(url: &str) -> Result<Migrated, MigrateError> {
    let mut client = connect(url).await?;
    let tx = client.transaction().await?;
    // One migrator at a time; the lock ends with the transaction.
    tx.execute("select pg_advisory_xact_lock(7104852)", &[])
        .await?;
    tx.batch_execute("create table if not exists mailwire_schema (version integer not null)")
        .await?;
    let from: i32 = match tx
        .query_opt("select version from mailwire_schema", &[])
        .await?
    {
        Some(row) => row.get(0),
        None => {
            tx.execute("insert into mailwire_schema values (0)", &[])
                .await?;
            0
        }
    };
    if from > SCHEMA_VERSION {
        return Err(MigrateError::Newer {
            found: from,
            known: SCHEMA_VERSION,
        });
    }
    for (v, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "update mailwire_schema set version = $1",
            &[&(v as i32 + 1)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Migrated {
        from,
        to: SCHEMA_VERSION,
    })
}
