//! The host command line: `sesame build` writes an initramfs, `sesame check` says what
//! would go wrong before it does. (PID 1 and `modprobe` are dispatched in main.)

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::image::builder::{self, BuildOptions};
use crate::image::cpio::Compression;
use crate::{check, config, logger};

#[derive(Parser, Debug)]
#[command(
    name = "sesame",
    version,
    about = "Unlock LUKS disks over SSH at boot: the initramfs /init, and the tool that builds it",
    long_about = None
)]
pub struct Cli {
    /// Print debug details.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write an initramfs image for a kernel.
    Build(BuildArgs),
    /// Check the config and this host for problems the boot would hit.
    Check(CheckArgs),
}

/// Where the kernel's modules are.
#[derive(Args, Debug, Clone)]
pub struct KernelArgs {
    /// The kernel's modules directory (/lib/modules/<version>, with modules.dep).
    #[arg(long, value_name = "DIR", conflicts_with = "kernel_version")]
    pub modules_dir: Option<PathBuf>,
    /// The kernel version whose /lib/modules/<version> to use (default: the running one).
    #[arg(long, value_name = "VER")]
    pub kernel_version: Option<String>,
}

/// Inputs shared by build and check.
#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// The config to embed (default: /etc/sesame/config.toml if it exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Public keys allowed to unlock (default: /etc/sesame/authorized_keys, else
    /// /root/.ssh/authorized_keys).
    #[arg(long, value_name = "FILE")]
    pub authorized_keys: Option<PathBuf>,
    /// The crypttab whose `initramfs`/`x-initrd.attach` entries (and those named by the
    /// config's luks.volumes) go into the image (default: /etc/crypttab if it exists).
    #[arg(long, value_name = "FILE")]
    pub crypttab: Option<PathBuf>,
    /// The SSH host key (default: /etc/sesame/ssh_host_ed25519_key, else the system's
    /// /etc/ssh/ssh_host_ed25519_key, else one generated once into /etc/sesame).
    #[arg(long, value_name = "FILE")]
    pub host_key: Option<PathBuf>,
    #[command(flatten)]
    pub kernel: KernelArgs,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Where to write the image (written with mode 0600: it holds the host key).
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub inputs: InputArgs,
    /// Compression of the image.
    #[arg(long, value_enum, default_value = "zstd")]
    pub compress: Compression,
    /// The static executable to install as /init (default: this sesame binary).
    #[arg(long, value_name = "FILE")]
    pub init_binary: Option<PathBuf>,
    /// Where firmware files are taken from.
    #[arg(long, value_name = "DIR", default_value = "/lib/firmware")]
    pub firmware_dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub inputs: InputArgs,
}

/// Runs the host CLI; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    logger::init_cli(cli.verbose);
    let result = match cli.command {
        Command::Build(args) => run_build(args),
        Command::Check(args) => check::run(&args.inputs),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

/// `/lib/modules/<version>` from the arguments, the running kernel by default.
pub fn modules_dir(k: &KernelArgs) -> Result<PathBuf> {
    if let Some(dir) = &k.modules_dir {
        return Ok(dir.clone());
    }
    let version = match &k.kernel_version {
        Some(v) => v.clone(),
        None => nix::sys::utsname::uname()
            .context("uname")?
            .release()
            .to_string_lossy()
            .into_owned(),
    };
    Ok(PathBuf::from("/lib/modules").join(version))
}

/// The first of `candidates` that exists.
pub fn first_existing(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

pub fn default_config(i: &InputArgs) -> Option<PathBuf> {
    i.config
        .clone()
        .or_else(|| first_existing(&[config::CONFIG_PATH]))
}

pub fn default_authorized_keys(i: &InputArgs) -> Option<PathBuf> {
    i.authorized_keys
        .clone()
        .or_else(|| first_existing(&["/etc/sesame/authorized_keys", "/root/.ssh/authorized_keys"]))
}

fn run_build(args: BuildArgs) -> Result<i32> {
    let init_binary = match args.init_binary {
        Some(p) => p,
        None => std::env::current_exe().context("locating this sesame binary")?,
    };
    let authorized_keys = default_authorized_keys(&args.inputs);
    if authorized_keys.is_none() {
        log::warn!(
            "no authorized_keys given or found (/etc/sesame/authorized_keys, /root/.ssh/authorized_keys): \
             nobody will be able to unlock over SSH; the console still works"
        );
    }
    let opts = BuildOptions {
        output: args.output,
        config: default_config(&args.inputs),
        modules_dir: modules_dir(&args.inputs.kernel)?,
        authorized_keys,
        crypttab: args
            .inputs
            .crypttab
            .clone()
            .or_else(|| first_existing(&["/etc/crypttab"])),
        host_key: args.inputs.host_key.clone(),
        sesame_dir: PathBuf::from("/etc/sesame"),
        system_ssh_dir: PathBuf::from("/etc/ssh"),
        compress: args.compress,
        init_binary,
        firmware_dir: args.firmware_dir,
        mtime: source_date_epoch(),
    };
    let s = builder::build(&opts)?;
    print_summary(&s);
    Ok(0)
}

/// `SOURCE_DATE_EPOCH` (reproducible builds), else 0.
pub fn source_date_epoch() -> u32 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn print_summary(s: &builder::BuildSummary) {
    use crate::blockdev::scan::human_size;
    println!(
        "sesame: wrote {} ({} compressed, {} unpacked, {} files)",
        s.output.display(),
        human_size(s.compressed_bytes),
        human_size(s.raw_bytes),
        s.files
    );
    let mut modules = format!(
        "  kernel {}: {} modules",
        s.kernel,
        s.selection.modules.len()
    );
    if !s.selection.builtin.is_empty() {
        modules.push_str(&format!(" (built in: {})", s.selection.builtin.join(", ")));
    }
    println!("{modules}");
    if !s.selection.absent.is_empty() {
        println!("  not in this kernel: {}", s.selection.absent.join(", "));
    }
    println!(
        "  firmware: {} files{}",
        s.firmware,
        if s.firmware_missing.is_empty() {
            String::new()
        } else {
            format!(
                " ({} declared by modules but not on this host)",
                s.firmware_missing.len()
            )
        }
    );
    println!(
        "  ssh host key: {} from {}",
        s.host_key_fingerprint, s.host_key_source
    );
    if !s.crypttab_volumes.is_empty() {
        println!(
            "  crypttab: {} ({} keyfiles in the image)",
            s.crypttab_volumes.join(", "),
            s.keyfiles
        );
    }
    match &s.authorized_keys_source {
        Some(p) => println!(
            "  authorized keys: {} from {}",
            s.authorized_keys,
            p.display()
        ),
        None => println!("  authorized keys: none (SSH unlock impossible)"),
    }
}
