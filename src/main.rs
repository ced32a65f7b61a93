//! `patchgap`: audit this machine or a fleet for processes running replaced code.

fn main() {
    std::process::exit(0)
}
