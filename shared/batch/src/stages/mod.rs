//! The lifecycle's stages. Each is idempotent: re-running it after a crash or a retry leaves
//! the same objects and rows as running it once.

mod convert;
mod failed;
mod finalise;
mod load;
mod mapping;
mod rows;
mod start;
mod util;

pub use convert::convert;
pub use failed::mark_failed;
pub use finalise::finalise;
pub use load::load_bronze;
pub use mapping::validate_mapping;
pub use rows::validate_rows;
pub use start::start;
