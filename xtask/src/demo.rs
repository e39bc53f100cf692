//! `cargo xtask demo`: builds everything, makes a demo disk, boots it in QEMU with the
//! serial console on this terminal.

use std::process::Command;

use anyhow::{Context, Result};
use sesame_qemu::{Disk, Nic, RootFs, VmConfig};

use crate::{build, run, setup};

pub fn demo() -> Result<()> {
    setup::ensure_packages()?;
    let built = build::build()?;
    let kernel = sesame_qemu::debian_kernel()?;
    let dir = sesame_qemu::cache_dir().join("demo");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let root = RootFs::with_init(&built.marker)?;
    root.add_file(
        "etc/motd",
        "This is the demo's real root, booted by sesame.\n",
        0o644,
    )?;
    let disk = dir.join("root.img");
    let uuid = root.ext4_image(&disk, 64, Some("demo-root"))?;
    let initrd = dir.join("initrd.img");
    let host_key = dir.join("ssh_host_ed25519_key");
    if !host_key.exists() {
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "sesame-demo", "-f"])
            .arg(&host_key))?;
    }
    run(Command::new(&built.sesame)
        .arg("build")
        .arg("--output")
        .arg(&initrd)
        .arg("--modules-dir")
        .arg(&kernel.modules_dir)
        .arg("--host-key")
        .arg(&host_key))?;
    let mut cfg = VmConfig::new(kernel, &initrd, &dir);
    cfg.append = format!("root=UUID={uuid} rd.timeout=30");
    cfg.disks.push(Disk::new("root", &disk));
    cfg.nic = Some(Nic::User { ssh: false });
    println!(
        "\nxtask: booting the demo VM (root=UUID={uuid}); quit QEMU with Ctrl-A X.\n\
         The demo root's init prints a SESAME-MARKER report and powers off.\n"
    );
    let status = sesame_qemu::run_interactive(&cfg, None)?;
    println!("\nxtask: QEMU exited ({status})");
    Ok(())
}
