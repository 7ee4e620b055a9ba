//! `store-infra`: synthesize the stack's template, provision its resources, or turn its outputs
//! into the apps' env file.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use store_infra::provision::{ProvisionOptions, provision};
use store_infra::stack::{READINGS_PREFIX_EXPRESSION, StackNames};
use store_runtime::{SdkSettings, sdk_config};

/// The store inventory stack: synthesize its CloudFormation template, or provision it through the
/// AWS APIs.
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
    /// Write the CloudFormation template (to stdout, or a file).
    Synth {
        /// The file to write.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Write every SQL text the Athena planner sends, parameters bound, one `.sql` file each,
    /// into a folder (for the Trino-dialect check in `scripts/test.sh`).
    AthenaSql {
        /// The folder.
        output: PathBuf,
    },
    /// Write every role's policies as the stack would have them in one account and region, as
    /// JSON (for `parliament` in `scripts/test.sh`).
    Policies {
        /// Where the policies' JSON is written.
        output: PathBuf,
    },
    /// Turn `aws cloudformation describe-stacks --query Stacks[0].Outputs` JSON (a file, or `-`
    /// for stdin) into the env file the apps read with `--env-file`.
    EnvFile {
        /// The outputs JSON.
        outputs: PathBuf,
    },
    /// Print the bucket `scripts/deploy.sh` uploads the planner's code to, after checking every
    /// name the stack derives against its service's limit in this account and region.
    CodeBucket {
        /// The account id.
        #[arg(long)]
        account: String,
        /// The region.
        #[arg(long)]
        region: String,
    },
    /// Decide what deploying does with the stack found (`--status`, none when there is no
    /// stack): prints `create`, `update` or `delete-then-create`, or refuses (exit 1) with the
    /// reason, e.g. a `LakeFormat` change on a live stack.
    Preflight {
        /// The stack's status, when there is a stack.
        #[arg(long)]
        status: Option<String>,
        /// Its current `LakeFormat` parameter.
        #[arg(long)]
        current_lake_format: Option<String>,
        /// The `LakeFormat` to deploy.
        #[arg(long)]
        lake_format: String,
    },
    /// Delete every object version and delete marker of a bucket (in calls of at most 1,000
    /// keys, whatever the mix), then, with `--delete`, the bucket itself. A bucket already gone
    /// is no error.
    EmptyBucket {
        /// Region and endpoint.
        #[command(flatten)]
        aws: SdkSettings,
        /// The bucket.
        bucket: String,
        /// Delete the bucket once it is empty.
        #[arg(long)]
        delete: bool,
    },
    /// Create the bucket, queues, delivery stream, Glue table and Athena workgroup through the
    /// SDK (for an AWS-compatible endpoint), and print the settings the apps need.
    Provision {
        /// Region and endpoint.
        #[command(flatten)]
        aws: SdkSettings,
        /// The readings prefix of the delivery stream. Servers that do not evaluate Firehose's
        /// `!{timestamp:…}` expressions need a literal partition, e.g. `readings/dt=2026-11-26-15/`.
        #[arg(long, default_value = READINGS_PREFIX_EXPRESSION)]
        readings_prefix: String,
        /// Also write the settings to this file, for the apps' `--env-file`.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

/// Every role's policies, evaluated for one account and region, as JSON at `output`.
fn write_policies(names: &StackNames, output: &std::path::Path) -> Result<()> {
    let template = serde_json::from_str(&store_infra::synth::template().to_json())?;
    let resolved = store_infra::resolve::Resolved::new(
        template,
        store_infra::resolve::Deployment::sample(&names.stack, &[]),
    );
    let policies: Vec<serde_json::Value> = resolved
        .role_policies()
        .into_iter()
        .map(|(role, name, document)| {
            serde_json::json!({"role": role, "policy": name, "document": document})
        })
        .collect();
    std::fs::write(output, serde_json::to_string_pretty(&policies)?)
        .with_context(|| format!("writing {}", output.display()))?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    store_runtime::init_tracing();
    let cli = Cli::parse();
    let names = StackNames::new(&cli.stack_name).map_err(anyhow::Error::msg)?;
    match cli.command {
        Command::Synth { output } => {
            let text = store_infra::synth::template().to_json();
            match output {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{text}"),
            }
        }
        Command::CodeBucket { account, region } => {
            names
                .check_limits(&account, &region)
                .map_err(anyhow::Error::msg)?;
            println!("{}", names.code_bucket(&account, &region));
        }
        Command::AthenaSql { output } => {
            std::fs::create_dir_all(&output)
                .with_context(|| format!("creating {}", output.display()))?;
            for (name, sql) in store_aws::athena::statements_for_review() {
                let path = output.join(format!("{name}.sql"));
                std::fs::write(&path, sql)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Command::Policies { output } => {
            write_policies(&names, &output)?;
        }
        Command::EnvFile { outputs } => {
            let text = if outputs.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading stdin")?
            } else {
                std::fs::read_to_string(&outputs)
                    .with_context(|| format!("reading {}", outputs.display()))?
            };
            let json: serde_json::Value =
                serde_json::from_str(&text).context("the outputs are not JSON")?;
            print!(
                "{}",
                store_infra::synth::env_file_from_outputs(&json).map_err(anyhow::Error::msg)?
            );
        }
        Command::Preflight {
            status,
            current_lake_format,
            lake_format,
        } => {
            use store_infra::preflight::{Action, decide};
            let action = decide(
                status.as_deref().filter(|s| !s.is_empty() && *s != "None"),
                current_lake_format
                    .as_deref()
                    .filter(|s| !s.is_empty() && *s != "None"),
                &lake_format,
            )
            .map_err(anyhow::Error::msg)?;
            println!(
                "{}",
                match action {
                    Action::Create => "create",
                    Action::Update => "update",
                    Action::DeleteThenCreate => "delete-then-create",
                }
            );
        }
        Command::EmptyBucket {
            aws,
            bucket,
            delete,
        } => {
            let config = sdk_config(&aws).await?;
            let s3 = aws_sdk_s3::Client::new(&config);
            if s3.head_bucket().bucket(&bucket).send().await.is_err() {
                println!("bucket {bucket}: already gone");
                return Ok(());
            }
            let emptied = store_infra::empty::empty_bucket(&s3, &bucket).await?;
            print!(
                "bucket {bucket}: {} version(s) and delete marker(s) deleted in {} call(s)",
                emptied.deleted, emptied.calls
            );
            if delete {
                s3.delete_bucket()
                    .bucket(&bucket)
                    .send()
                    .await
                    .with_context(|| format!("deleting the bucket {bucket}"))?;
                print!("; bucket deleted");
            }
            println!();
        }
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
