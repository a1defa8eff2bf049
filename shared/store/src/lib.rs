//! Portico's AWS adapters: the only crate that links the AWS SDK.
//!
//! - [`clients`]: SDK clients built once per instance, with timeouts and retries chosen for
//!   each function's path, and the local endpoint overrides.
//! - [`tables`]: the one definition of Portico's two tables; template.yaml and the local
//!   stack are checked against it.
//! - [`items`]: domain records to DynamoDB items and back, in one place.
//! - [`dynamo`]: the config store ports over DynamoDB.
//! - [`counters`]: the counters ports (token leases, usage charges, usage reports) over
//!   DynamoDB.
//! - [`lambda`]: the invoker port over Lambda's Invoke API.
//! - [`errors`]: SDK errors sorted into the ports' error kinds.

pub mod clients;
pub mod counters;
pub mod dynamo;
pub mod errors;
pub mod items;
pub mod lambda;
pub mod tables;
