//! AS names for reports (`--as-names FILE`, or the list `cutoff names fetch` cached), so a
//! reader sees "AS3549 (Global Crossing)". The names and their parsers live in
//! `cutoff_core::asnames`, shared with the monitor's alerts.

pub use cutoff_core::asnames::AsNames;
