//! cutoff: when did an AS lose its last upstream, who cut it off, and what happened to spam.
//!
//! The pipeline (see ARCHITECTURE.md): source → parse → state → detect → report, with
//! `scan` orchestrating it on local files.

pub mod alert;
pub mod cli;
pub mod config;
pub mod correlate;
pub mod detect;
pub mod dump;
pub mod error;
pub mod metrics;
pub mod model;
pub mod monitor;
pub mod parse;
pub mod report;
pub mod scan;
pub mod source;
pub mod state;
pub mod telemetry;
pub mod timeline;
pub mod watch;
