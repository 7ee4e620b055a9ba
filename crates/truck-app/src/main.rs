//! `store-truck-app`: consume restock alerts and dispatch trucks.

use anyhow::Result;
use clap::Parser;
use store_truck_app::cli::Cli;

#[tokio::main]
async fn main() -> Result<()> {
    store_runtime::init_tracing();
    Cli::parse().run().await
}
