//! Rolling campaigns: restarts (`patchgap restart`: exactly the stale services) and
//! reboots (`patchgap reboot`: the hosts that need one), a batch of hosts at a time, stop
//! when things go wrong, and prove each restart or reboot by probing again. `plan` (with
//! `batches`, `window`) is pure and decides everything up front; `execute` carries the
//! plan out over the transport seam and emits events, each host by `host` (restarts) or
//! `reboot` (reboots, with `fleetlock` and `lock` for the slots); `journal` records every
//! step so an interrupted campaign resumes without restarting or rebooting twice.

mod batches;
mod execute;
pub mod fleetlock;
mod host;
pub mod journal;
mod lock;
mod outcome;
mod plan;
mod reboot;
mod remote;
mod unit;
mod window;

pub use batches::{BadNumber, MaxFail, Serial, Size, split};
pub use execute::{
    CampaignEvent, CampaignHost, HealthChecks, OutsideWindow, RebootSettings, Settings, execute,
};
pub use fleetlock::FleetLock;
pub use journal::{Journal, JournalError, Replay, Step};
pub use lock::{CampaignLock, LockError, lock_path};
pub use outcome::{
    CampaignOutcome, HostCampaign, HostStatus, RebootOutcome, RebootStatus, Skip, Stop,
    UnitOutcome, UnitStatus,
};
pub use plan::{
    CampaignKind, CampaignPlan, HostInput, HostPlan, Manual, ManualItem, RebootPlan, UnitFilter,
    Unplanned, plan_host, plan_reboot, reboot_reasons,
};
pub use unit::valid_unit;
pub use window::{BadWindow, BadZone, Schedule, Window};
