//! The `rgssd` multi-call binary; see [`rgssd::tools`].

fn main() {
    let status = rgssd::tools::main_with_args(std::env::args_os().collect());
    std::process::exit(status);
}
