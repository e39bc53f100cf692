//! bench/probe.rs: the bench root's `init=`, run by whichever initramfs booted (sesame or
//! Debian's) right after its switch_root, still as PID 1. It prints one console line with
//! `getrusage(RUSAGE_SELF).ru_maxrss` — the kernel keeps a process's peak RSS across
//! execve (fs/exec.c records the old mm's high-water mark in signal->maxrss), so this is
//! the peak RSS PID 1 ever had in the initramfs — and `RUSAGE_CHILDREN` (the largest
//! reaped descendant), then execs `/sbin/init` (the marker) with the same arguments.
//!
//! Built by `cargo xtask bench` with plain rustc (std only, static):
//! `rustc --edition 2021 -O -C target-feature=+crt-static -C relocation-model=static`.

use std::io::Write;
use std::os::unix::process::CommandExt;

/// `struct rusage` on x86-64 Linux: two timevals then fourteen longs.
#[repr(C)]
struct Rusage {
    utime: [i64; 2],
    stime: [i64; 2],
    maxrss: i64,
    rest: [i64; 13],
}

extern "C" {
    fn getrusage(who: i32, usage: *mut Rusage) -> i32;
}

const RUSAGE_SELF: i32 = 0;
const RUSAGE_CHILDREN: i32 = -1;

/// ru_maxrss in KiB, or -1 if the call failed.
fn maxrss(who: i32) -> i64 {
    let mut r = Rusage {
        utime: [0; 2],
        stime: [0; 2],
        maxrss: 0,
        rest: [0; 13],
    };
    // SAFETY: `r` is a properly sized, writable `struct rusage`.
    if unsafe { getrusage(who, &mut r) } == 0 {
        r.maxrss
    } else {
        -1
    }
}

fn main() {
    let line = format!(
        "\nSESAME-BENCH-RUSAGE pid={} self_maxrss_kib={} children_maxrss_kib={}\n",
        std::process::id(),
        maxrss(RUSAGE_SELF),
        maxrss(RUSAGE_CHILDREN)
    );
    let written = std::io::stdout()
        .write_all(line.as_bytes())
        .and_then(|_| std::io::stdout().flush());
    if written.is_err() {
        if let Ok(mut c) = std::fs::OpenOptions::new().write(true).open("/dev/console") {
            let _ = c.write_all(line.as_bytes());
        }
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let err = std::process::Command::new("/sbin/init")
        .arg0("/sbin/init")
        .args(args)
        .exec();
    let _ = writeln!(std::io::stderr(), "SESAME-BENCH-PROBE exec /sbin/init: {err}");
    // PID 1 must not exit quietly: exiting panics the kernel, which ends the VM (panic=-1).
    std::process::exit(1);
}
