//! Portico's pure domain, shared by the front and the admin functions. No AWS SDK here, so it
//! compiles fast and tests without any service.
//!
//! - [`definition`]: the native JSON definition of an API and its validation.
//! - [`problem`]: problems in operator input, each with a JSON pointer.
//! - [`router`]: route templates and the router (API Gateway's matching priorities).
//! - [`target`]: Lambda targets in integration URIs, and stage variable substitution.
//! - [`snapshot`]: compiling a definition into the immutable snapshot a deployment stores.
//! - [`records`]: APIs, deployments and stages as the config table holds them.
//! - [`policy`]: resource policies (IAM documents), compiled and decided per request.
//! - [`ports`]: the store and invoker traits, and their error kinds.
//! - [`usage`]: quota periods and usage counters, shared by the front and the admin.

pub mod definition;
pub mod policy;
pub mod ports;
pub mod problem;
pub mod records;
pub mod router;
pub mod snapshot;
pub mod target;
pub mod usage;
