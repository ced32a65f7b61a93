//! The dpkg database, read directly: package status, file lists, diversions, the log.

mod database;
mod diversions;
mod status;
mod usrmerge;

pub use database::{
    ADMIN_DIR, Database, DpkgError, LoggedChange, OwnerVia, PathOwner, parse_dpkg_log,
};
pub use diversions::{Diversion, Diversions};
pub use status::{Conffile, PackageStatus, parse_status};
pub use usrmerge::other_spelling;
