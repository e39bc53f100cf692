//! The kernel filesystems PID 1 needs before anything else (`/proc`, `/sys`, `/dev`,
//! `/dev/pts`, `/run`), the console on fds 0–2, and reaping zombies.

use std::os::fd::AsRawFd;

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;

/// One mount of the early table.
struct KernelMount {
    source: &'static str,
    target: &'static str,
    fstype: &'static str,
    flags: MsFlags,
    data: Option<&'static str>,
}

fn table() -> [KernelMount; 5] {
    let common = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    [
        KernelMount {
            source: "devtmpfs",
            target: "/dev",
            fstype: "devtmpfs",
            flags: MsFlags::MS_NOSUID,
            data: Some("mode=0755"),
        },
        KernelMount {
            source: "proc",
            target: "/proc",
            fstype: "proc",
            flags: common,
            data: None,
        },
        KernelMount {
            source: "sysfs",
            target: "/sys",
            fstype: "sysfs",
            flags: common,
            data: None,
        },
        KernelMount {
            source: "devpts",
            target: "/dev/pts",
            fstype: "devpts",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            data: Some("gid=5,mode=620,ptmxmode=666"),
        },
        KernelMount {
            source: "tmpfs",
            target: "/run",
            fstype: "tmpfs",
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: Some("mode=0755"),
        },
    ]
}

/// Mounts the kernel filesystems. Already-mounted ones are fine (EBUSY); the first
/// real failure is returned, but every mount is attempted.
pub fn mount_all() -> Result<()> {
    let mut first_error = None;
    for m in table() {
        let _ = nix::unistd::mkdir(m.target, Mode::from_bits_truncate(0o755));
        match mount(Some(m.source), m.target, Some(m.fstype), m.flags, m.data) {
            Ok(()) | Err(Errno::EBUSY) => {}
            Err(e) => {
                if first_error.is_none() {
                    first_error = Some(
                        anyhow::Error::new(e)
                            .context(format!("mounting {} on {}", m.fstype, m.target)),
                    );
                }
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Makes sure fds 0, 1 and 2 are the console. The kernel opens `/dev/console` for
/// `/init` only if the image carries that node; devtmpfs has it in any case.
pub fn attach_console() -> Result<()> {
    let open = (0..3).all(|fd| {
        nix::fcntl::fcntl(
            unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
            nix::fcntl::FcntlArg::F_GETFD,
        )
        .is_ok()
    });
    if open {
        return Ok(());
    }
    let console = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
        .context("opening /dev/console")?;
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors, which we own as PID 1.
        let rc = unsafe { nix::libc::dup2(console.as_raw_fd(), fd) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error()).context("dup2 of /dev/console");
        }
    }
    Ok(())
}

/// Lets userspace messages through /dev/kmsg without the kernel's rate limit
/// (`printk.devkmsg=ratelimit` drops most of a busy boot). Returns the previous value
/// so it can be restored before switch_root.
pub fn unlimit_kmsg() -> Option<String> {
    let path = "/proc/sys/kernel/printk_devkmsg";
    let old = std::fs::read_to_string(path).ok()?.trim().to_string();
    if old != "on" {
        // Fails when the kernel command line locked it; then there is nothing to do.
        let _ = std::fs::write(path, "on\n");
    }
    Some(old)
}

/// Puts back what `unlimit_kmsg` changed.
pub fn restore_kmsg(old: Option<&str>) {
    if let Some(old) = old {
        let _ = std::fs::write("/proc/sys/kernel/printk_devkmsg", format!("{old}\n"));
    }
}

/// Reaps every exited child without blocking. PID 1 inherits orphans; when they exit
/// they must be collected or they stay zombies forever.
pub fn reap_zombies() -> usize {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let mut reaped = 0;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return reaped,
            Ok(_) => reaped += 1,
        }
    }
}
