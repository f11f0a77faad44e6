//! cutoff-core: MRT files → routes of the watched ASes → visibility → events.
//!
//! The modules in pipeline order, each depending only on those above it:
//!
//! - [`units`]: how times, durations, shares and AS numbers are written and read.
//! - [`error`]: the exit status and usage errors.
//! - [`lines`]: reading text line by line with a bound on the length of a line.
//! - [`model`]: timestamps, collectors, sessions, prefixes, AS paths.
//! - [`parse`]: MRT framing, decompression, prefiltering on the wire, salvage of cut records.
//! - [`files`]: local input (paths, directories, globs) as each collector's files in order.
//! - [`watch`]: the watched ASes and prefixes.
//! - [`state`]: routes per session, eligibility, snapshots of visibility.
//! - [`detect`]: snapshots → events, with a hold-down.
//! - [`timeline`]: visibility over time.
//! - [`summary`], [`describe`], [`output`]: the run summary, one sentence per event, and the
//!   printed formats.
//! - [`pipeline`]: the whole scan, threads and all ([`pipeline::ScanPlan`] says what to do).
//! - [`dump`]: the routing messages behind a claim, as bgpdump `-m` lines or JSON.
//! - [`asnames`]: AS names from a hand-made file or the cached public list, with their source.
//!
//! No command-line parsing, no network, no plotting here: those live in the `cutoff` binary
//! and the archive, correlate, report and monitor crates above this one.

pub mod asnames;
pub mod describe;
pub mod detect;
pub mod dump;
pub mod error;
pub mod files;
pub mod lines;
pub mod model;
pub mod output;
pub mod parse;
pub mod pipeline;
pub mod state;
pub mod summary;
pub mod timeline;
pub mod units;
pub mod watch;
