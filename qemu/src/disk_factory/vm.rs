//! The disk factory's VM (see `disk_factory.rs`): the real Debian root with the factory's
//! init, a bash wrapper around the recipe, as a throwaway ext4 disk; sesame's own
//! initramfs (SSH, LUKS, LVM and md off) to mount it and `switch_root` into it; the
//! recipe's disks attached after it; and the result the wrapper prints on the console.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::{tree_digest, DiskRecipe, CONSOLE_LOG, FACTORY_TIMEOUT};
use crate::binaries::sesame_binary;
use crate::config::{Disk, VmConfig};
use crate::debian_root::stable_hash;
use crate::kernel::Kernel;
use crate::rootfs::RootFs;
use crate::tools::{command, run};
use crate::vm::Vm;

/// The factory's init in its root, and the recipe it runs.
const INIT: &str = "usr/local/sbin/sesame-factory";
const RECIPE: &str = "etc/sesame-factory/recipe.sh";
/// The factory's kernel command line: sesame mounts the root and runs the wrapper, and
/// touches nothing else (no SSH, no LUKS, LVM or md of its own).
const APPEND: &str = "root=/dev/vda rootfstype=ext4 rw init=/usr/local/sbin/sesame-factory \
                      rd.sesame.ssh=0 rd.luks=0 rd.lvm=0 rd.md=0 rd.timeout=300";
/// The wrapper's last line on the console: `SESAME-FACTORY-DONE` or
/// `SESAME-FACTORY-FAILED status=<recipe's exit> tidy=<0|1>`.
const RESULT: &str = "SESAME-FACTORY-";
const DONE: &str = "SESAME-FACTORY-DONE";

/// No udev runs in the factory: lvm2 must not wait for it, nor ask dmeventd to monitor.
const LVM_LOCAL: &str = "\
activation {
\tudev_sync = 0
\tudev_rules = 0
\tmonitoring = 0
}
devices {
\tobtain_device_list_from_udev = 0
}
";

/// The factory's PID 1. `@DISKS@` and `@PAYLOAD@` are filled in by [`wrapper`].
const WRAPPER: &str = r#"#!/bin/bash
# sesame disk factory: PID 1 of the factory VM. Runs the recipe, tidies up, reports on
# the console and powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin
export DM_DISABLE_UDEV=1 LVM_SUPPRESS_FD_WARNINGS=1
export FACTORY_DISKS="@DISKS@"
payload="@PAYLOAD@"
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mountpoint -q /run || mount -t tmpfs -o mode=0755 tmpfs /run
mountpoint -q /tmp || mount -t tmpfs tmpfs /tmp
mkdir -p /run/lock/lvm /run/cryptsetup /run/mdadm
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
exec </dev/console >/dev/console 2>&1
report() {
    sync
    printf '\nSESAME-FACTORY-%s\n' "$1"
    echo o >/proc/sysrq-trigger
    sleep 600
}
for m in dm_mod dm_crypt xts ecb cryptd crypto_simd aesni_intel md_mod raid0 raid1 raid10; do
    modprobe -q "$m" || echo "factory: no module $m"
done
if [ -n "$payload" ]; then
    mkdir -p /payload
    mount -t ext4 -o ro "$payload" /payload || report "FAILED status=payload-mount tidy=1"
fi
cd /tmp
echo "factory: running the recipe on $FACTORY_DISKS"
status=0
bash -euxo pipefail /etc/sesame-factory/recipe.sh </dev/null || status=$?
echo "factory: the recipe ended with status $status; tidying up"
tidy=0
while read -r src target _; do
    case "$src" in
    /dev/vd[b-z]* | /dev/mapper/* | /dev/md* | /dev/dm-*) umount "$target" || tidy=1 ;;
    esac
done < <(tac /proc/mounts)
for md in /dev/md[0-9]*; do
    [ -b "$md" ] && mdadm --wait "$md" >/dev/null 2>&1
done
vgchange -an || tidy=1
dmsetup remove_all || tidy=1
mdadm --stop --scan || tidy=1
dmsetup remove_all || tidy=1
left="$(dmsetup ls | grep -v '^No devices found' || true)"
[ -z "$left" ] || { echo "factory: device-mapper devices left: $left"; tidy=1; }
grep -q '^md' /proc/mdstat && { cat /proc/mdstat; tidy=1; }
if [ "$status" = 0 ] && [ "$tidy" = 0 ]; then
    report DONE
else
    report "FAILED status=$status tidy=$tidy"
fi
"#;

/// A hash of what the factory runs around a recipe (wrapper, lvm2 settings, command
/// line): part of the cache key, so changing any of them makes every disk again.
pub(super) fn fingerprint() -> String {
    stable_hash(&format!(
        "{WRAPPER}\n{LVM_LOCAL}\n{APPEND}\n{INIT}\n{RECIPE}"
    ))
}

/// The wrapper for `disks` devices (`/dev/vdb` …) and the payload device, if any.
fn wrapper(disks: usize, payload: Option<&str>) -> String {
    WRAPPER
        .replace("@DISKS@", &device_names(disks).join(" "))
        .replace("@PAYLOAD@", payload.unwrap_or(""))
}

/// `/dev/vdb`, `/dev/vdc`, … for `n` disks (after the factory's root, `/dev/vda`).
fn device_names(n: usize) -> Vec<String> {
    (b'b'..=b'z')
        .take(n)
        .map(|c| format!("/dev/vd{}", char::from(c)))
        .collect()
}

/// Makes `recipe`'s disks into `out` by booting the factory, with its scratch files
/// (root disk, initramfs, console log) in `work`. On failure the console log is copied
/// to `failed_log` and its end is in the error.
pub(crate) fn build(
    kernel: &Kernel,
    recipe: &DiskRecipe,
    work: &Path,
    out: &Path,
    failed_log: &Path,
) -> Result<()> {
    let mut cfg = VmConfig::new(kernel.clone(), &work.join("initrd.img"), &work.join("vm"));
    let root_img = work.join("factory-root.img");
    cfg.disks.push(Disk::new("factory", &root_img).snapshot());
    for (i, d) in recipe.disks.iter().enumerate() {
        let path = out.join(&d.name);
        let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        f.set_len(d.size_mib << 20)
            .with_context(|| format!("sizing {} to {} MiB", path.display(), d.size_mib))?;
        drop(f);
        if let Some(script) = &d.sfdisk {
            sfdisk(&path, script)?;
        }
        cfg.disks
            .push(Disk::new(&format!("disk{i}"), &path).serial(&format!("factory-{i}")));
    }
    let mut payload_dev = None;
    if let Some(dir) = &recipe.payload {
        let (_, bytes) = tree_digest(dir)?;
        let img = work.join("payload.img");
        crate::ext4::ext4_image(&img, (bytes >> 20) * 5 / 4 + 32, Some("payload"), dir)
            .with_context(|| format!("making the payload disk from {}", dir.display()))?;
        cfg.disks.push(Disk::new("payload", &img).read_only());
        payload_dev = device_names(recipe.disks.len() + 1).pop();
    }

    let tree = RootFs::debian(kernel)?;
    tree.add_file(
        INIT,
        wrapper(recipe.disks.len(), payload_dev.as_deref()),
        0o755,
    )?;
    tree.add_file(RECIPE, &recipe.script, 0o755)?;
    tree.add_file("etc/lvm/lvmlocal.conf", LVM_LOCAL, 0o644)?;
    let size_mib = tree.size_bytes()? / (1 << 20) * 5 / 4 + 128;
    tree.ext4_image(&root_img, size_mib, Some("factory"))?;
    initramfs(kernel, &tree, work)?;
    drop(tree);

    cfg.append = APPEND.to_string();
    cfg.memory_mib = 1024;
    let vm = Vm::start(cfg).context("starting the factory VM")?;
    let outcome = finish(&vm);
    if outcome.is_err() {
        vm.kill();
        let _ = fs::copy(vm.console_log_path(), failed_log);
    }
    outcome.with_context(|| format!("the full console log is kept in {}", failed_log.display()))?;
    fs::copy(vm.console_log_path(), out.join(CONSOLE_LOG))
        .context("keeping the factory's console log")?;
    Ok(())
}

/// Waits for the wrapper's result and QEMU's end.
fn finish(vm: &Vm) -> Result<()> {
    let line = vm
        .wait_for_console(RESULT, FACTORY_TIMEOUT)
        .context("the factory never reported")?;
    if !line.contains(DONE) {
        bail!("the recipe failed ({}){}", line.trim(), vm.diagnostics());
    }
    vm.wait_exit(Duration::from_secs(120))
        .context("the factory VM did not power off")?;
    log::info!("disk factory VM done in {:.1?}", vm.elapsed());
    Ok(())
}

/// `sesame build` for the factory's root: no SSH (sesame warns that no key may log in),
/// this kernel's modules, into `work/initrd.img`; its output goes to
/// `work/sesame-build.log`. The host key it makes lands in the throwaway copy of the root.
fn initramfs(kernel: &Kernel, tree: &RootFs, work: &Path) -> Result<()> {
    let config = work.join("sesame.toml");
    fs::write(&config, "[ssh]\nenabled = false\n").context("writing the factory's config")?;
    let mut cmd = std::process::Command::new(sesame_binary()?);
    cmd.arg("build")
        .arg("--output")
        .arg(work.join("initrd.img"))
        .arg("--root")
        .arg(tree.path())
        .arg("--modules-dir")
        .arg(&kernel.modules_dir)
        .args(["--compress", "zstd", "--no-check", "--config"])
        .arg(&config);
    let text = run(&mut cmd).context("building the factory's initramfs")?;
    let _ = fs::write(work.join("sesame-build.log"), text);
    Ok(())
}

/// Writes the partition table `script` (sfdisk's format) onto the image `path`.
fn sfdisk(path: &Path, script: &str) -> Result<()> {
    let mut child = command("sfdisk")?
        .args(["-q", "--no-reread", "--no-tell-kernel"])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting sfdisk")?;
    child
        .stdin
        .take()
        .context("sfdisk's stdin")?
        .write_all(script.as_bytes())
        .context("writing the partition script to sfdisk")?;
    let done = child.wait_with_output().context("waiting for sfdisk")?;
    if !done.status.success() {
        bail!(
            "sfdisk could not partition {} ({}):\n{}{}\nscript:\n{script}",
            path.display(),
            done.status,
            String::from_utf8_lossy(&done.stdout),
            String::from_utf8_lossy(&done.stderr)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_names_the_devices() {
        assert_eq!(device_names(2), ["/dev/vdb", "/dev/vdc"]);
        assert_eq!(
            device_names(25).last().map(String::as_str),
            Some("/dev/vdz")
        );
        let w = wrapper(2, Some("/dev/vdd"));
        assert!(w.starts_with("#!/bin/bash\n"));
        assert!(w.contains("FACTORY_DISKS=\"/dev/vdb /dev/vdc\""), "{w}");
        assert!(w.contains("payload=\"/dev/vdd\""), "{w}");
        assert!(!w.contains('@'), "{w}");
        // The result line is printed, never written out whole, so that no echo of the
        // script can be mistaken for it.
        assert!(!w.contains(DONE));
        assert!(APPEND.contains(&format!("init=/{INIT} ")), "{APPEND}");
        assert_eq!(fingerprint(), fingerprint());
    }

    #[test]
    fn sfdisk_partitions_a_file() {
        crate::tools::require_tools(&["sfdisk"]).unwrap();
        let d = tempfile::tempdir().unwrap();
        let img = d.path().join("p.img");
        File::create(&img).unwrap().set_len(16 << 20).unwrap();
        sfdisk(&img, "label: gpt\nsize=4MiB, type=R\ntype=L\n").unwrap();
        let e = sfdisk(&img, "label: nonsense\n").unwrap_err();
        assert!(format!("{e:#}").contains("could not partition"), "{e:#}");
    }
}
