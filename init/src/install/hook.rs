//! `sesame hook`: what the kernel hooks run when a kernel is installed or removed —
//! Debian's `/etc/kernel/postinst.d` and `postrm.d` (`<version> [<kernel image>]`) and
//! systemd's kernel-install (`add|remove <version> <entry dir> [<kernel> [<initrd>…]]`).
//! Adding checks the host for that kernel first and fails (so the package manager says
//! so) rather than build an image that could not be unlocked; removing removes the image.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use super::scripts;
use crate::check;
use crate::cli::print_summary;
use crate::host::{build_if_changed, check_version, Host, Inputs, RootArg};
use crate::image::cpio::Compression;

#[derive(Subcommand, Debug)]
pub enum HookCommand {
    /// /etc/kernel/postinst.d: check, then build /boot/sesame-initrd.img-<version>.
    Postinst {
        #[command(flatten)]
        opts: HookOpts,
        /// The kernel version just installed.
        version: String,
        /// The kernel image (given by the package; not needed).
        image: Option<PathBuf>,
    },
    /// /etc/kernel/postrm.d: remove /boot/sesame-initrd.img-<version>.
    Postrm {
        #[command(flatten)]
        opts: HookOpts,
        /// The kernel version just removed.
        version: String,
        /// The kernel image (given by the package; not needed).
        image: Option<PathBuf>,
    },
    /// kernel-install plugin: `add|remove <version> <entry dir> [<kernel> [<initrd>…]]`.
    KernelInstall {
        #[command(flatten)]
        opts: HookOpts,
        /// `add` or `remove` (anything else is ignored, as kernel-install asks).
        command: String,
        /// The kernel version.
        version: String,
        /// The boot entry's directory, then the kernel image and initrds (not needed).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct HookOpts {
    #[command(flatten)]
    pub root: RootArg,
    /// Compression of the image.
    #[arg(long, value_enum, default_value = "zstd")]
    pub compress: Compression,
}

/// Runs a hook; exit code 1 when the checks fail.
pub fn run(cmd: &HookCommand) -> Result<i32> {
    match cmd {
        HookCommand::Postinst { opts, version, .. } => {
            let host = opts.root.host();
            add(&host, version, opts.compress, &host.image(version))
        }
        HookCommand::Postrm { opts, version, .. } => remove(&opts.root.host(), version),
        HookCommand::KernelInstall {
            opts,
            command,
            version,
            ..
        } => {
            let host = opts.root.host();
            match command.as_str() {
                "add" => match kernel_install_target(&host, version)? {
                    Some(output) => add(&host, version, opts.compress, &output),
                    None => {
                        println!(
                            "sesame: kernel {version}: the Debian hook {} builds the image",
                            scripts::DEB_POSTINST
                        );
                        Ok(0)
                    }
                },
                "remove" => remove(&host, version),
                _ => Ok(0),
            }
        }
    }
}

/// Where kernel-install wants the image: the staging area when sesame is the initrd
/// generator, else /boot — or nowhere when this runs inside a Debian kernel package's
/// postinst.d (zz-systemd-boot), whose sesame hook builds it already.
fn kernel_install_target(host: &Host, version: &str) -> Result<Option<PathBuf>> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if var("KERNEL_INSTALL_INITRD_GENERATOR").as_deref() == Some("sesame") {
        if let Some(staging) = var("KERNEL_INSTALL_STAGING_AREA") {
            check_version(version)?;
            return Ok(Some(Path::new(&staging).join("initrd")));
        }
    }
    let debian_hook = std::fs::read_to_string(host.path(scripts::DEB_POSTINST))
        .is_ok_and(|t| scripts::is_ours(&t));
    if debian_hook && var("DEB_MAINT_PARAMS").is_some() {
        return Ok(None);
    }
    Ok(Some(host.image(version)))
}

/// Checks the host for kernel `version`, then builds `output`.
fn add(host: &Host, version: &str, compress: Compression, output: &Path) -> Result<i32> {
    let inputs = Inputs::defaults(host, version, compress)?;
    if !check::before_build(host, &inputs, &mut std::io::stdout()) {
        println!(
            "sesame: no image for kernel {version}: fix the errors above, then run `sesame \
             install --kernel-version {version}`"
        );
        return Ok(1);
    }
    let exe = std::env::current_exe().context("locating this sesame binary")?;
    let opts = inputs.build_options(host, output, &exe);
    let (summary, changed) = build_if_changed(&opts)?;
    if changed {
        print_summary(&summary, &mut std::io::stdout());
    } else {
        println!("sesame: {} is up to date", output.display());
    }
    Ok(0)
}

fn remove(host: &Host, version: &str) -> Result<i32> {
    check_version(version)?;
    let image = host.image(version);
    match std::fs::remove_file(&image) {
        Ok(()) => println!("sesame: removed {}", image.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", image.display())),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct T {
        #[command(subcommand)]
        hook: HookCommand,
    }

    #[test]
    fn the_package_managers_arguments_parse() {
        let t = T::try_parse_from([
            "t",
            "postinst",
            "--root",
            "/r",
            "6.1.0-13-amd64",
            "/boot/vmlinuz-6.1.0-13-amd64",
        ])
        .unwrap();
        let HookCommand::Postinst { opts, version, .. } = t.hook else {
            panic!("{t:?}")
        };
        assert_eq!(version, "6.1.0-13-amd64");
        assert_eq!(opts.root.root, Path::new("/r"));
        let t = T::try_parse_from([
            "t",
            "kernel-install",
            "--root",
            "/",
            "--compress",
            "gzip",
            "add",
            "6.9.1-arch1-1",
            "/boot/efi/abc/6.9.1-arch1-1",
            "/usr/lib/modules/6.9.1-arch1-1/vmlinuz",
            "/boot/initrd-extra",
        ])
        .unwrap();
        let HookCommand::KernelInstall {
            opts,
            command,
            rest,
            ..
        } = t.hook
        else {
            panic!("{t:?}")
        };
        assert_eq!((command.as_str(), rest.len()), ("add", 3));
        assert_eq!(opts.compress, Compression::Gzip);
        let t = T::try_parse_from(["t", "postrm", "6.1.0-13-amd64"]).unwrap();
        assert!(matches!(t.hook, HookCommand::Postrm { .. }));
    }

    #[test]
    fn removing_a_kernel_removes_only_its_image() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        std::fs::create_dir_all(dir.path().join("boot")).unwrap();
        std::fs::write(host.image("6.1.0-1-a"), "x").unwrap();
        std::fs::write(host.image("6.1.0-2-a"), "x").unwrap();
        assert_eq!(remove(&host, "6.1.0-1-a").unwrap(), 0);
        assert!(!host.image("6.1.0-1-a").exists());
        assert!(host.image("6.1.0-2-a").exists());
        assert_eq!(remove(&host, "6.1.0-1-a").unwrap(), 0);
        assert!(remove(&host, "../etc").is_err());
    }
}
