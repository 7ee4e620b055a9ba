//! The domain of the store inventory pipeline, free of I/O.
//!
//! Stores stream stock [`reading`]s into a lake; a planner finds, per store and product, the
//! latest reading and decides which need restocking ([`planning`]); trucks are dispatched to them
//! ([`dispatch`]) on routes planned by [`routing`] over the [`places`] and the fleet. The [`ports`] are the traits through which the apps reach the outside world:
//! AWS services in the cloud, embedded equivalents on one machine. Adapters live in their own
//! crates (`store-aws`, `store-local`) and only an app's `main` chooses between them.
//!
//! Everything here is deterministic given its inputs (the clock is passed in), so the rules are
//! tested directly and both backends are guaranteed to plan alike.
//!
//! Depends on no crate of this workspace (serde, chrono, uuid, toml and tracing only); every other
//! crate depends on it.

pub mod config;
#[cfg(feature = "contract")]
pub mod contract;
pub mod demand;
pub mod dispatch;
pub mod forecast;
pub mod lake;
pub mod latest;
pub mod ledger;
pub mod metrics;
pub mod places;
pub mod planning;
pub mod policy;
pub mod ports;
pub mod random;
pub mod reading;
pub mod routing;
pub mod schema;
pub mod snapshot;
pub mod text;

/// Which adapters the apps use: AWS services, or their embedded equivalents on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// Embedded engines in a data folder; no AWS account needed.
    #[default]
    Local,
    /// Firehose, S3, Athena, SQS (or any AWS-compatible endpoint).
    Aws,
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "local" => Ok(Self::Local),
            "aws" => Ok(Self::Aws),
            other => Err(format!(
                "unknown backend `{other}`: expected `local` or `aws`"
            )),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Local => "local",
            Self::Aws => "aws",
        })
    }
}

pub use config::{ConfigError, ConfigFile};
pub use dispatch::{Delivery, Dispatch, Trip};
pub use lake::ObjectFormat;
pub use places::{Fleet, Stores, Truck};
pub use planning::{
    Alert, AlertStatus, InventoryRequest, LatestReading, PlanningEvent, PlanningResult,
};
pub use ports::{AlertQueue, InventoryQuery, Ledger, PortError, ReadingSink};
pub use reading::{Reading, ValidationError};
