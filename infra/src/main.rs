//! `store-infra`: provision the stack's resources.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use store_aws::{AwsSettings, sdk_config};
use store_infra::provision::{ProvisionOptions, provision};
use store_infra::stack::{READINGS_PREFIX_EXPRESSION, StackNames};

/// The store inventory stack: provision it through the AWS APIs.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// The stack name; every resource name derives from it.
    #[arg(
        long,
        env = "STORE_STACK_NAME",
        default_value = "store-inventory",
        global = true
    )]
    stack_name: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the bucket, queues, delivery stream, Glue table and Athena workgroup through the
    /// SDK (for an AWS-compatible endpoint), and print the settings the apps need.
    Provision {
        /// Region and endpoint.
        #[command(flatten)]
        aws: AwsSettings,
        /// The readings prefix of the delivery stream. Servers that do not evaluate Firehose's
        /// `!{timestamp:…}` expressions need a literal partition, e.g. `readings/dt=2026-11-26-15/`.
        #[arg(long, default_value = READINGS_PREFIX_EXPRESSION)]
        readings_prefix: String,
        /// Also write the settings to this file, for the apps' `--env-file`.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STORE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let names = StackNames::new(&cli.stack_name).map_err(anyhow::Error::msg)?;
    match cli.command {
        Command::Provision {
            aws,
            readings_prefix,
            output,
        } => {
            let config = sdk_config(&aws).await?;
            let outputs = provision(
                &config,
                &ProvisionOptions {
                    names,
                    readings_prefix,
                },
            )
            .await?;
            let text = outputs.env_file();
            print!("{text}");
            if let Some(path) = output {
                std::fs::write(&path, &text)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("settings written to {}", path.display());
            }
        }
    }
    Ok(())
}
