//! Scale-out: a scan cut into partitions, each read on its own (on another core, machine or
//! cluster worker) into a partial file, and the partials merged into exactly the result of
//! one scan (`cutoff_core::pipeline::partial` does the reading and the merge; this crate
//! keeps partials in Parquet, a format pandas, polars, DuckDB and Spark open).

pub mod partial_file;

pub use partial_file::{PARTIAL_SCHEMA_VERSION, PartialError, PartialFile, ScanParams};
