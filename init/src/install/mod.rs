//! `sesame install` and `sesame uninstall`, run as root on the machine that boots the
//! image (or on a tree in a folder with `--root`): the binary in `/usr/sbin/sesame`, a
//! commented `/etc/sesame/config.toml` when there is none, the kernel hooks, the image of
//! the running kernel, and — with `--bootloader` — GRUB's menu entry. Both are
//! idempotent and print every change; `--dry-run` prints the plan and changes nothing.
//! The checks run first: an install that would leave an unbootable machine stops before
//! it changes anything.

pub mod configfile;
pub mod files;
pub mod grub;
pub mod hook;
pub mod scripts;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use self::files::{Report, State};
use crate::check::{self, Finding};
use crate::cli::print_summary;
use crate::config::CONFIG_PATH;
use crate::host::{
    build_if_changed, running_kernel, Host, Inputs, RootArg, BINARY_PATH, IMAGE_PREFIX, SESAME_DIR,
};
use crate::image::cpio::Compression;
use crate::image::elf;

/// `sesame install`'s arguments.
#[derive(Args, Debug)]
pub struct InstallArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// Print what would change, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also make GRUB boot the image (Debian/Ubuntu: /etc/grub.d/09_sesame + update-grub).
    #[arg(long)]
    pub bootloader: bool,
    /// The kernel to build the image for (default: the running one; under a --root other
    /// than /, every kernel installed there).
    #[arg(long, value_name = "VER")]
    pub kernel_version: Option<String>,
    /// Copy this file to /etc/sesame/authorized_keys (the keys allowed to unlock).
    #[arg(long, value_name = "FILE")]
    pub authorized_keys: Option<PathBuf>,
    /// Compression of the images, now and in the hooks.
    #[arg(long, value_enum, default_value = "zstd")]
    pub compress: Compression,
}

/// `sesame uninstall`'s arguments.
#[derive(Args, Debug)]
pub struct UninstallArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// Print what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also remove /etc/sesame (config, authorized_keys, the SSH host key).
    #[arg(long)]
    pub purge: bool,
}

const SESAME_AUTHORIZED_KEYS: &str = "/etc/sesame/authorized_keys";

/// `sesame install`. Exit code 1 when the checks find errors (nothing is changed then).
pub fn run_install(args: &InstallArgs) -> Result<i32> {
    let host = args.root.host();
    require_root(&host, args.dry_run, "install")?;
    let exe = std::env::current_exe().context("locating this sesame binary")?;
    let binary = std::fs::read(&exe).with_context(|| format!("reading {}", exe.display()))?;
    if elf::needs_interpreter(&binary) != Some(false) {
        bail!(
            "{} is not a static x86-64 executable, so it cannot be /init; install the static \
             build (`cargo xtask build` prints its path)",
            exe.display()
        );
    }
    let versions = kernels(&host, args.kernel_version.as_deref())?;
    let keys = args.authorized_keys.as_deref().map(read_keys).transpose()?;
    println!(
        "sesame install{}{}",
        if host.is_system() {
            String::new()
        } else {
            format!(" into {}", host.root.display())
        },
        if args.dry_run {
            " (dry run: nothing is changed)"
        } else {
            ""
        }
    );

    // 1. The checks, before anything changes.
    let findings = checks(&host, &versions, args);
    if check::has_errors(&findings) {
        check::print(&findings, &mut std::io::stdout());
        println!(
            "sesame install {}: nothing was changed",
            if args.dry_run {
                "would stop here"
            } else {
                "stopped"
            }
        );
        return Ok(1);
    }
    for f in findings
        .iter()
        .filter(|f| f.severity != check::Severity::Ok)
    {
        println!("  warning: {}", f.text);
    }

    let mut report = Report::new(args.dry_run);
    // 2. The binary the hooks run.
    files::ensure(
        &mut report,
        &host.path(BINARY_PATH),
        &binary,
        0o755,
        &format!(" (from {})", exe.display()),
    )?;
    // 3. /etc/sesame: the config template, authorized_keys.
    files::ensure_dir(&mut report, &host.path(SESAME_DIR), 0o700)?;
    let config = host.path(CONFIG_PATH);
    if config.exists() {
        report.unchanged(&config, " (yours: kept as it is)");
    } else {
        files::ensure(
            &mut report,
            &config,
            configfile::template().as_bytes(),
            0o644,
            " (every key commented out with its default)",
        )?;
    }
    if let (Some(keys), Some(from)) = (&keys, &args.authorized_keys) {
        files::ensure(
            &mut report,
            &host.path(SESAME_AUTHORIZED_KEYS),
            keys,
            0o600,
            &format!(" (from {})", from.display()),
        )?;
    }
    // 4. The kernel hooks.
    for (path, text) in [
        (scripts::DEB_POSTINST, scripts::deb_postinst(args.compress)),
        (scripts::DEB_POSTRM, scripts::deb_postrm()),
        (
            scripts::KERNEL_INSTALL_PLUGIN,
            scripts::kernel_install_plugin(args.compress),
        ),
    ] {
        ensure_ours(&mut report, &host.path(path), &text)?;
    }
    // 5. The images.
    if versions.is_empty() {
        println!(
            "  no kernel under {} yet: the hooks build the image when one is installed",
            host.path("/lib/modules").display()
        );
    }
    for version in &versions {
        build_image(&host, version, &exe, args, &mut report)?;
    }
    // 6. The boot loader.
    if args.bootloader {
        grub::require_update_grub(&host)?;
        let state = ensure_ours(&mut report, &host.path(grub::GRUB_SCRIPT), &grub::script())?;
        if state != State::Same || host.is_system() {
            grub::update_grub(&host, args.dry_run)?;
        }
    }
    println!(
        "{}",
        match (report.changed, args.dry_run) {
            (0, _) => "sesame install: nothing to change".to_string(),
            (n, true) => format!("sesame install would make {n} change(s)"),
            (n, false) => format!("sesame install: {n} change(s)"),
        }
    );
    if !args.bootloader {
        print!("{}", grub::instructions(&host, &versions));
    }
    Ok(0)
}

/// `sesame uninstall`: removes what `install` wrote (hooks only when sesame wrote them),
/// the images, and with `--purge` /etc/sesame.
pub fn run_uninstall(args: &UninstallArgs) -> Result<i32> {
    let host = args.root.host();
    require_root(&host, args.dry_run, "uninstall")?;
    let mut report = Report::new(args.dry_run);
    for path in [
        scripts::DEB_POSTINST,
        scripts::DEB_POSTRM,
        scripts::KERNEL_INSTALL_PLUGIN,
    ] {
        remove_ours(&mut report, &host.path(path))?;
    }
    let grub_removed = remove_ours(&mut report, &host.path(grub::GRUB_SCRIPT))?;
    for image in images(&host) {
        files::remove(&mut report, &image, "")?;
    }
    if grub_removed && host.path(grub::UPDATE_GRUB).exists() {
        grub::update_grub(&host, args.dry_run)?;
    }
    files::remove(&mut report, &host.path(BINARY_PATH), "")?;
    let dir = host.path(SESAME_DIR);
    if args.purge && dir.exists() {
        report.change(
            "removed",
            "remove",
            &dir,
            " (config, authorized_keys, host key)",
        );
        if !args.dry_run {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    } else if dir.exists() {
        println!(
            "  kept {} (config, keys; `sesame uninstall --purge` removes it)",
            dir.display()
        );
    }
    println!(
        "{}",
        match (report.changed, args.dry_run) {
            (0, _) => "sesame uninstall: nothing to remove".to_string(),
            (n, true) => format!("sesame uninstall would make {n} change(s)"),
            (n, false) => format!("sesame uninstall: {n} change(s)"),
        }
    );
    if report.changed > 0 && !grub_removed {
        println!(
            "If the boot loader was pointed at a sesame image by hand, point it back at the \
             distribution's initramfs."
        );
    }
    Ok(0)
}

/// Changing the real system needs root; a tree in a folder needs only its permissions.
fn require_root(host: &Host, dry_run: bool, what: &str) -> Result<()> {
    use nix::unistd::{access, AccessFlags};
    let writable = ["/etc", "/usr/sbin"]
        .iter()
        .all(|d| access(&host.path(d), AccessFlags::W_OK).is_ok());
    if host.is_system() && !dry_run && !writable {
        bail!(
            "sesame {what} changes /usr/sbin, /etc and /boot: run it as root (or with \
             --dry-run to see the plan)"
        );
    }
    Ok(())
}

/// The kernels to build for: the one named, else the running one, else (under a root
/// that is not this system, where the running kernel means nothing) every installed one.
fn kernels(host: &Host, explicit: Option<&str>) -> Result<Vec<String>> {
    let version = match explicit {
        Some(v) => v.to_string(),
        None if host.is_system() => running_kernel()?,
        None => return Ok(host.installed_kernels()),
    };
    host.modules_dir_of(&version)?;
    Ok(vec![version])
}

fn read_keys(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The inputs of `version`'s image as the hooks will find them after the install.
fn inputs(host: &Host, version: Option<&str>, args: &InstallArgs) -> Result<Inputs> {
    let mut inputs = match version {
        Some(v) => Inputs::defaults(host, v, args.compress)?,
        None => Inputs {
            config: host.config(None),
            authorized_keys: host.authorized_keys(None),
            crypttab: host.crypttab(None),
            host_key: None,
            modules_dir: host.path("/lib/modules"),
            firmware_dir: host.path("/lib/firmware"),
            compress: args.compress,
        },
    };
    if let Some(keys) = &args.authorized_keys {
        inputs.authorized_keys = Some(keys.clone());
    }
    Ok(inputs)
}

/// The host's checks once, the kernel's for each kernel.
fn checks(host: &Host, versions: &[String], args: &InstallArgs) -> Vec<Finding> {
    let mut out = Vec::new();
    let common = match inputs(host, versions.first().map(String::as_str), args) {
        Ok(i) => i,
        Err(e) => {
            out.push(check::error(format!("{e:#}")));
            return out;
        }
    };
    let config = check::check_host(host, &common, &mut out);
    for v in versions {
        match inputs(host, Some(v), args) {
            Ok(i) => check::check_kernel(host, &i, &config, &mut out),
            Err(e) => out.push(check::error(format!("{e:#}"))),
        }
    }
    out
}

fn build_image(
    host: &Host,
    version: &str,
    exe: &Path,
    args: &InstallArgs,
    report: &mut Report,
) -> Result<()> {
    let path = host.image(version);
    if args.dry_run {
        report.change("", "build", &path, &format!(" (kernel {version})"));
        return Ok(());
    }
    let mut inputs = inputs(host, Some(version), args)?;
    // --authorized-keys has been copied by now: build from the copy, as the hooks will.
    inputs.authorized_keys = host.authorized_keys(None);
    let opts = inputs.build_options(host, &path, exe);
    let existed = path.exists();
    let (summary, changed) = build_if_changed(&opts)?;
    if changed {
        report.change(
            if existed { "rebuilt" } else { "built" },
            "build",
            &path,
            "",
        );
        print_summary(&summary, &mut std::io::stdout());
    } else {
        report.unchanged(&path, " (same bytes as a fresh build)");
    }
    Ok(())
}

/// Writes a file sesame owns; refuses to overwrite one someone else wrote.
fn ensure_ours(report: &mut Report, path: &Path, text: &str) -> Result<State> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        if !scripts::is_ours(&existing) {
            bail!(
                "{} exists and was not written by sesame; move it away, then run `sesame \
                 install` again",
                path.display()
            );
        }
    }
    files::ensure(report, path, text.as_bytes(), 0o755, "")
}

/// Removes a file sesame wrote; leaves (and names) one it did not.
fn remove_ours(report: &mut Report, path: &Path) -> Result<bool> {
    match std::fs::read_to_string(path) {
        Err(_) => Ok(false),
        Ok(text) if scripts::is_ours(&text) => files::remove(report, path, ""),
        Ok(_) => {
            println!("  kept {} (not written by sesame)", path.display());
            Ok(false)
        }
    }
}

/// sesame's images in `/boot`.
fn images(host: &Host) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(host.path("/boot")) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(IMAGE_PREFIX))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}
