//! Rolling restart campaigns (`patchgap restart`): restart exactly the stale services, a
//! batch of hosts at a time, stop when things go wrong, and prove each restart by probing
//! again. `plan` (with `batches`, `window`) is pure and decides everything up front;
//! `execute` carries the plan out over the transport seam and emits events; `journal`
//! records every step so an interrupted campaign resumes without restarting twice.

mod batches;
mod execute;
mod host;
pub mod journal;
mod outcome;
mod plan;
mod remote;
mod unit;
mod window;

pub use batches::{BadNumber, MaxFail, Serial, Size, split};
pub use execute::{CampaignEvent, CampaignHost, HealthChecks, OutsideWindow, Settings, execute};
pub use journal::{Journal, JournalError, Replay, Step};
pub use outcome::{CampaignOutcome, HostCampaign, HostStatus, Skip, Stop, UnitOutcome, UnitStatus};
pub use plan::{
    CampaignPlan, HostInput, HostPlan, Manual, ManualItem, UnitFilter, Unplanned, plan_host,
};
pub use unit::valid_unit;
pub use window::{BadWindow, BadZone, Schedule, Window};
