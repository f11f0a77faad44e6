//! The `cutoff` binary: flags (in [`cmd`]) over the library crates.

mod cmd;

fn main() {
    let status = cmd::main();
    std::process::exit(status.code());
}
