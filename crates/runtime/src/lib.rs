//! The apps' runtime: the one place every binary takes its wiring from.
//!
//! - [`settings`]: the backend and its `STORE_*` names (one table, shared with `store-infra`'s
//!   stack outputs), the env file merged before defaults apply;
//! - [`aws`]: the one SDK configuration of a process, its clients and each port's AWS adapter;
//! - [`connect`]: the ports of the chosen backend, embedded (feature `local`) or AWS;
//! - [`logging`]: the `STORE_LOG` subscriber the command-line apps share;
//! - [`shutdown`]: the request to stop (Ctrl-C, `SIGTERM`, `SIGHUP`) every long command obeys;
//! - [`docs`]: the `completions` and `man` subcommands every app has.
//!
//! Depends on `store-model` (the ports), `store-aws`, and with `local` on `store-local`; nothing
//! but the apps' `main`s depends on it. Model: cargo-lambda's `cargo-lambda-remote` (a settings
//! crate owning `sdk_config`).

pub mod aws;
pub mod connect;
pub mod docs;
pub mod logging;
pub mod settings;
pub mod shutdown;

pub use aws::{AwsConnection, sdk_config};
pub use connect::Connection;
pub use docs::Docs;
pub use logging::init_tracing;
pub use settings::{BackendSettings, QueryEngine, SdkSettings, SettingsError, env};
pub use shutdown::shutdown_signal;
