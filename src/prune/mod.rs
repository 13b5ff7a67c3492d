//! The paper's job (COMPACT, Algorithm 1), one step per module in data-flow order, and
//! [`job`], which runs them end to end for the CLI and the app:
//!
//! | step | module | what |
//! |---|---|---|
//! | 1 plan | [`plan`] | target ratio or (V', I') → [`PrunePlan`], parameter counts before and after |
//! | 2 rare set S | [`rare`] | which vocabulary rows go (highest ids, or least frequent in the text) |
//! | 3 calibration | [`calib`] | text → windows + common-token mask → act² importance on a [`crate::engine::Device`] |
//! | 4 selection | [`select`] | top-I' channels per layer → [`KeepSet`]; importance files |
//! | 5 export | [`export`] | the pruned folder, streamed from the source files |
//! | all | [`job`] | [`Request`] → [`run`] → [`Outcome`] |
//! | compare | [`bakeoff`] | methods side by side at the same sizes, scored against the dense model |

pub mod bakeoff;
pub mod calib;
pub mod export;
pub mod job;
pub mod plan;
pub mod rare;
pub mod repair;
pub mod select;

pub use job::{Event, ImportanceFile, Model, Outcome, Phase, Request, run};
pub use plan::{PrunePlan, Target, parse_ratio};
pub use rare::RareBy;
pub use select::KeepSet;
