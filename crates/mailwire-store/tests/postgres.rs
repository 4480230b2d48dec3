//! The PostgreSQL store's schema against a real PostgreSQL (tests/peers/postgres.sh, through
//! mailwire-testkit): created from nothing, a second migration changes nothing, two migrators
//! at once migrate once, and a newer schema is refused untouched.

use mailwire_store::postgres::{MigrateError, Migrated, SCHEMA_VERSION, migrate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_is_created_migrated_once_and_a_newer_one_refused() {
    let pg = mailwire_testkit::Postgres::start().expect("PostgreSQL (tests/peers/install.sh)");
    let url = pg.url();
    // Two processes starting at once: one creates, the other finds it done.
    let (a, b) = tokio::join!(migrate(&url), migrate(&url));
    let mut got = [a.unwrap(), b.unwrap()];
    got.sort_by_key(|m| m.from);
    assert_eq!(
        got,
        [
            Migrated {
                from: 0,
                to: SCHEMA_VERSION
            },
            Migrated {
                from: SCHEMA_VERSION,
                to: SCHEMA_VERSION
            }
        ]
    );
    let tables = pg
        .psql("select string_agg(tablename, ',' order by tablename) from pg_tables where tablename like 'mailwire_%'")
        .unwrap();
    assert_eq!(
        tables.trim(),
        "mailwire_bodies,mailwire_expunged,mailwire_mailboxes,mailwire_messages,mailwire_schema,mailwire_subscriptions,mailwire_users"
    );
    // A schema from a newer mailwire is left alone.
    pg.psql("update mailwire_schema set version = 99").unwrap();
    match migrate(&url).await {
        Err(MigrateError::Newer { found: 99, known }) => assert_eq!(known, SCHEMA_VERSION),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        pg.psql("select version from mailwire_schema")
            .unwrap()
            .trim(),
        "99"
    );
    // Not a PostgreSQL URL.
    assert!(matches!(
        migrate("maildir:/tmp/x").await,
        Err(MigrateError::Url(_))
    ));
}
