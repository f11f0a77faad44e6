//! Live sources for `cutoff monitor --follow`: routers that export BMP to a station here, and
//! RIS Live. What they send becomes the pipeline's messages (`cutoff_core::pipeline::live`,
//! `cutoff_core::pipeline::ris_live`); this crate owns only the network side: listening or
//! connecting, framing, telling routers apart, and saying when one goes away.

pub mod bmp_station;
pub mod ris_live;

pub use bmp_station::{LiveUpdate, Station, StationOptions};
pub use ris_live::RisLiveOptions;
