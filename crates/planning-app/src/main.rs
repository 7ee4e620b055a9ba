//! `store-planning-app`: one planning run, from the command line or under the Lambda runtime.
//!
//! Started by the Lambda runtime (or `cargo lambda watch`), which sets `AWS_LAMBDA_RUNTIME_API`,
//! it serves planning events with JSON logs; otherwise `invoke` runs one event and prints the
//! result. Either way the adapters are built once, before the first event.

use anyhow::Result;
use clap::Parser;
use store_planning_app::cli::Cli;

#[cfg(feature = "embedded")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<()> {
    Cli::parse().run().await
}
