//! The `sesame` executable: PID 1 of the initramfs when the kernel starts it, the
//! `modprobe` the kernel calls (through the `/sbin/modprobe` link), and the host CLI.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    if name == "modprobe" {
        std::process::exit(sesame::modules::modprobe::main(&args[1..]));
    }
    if nix::unistd::getpid().as_raw() == 1 {
        sesame::boot::pid1();
    }
    std::process::exit(sesame::cli::main());
}
