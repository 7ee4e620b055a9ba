//! The AWS stack of the store inventory pipeline, as Rust.
//!
//! [`stack`] declares names, limits and the readings table once. [`provision`] creates the data
//! resources through the SDK for an AWS-compatible endpoint. [`policy`] holds the policy
//! documents, every statement explicit about actions and resources.

pub mod policy;
pub mod provision;
pub mod stack;
