//! The `cutoff` binary: a thin layer over the library (see `cutoff::cli`).

fn main() {
    let status = cutoff::cli::main();
    std::process::exit(status.code());
}
