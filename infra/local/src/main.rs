//! `portico-local`: creates Portico's tables on a DynamoDB-compatible server (dynalite in
//! local runs and tests) from the table definitions in `portico_store::tables`, the same
//! definitions template.yaml is checked against.
//!
//! Usage: `portico-local create-tables`, with `DYNAMODB_ENDPOINT`, `PORTICO_CONFIG_TABLE` and
//! `PORTICO_COUNTERS_TABLE` as the functions read them.

use std::process::ExitCode;

use portico_store::clients::{self, Role, StoreSettings};
use portico_store::tables::{self, ensure_table};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    if command != "create-tables" {
        eprintln!("usage: portico-local create-tables");
        return ExitCode::from(2);
    }
    let settings = StoreSettings::from_env();
    let sdk = clients::sdk_config().await;
    let client = clients::dynamodb(&sdk, &settings, Role::Admin);
    for (spec, name) in [
        (&tables::CONFIG, &settings.config_table),
        (&tables::COUNTERS, &settings.counters_table),
    ] {
        match ensure_table(&client, spec, name).await {
            Ok(true) => println!("created table {name}"),
            Ok(false) => println!("table {name} exists"),
            Err(error) => {
                eprintln!("could not create table {name}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
