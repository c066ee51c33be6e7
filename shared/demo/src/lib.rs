//! Demo data and load generators, linked by the CLI (`muara up --demo`, `muara publish-sim`)
//! and the tests only — never by a Lambda.
//!
//! - [`batch`]: pipeline B's demo client: its configuration, SQL steps and files.
//! - [`recordings`]: a demo day of recordings, some broken on purpose, with its known truth.
//! - [`funnel`]: a demo day of messages with its known truth, and the demo keyword set.
//! - [`sim`]: `muara publish-sim`, a load generator that checks the stats after.

pub mod batch;
pub mod funnel;
pub mod recordings;
pub mod sim;
