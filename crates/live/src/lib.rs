//! Live sources for `cutoff monitor --follow`: routers that export BMP to a station here.
//! What they send becomes the pipeline's messages (`cutoff_core::pipeline::live`); this crate
//! owns only the network side: listening, framing, telling routers apart, and saying when one
//! goes away.

pub mod bmp_station;

pub use bmp_station::{LiveUpdate, Station, StationOptions};
