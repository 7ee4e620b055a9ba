//! The AWS stack of the store inventory pipeline, as Rust.
//!
//! [`stack`] declares names, limits and the readings table once. [`template`] is a small typed
//! model of CloudFormation (intrinsics, resources, outputs, checkov skips with reasons), and
//! [`synth`] builds the stack with it: `store-infra synth` writes the template that
//! `scripts/deploy.sh` deploys. [`provision`] creates the data resources through the SDK instead,
//! for an AWS-compatible endpoint whose CloudFormation lacks Firehose, Glue and Athena. [`policy`]
//! holds the policy documents, every statement explicit about actions and resources, and
//! [`resolve`] evaluates the template for one account and region, so the policies are checked
//! against the ARNs the services really act on.
//!
//! Depends on `store-model` (keys, columns), `store-runtime` (the apps' variable names and
//! `sdk_config`) and `store-aws` (the statements Athena runs, for review).

pub mod empty;
pub mod policy;
pub mod preflight;
pub mod provision;
pub mod resolve;
pub mod stack;
pub mod synth;
pub mod template;
