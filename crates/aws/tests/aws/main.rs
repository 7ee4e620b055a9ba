//! The AWS adapters: the ports' contract suites against a local AWS API server, injected faults
//! for what the server does not do, and Athena's request flow over HTTP.

mod athena_faults;
mod athena_http;
mod athena_snapshot_http;
mod cloudwatch;
mod contract;
mod faults;
mod fold_engines;
mod moto;
