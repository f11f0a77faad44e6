//! cutoff-archive: RouteViews and RIPE RIS archives as input.
//!
//! - [`layout`]: the collector catalog, the archives' and the cache's layout, the autoindex
//!   listing parser, and the pure planner (listings in, [`layout::ArchivePlan`] out).
//! - [`fetch`]: the async edge: listings and downloads with retries, resumption and a
//!   [`fetch::Readiness`] the readers wait on (it is the core's download gate).
//! - [`options`]: archive roots, cache and download behaviour, as flags and config give them.
//! - [`source`]: one run's access: collectors, planning, downloads in the background.
//! - [`names`]: the public AS-name list into the cache (`cutoff names fetch`).

pub mod fetch;
pub mod layout;
pub mod names;
pub mod options;
pub mod partition;
pub mod source;
