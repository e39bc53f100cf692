//! What both systems boot, made once per run in `~/.cache/sesame/bench/run`: the static
//! binaries, the kernel, the SSH keys, the marker root (with `bench/probe.rs` as `init=`)
//! encrypted twice (cheap PBKDF2, default Argon2id) under one fixed LUKS UUID, Debian's
//! chroot (`bench/debian.sh`), and the two images, whose build times are figure 5.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use sesame_qemu::{
    cache_dir, debian_kernel, luks_encrypt, require_tools, Kernel, LuksOptions, Pbkdf, RootFs,
    SshClient,
};

use super::table::Samples;
use super::{order, System};
use crate::{build, run, setup, workspace_root};

/// The passphrase of both disks.
pub(crate) const PASS: &str = "bench passphrase";
/// Fixed, so Debian's crypttab (baked into its image) and the disks always match.
const LUKS_UUID: &str = "5e5a3e00-0000-4000-8000-00000000be0c";
/// Where Debian's image is written inside its chroot.
const DEBIAN_OUT: &str = "/tmp/bench-initrd.img";

/// Debian's chroot, set up and configured.
pub(crate) struct Debian {
    script: PathBuf,
    root: PathBuf,
}

pub(crate) struct Inputs {
    /// This run's directory (emptied at the start).
    pub dir: PathBuf,
    pub kernel: Kernel,
    pub sesame_bin: PathBuf,
    host_key: PathBuf,
    authorized: PathBuf,
    crypttab: PathBuf,
    config: PathBuf,
    pub operator: SshClient,
    pub disk_cheap: PathBuf,
    pub disk_argon2: Option<PathBuf>,
    /// The Argon2id keyslot's parameters, as cryptsetup chose them on this host.
    pub argon2_params: Option<String>,
    /// Why there is no Debian baseline, when there is none.
    pub debian: Result<Debian, String>,
}

/// The images booted (those of the last build round).
pub(crate) struct Images {
    pub sesame: PathBuf,
    pub debian: Option<PathBuf>,
}

pub(crate) fn prepare(argon2: bool) -> Result<Inputs> {
    setup::ensure_packages()?;
    require_tools(&["zstd", "rustc", "unshare", "chroot", "qemu-system-x86_64"])?;
    let built = build::build()?;
    let kernel = debian_kernel()?;
    let kernel_root = kernel
        .modules_dir
        .ancestors()
        .nth(3)
        .context("the kernel's modules directory has no root")?
        .to_path_buf();
    let base = cache_dir().join("bench");
    let dir = base.join("run");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    eprintln!("xtask bench: working in {}", dir.display());

    // Keys kept between runs: Debian's chroot keeps the same configuration.
    let operator = SshClient::new(&base, "operator", 0)?;
    let host_key = base.join("ssh_host_ed25519_key");
    if !host_key.exists() {
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "sesame-bench", "-f"])
            .arg(&host_key))?;
    }
    let authorized = dir.join("authorized_keys");
    std::fs::write(&authorized, format!("{}\n", operator.public_key()?))?;
    let crypttab = dir.join("crypttab");
    std::fs::write(
        &crypttab,
        format!("root UUID={LUKS_UUID} none luks,discard,initramfs\n"),
    )?;
    let config = dir.join("config.toml");
    std::fs::write(&config, "")?;

    // The root: the marker as /sbin/init, the probe as init=.
    let probe = compile_probe(&dir)?;
    let root = RootFs::with_init(&built.marker)?;
    root.copy_file("sbin/bench-probe", &probe, 0o755)?;
    let plain = dir.join("root-plain.img");
    root.ext4_image(&plain, 64, None)?;
    let disk_cheap = dir.join("root-pbkdf2.img");
    std::fs::copy(&plain, &disk_cheap)?;
    luks_encrypt(&disk_cheap, &LuksOptions::new(PASS).uuid(LUKS_UUID))?;
    let (disk_argon2, argon2_params) = if argon2 {
        let p = dir.join("root-argon2id.img");
        std::fs::copy(&plain, &p)?;
        eprintln!("xtask bench: LUKS2 with cryptsetup's default Argon2id (it benchmarks ~2 s)");
        luks_encrypt(
            &p,
            &LuksOptions::new(PASS).uuid(LUKS_UUID).pbkdf(Pbkdf::Default),
        )?;
        let params = keyslot_params(&p)?;
        (Some(p), Some(params))
    } else {
        (None, None)
    };

    let debian = debian_chroot(&base, &kernel_root, &kernel.version, &authorized)
        .map_err(|e| format!("{e:#}"));
    Ok(Inputs {
        dir,
        kernel,
        sesame_bin: built.sesame,
        host_key,
        authorized,
        crypttab,
        config,
        operator,
        disk_cheap,
        disk_argon2,
        argon2_params,
        debian,
    })
}

/// Debian's stack in its chroot (debootstrapped once into the cache, reconfigured every
/// run). `bench/debian.sh` says on stderr why it cannot (not root, no mirror…).
fn debian_chroot(base: &Path, kernel_root: &Path, version: &str, keys: &Path) -> Result<Debian> {
    let script = workspace_root().join("bench/debian.sh");
    let root = base.join("debian-root");
    let t = Instant::now();
    run(Command::new("bash").arg(&script).arg("root").arg(&root))
        .context("setting up Debian's chroot (bench/debian.sh root; its message is above)")?;
    eprintln!(
        "xtask bench: Debian chroot ready in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    run(Command::new("bash")
        .arg(&script)
        .arg("configure")
        .arg(&root)
        .arg(kernel_root)
        .arg(version)
        .arg(keys)
        .arg(LUKS_UUID))
    .context("configuring Debian's chroot (bench/debian.sh configure; its message is above)")?;
    Ok(Debian { script, root })
}

/// Builds both images `rounds` times, interleaved, timing each build (figure 5). The first
/// round's build output goes to `build.log`.
pub(crate) fn build_images(
    inputs: &Inputs,
    rounds: usize,
    samples: &mut Samples,
    problems: &mut Vec<String>,
) -> Result<Images> {
    let sesame_image = inputs.dir.join("sesame-initrd.img");
    let debian_image = inputs.dir.join("debian-initrd.img");
    let mut debian_built = false;
    let mut log = String::new();
    for r in 0..rounds {
        for system in order(r) {
            let t = Instant::now();
            let (out, err) = match (system, &inputs.debian) {
                (System::Sesame, _) => output(
                    Command::new(&inputs.sesame_bin)
                        .arg("build")
                        .arg("--no-check") // the image is for the VM, not this host
                        .arg("--output")
                        .arg(&sesame_image)
                        .arg("--modules-dir")
                        .arg(&inputs.kernel.modules_dir)
                        .args(["--compress", "zstd"])
                        .arg("--host-key")
                        .arg(&inputs.host_key)
                        .arg("--authorized-keys")
                        .arg(&inputs.authorized)
                        .arg("--crypttab")
                        .arg(&inputs.crypttab)
                        .arg("--config")
                        .arg(&inputs.config),
                )
                .context("building sesame's image")?,
                (System::Debian, Ok(d)) => match output(
                    Command::new("bash")
                        .arg(&d.script)
                        .arg("build")
                        .arg(&d.root)
                        .arg(&inputs.kernel.version)
                        .arg(DEBIAN_OUT),
                ) {
                    Ok(o) => o,
                    Err(e) => {
                        problems.push(format!("Debian's mkinitramfs failed: {e:#}"));
                        continue;
                    }
                },
                (System::Debian, Err(_)) => continue,
            };
            samples.add("build", system, t.elapsed().as_secs_f64());
            if system == System::Debian {
                let from = inputs
                    .debian
                    .as_ref()
                    .map(|d| d.root.join(DEBIAN_OUT.trim_start_matches('/')))
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                std::fs::copy(&from, &debian_image)
                    .with_context(|| format!("copying {}", from.display()))?;
                debian_built = true;
            }
            if r == 0 {
                let _ = writeln!(log, "--- {} build ---\n{out}{err}", system.name());
            }
        }
    }
    std::fs::write(inputs.dir.join("build.log"), &log)?;
    Ok(Images {
        sesame: sesame_image,
        debian: debian_built.then_some(debian_image),
    })
}

/// Runs `cmd`, returns (stdout, stderr); fails with both when it fails.
fn output(cmd: &mut Command) -> Result<(String, String)> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("starting {shown}"))?;
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    if !out.status.success() {
        bail!("{shown} failed ({}):\n{o}{e}", out.status);
    }
    Ok((o, e))
}

/// Compiles bench/probe.rs into a static binary in `dir`.
fn compile_probe(dir: &Path) -> Result<PathBuf> {
    let src = workspace_root().join("bench/probe.rs");
    let out = dir.join("bench-probe");
    run(Command::new("rustc")
        .args(["--edition", "2021", "-O"])
        .args(["-C", "target-feature=+crt-static"])
        .args(["-C", "relocation-model=static", "-C", "strip=symbols"])
        .arg("-o")
        .arg(&out)
        .arg(&src))
    .context("compiling bench/probe.rs")?;
    Ok(out)
}

/// `argon2id, time cost 4, memory 539410 KiB, 2 threads` from `cryptsetup luksDump`.
fn keyslot_params(image: &Path) -> Result<String> {
    let (dump, _) = output(Command::new("cryptsetup").arg("luksDump").arg(image))?;
    let field = |name: &str| {
        dump.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| "?".into())
    };
    Ok(format!(
        "{}, time cost {}, memory {} KiB, {} threads",
        field("PBKDF:"),
        field("Time cost:"),
        field("Memory:"),
        field("Threads:")
    ))
}
