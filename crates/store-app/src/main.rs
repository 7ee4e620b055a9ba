//! `store-app`: stream simulated or recorded store readings into the lake.

use std::process::ExitCode;

use clap::Parser;
use store_app::cli::Cli;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    store_runtime::init_tracing();
    match Cli::parse().run().await {
        Ok(status) => status,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
