//! Business processes: view conditions, the view scheduler, and how a BP
//! plugin's decision becomes a storage change and reporting events.

pub mod condition;
pub mod decision;
pub mod scheduler;
pub mod snapshot;
pub mod strategy;
mod work_notices;
