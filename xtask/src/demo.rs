//! `cargo xtask demo`: builds everything, makes an encrypted demo disk, boots it in QEMU
//! with the serial console on this terminal and SSH forwarded to a free loopback port,
//! and prints the passphrase and the exact `ssh` line that unlocks it.

use std::process::Command;

use anyhow::{Context, Result};
use sesame_qemu::{luks_encrypt, Disk, LuksOptions, Nic, Pbkdf, RootFs, SshClient, VmConfig};

use crate::{build, run, setup};

const PASSPHRASE: &str = "open sesame";

pub fn demo() -> Result<()> {
    setup::ensure_packages()?;
    let built = build::build()?;
    let kernel = sesame_qemu::debian_kernel()?;
    let dir = sesame_qemu::cache_dir().join("demo");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    // The real root: the marker as init, a greeting, encrypted with LUKS2 (argon2id).
    let root = RootFs::with_init(&built.marker)?;
    root.add_file(
        "etc/motd",
        "\n*** sesame demo: the encrypted root was unlocked and its init is running. ***\n\
         *** It prints what it sees, then powers the VM off.                         ***\n\n",
        0o644,
    )?;
    let disk = dir.join("root.img");
    root.ext4_image(&disk, 64, Some("demo-root"))?;
    let luks_uuid = luks_encrypt(
        &disk,
        &LuksOptions::new(PASSPHRASE).pbkdf(Pbkdf::CheapArgon2id),
    )?;

    // An operator key of the demo's own, and the image that trusts it.
    let port = sesame_qemu::free_loopback_port()?;
    let operator = SshClient::new(&dir, "operator_ed25519", port)?;
    std::fs::write(
        dir.join("authorized_keys"),
        format!("{}\n", operator.public_key()?),
    )?;
    let host_key = dir.join("ssh_host_ed25519_key");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "sesame-demo", "-f"])
        .arg(&host_key))?;
    // The client trusts exactly the key the image carries: no "unknown host" question.
    let host_pub = std::fs::read_to_string(host_key.with_extension("pub"))?;
    let host_pub: Vec<&str> = host_pub.split_whitespace().take(2).collect();
    std::fs::write(
        &operator.known_hosts,
        format!("[127.0.0.1]:{port} {}\n", host_pub.join(" ")),
    )?;
    let initrd = dir.join("initrd.img");
    run(Command::new(&built.sesame)
        .arg("build")
        .arg("--no-check") // the image is for the VM; this host's NICs and disks do not matter
        .arg("--output")
        .arg(&initrd)
        .arg("--modules-dir")
        .arg(&kernel.modules_dir)
        .arg("--host-key")
        .arg(&host_key)
        .arg("--authorized-keys")
        .arg(dir.join("authorized_keys")))?;

    let mut cfg = VmConfig::new(kernel, &initrd, &dir);
    cfg.append = format!("rd.luks.name={luks_uuid}=root root=/dev/mapper/root");
    cfg.disks.push(Disk::new("root", &disk));
    cfg.nic = Some(Nic::User { ssh: true });
    println!(
        "\nxtask: booting the demo VM. The root disk is LUKS2-encrypted.\n\
         \n  passphrase:  {PASSPHRASE}\n\
         \n  unlock over SSH, from another terminal (interactive prompt):\n\
         \n    ssh -i {key} -o UserKnownHostsFile={known} -p {port} root@127.0.0.1\n\
         \n  or without a prompt:\n\
         \n    echo -n '{PASSPHRASE}' | ssh -i {key} -o UserKnownHostsFile={known} -p {port} root@127.0.0.1 unlock\n\
         \n  or type the passphrase at the console prompt below.\n\
         \n  Quit QEMU with Ctrl-A X.\n",
        key = operator.key.display(),
        known = operator.known_hosts.display(),
    );
    let status = sesame_qemu::run_interactive(&cfg, Some(port))?;
    println!("\nxtask: QEMU exited ({status})");
    Ok(())
}
