//! The host command line: `build` writes an initramfs, `check` says what would go wrong
//! before it does, `install`/`uninstall` set sesame up on a machine (binary, config,
//! kernel hooks, image), `hook` is what the kernel hooks run, `ls`/`cat`/`diff` look into
//! images, `help` shows the manual and `completions` the shell completions. (PID 1 and
//! `modprobe` are dispatched in main.)

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::check::CheckArgs;
use crate::host::{Host, Inputs, RootArg};
use crate::image::builder::{self, BuildOptions};
use crate::image::cpio::Compression;
use crate::install::hook::HookCommand;
use crate::install::{InstallArgs, UninstallArgs};
use crate::{check, help, inspect, install, logger};

#[derive(Parser, Debug)]
#[command(
    name = "sesame",
    version,
    about = "Unlock LUKS disks over SSH at boot: the initramfs /init, and the tool that builds it",
    long_about = None,
    disable_help_subcommand = true,
    after_help = "`sesame help` lists the manual's topics; `sesame help <topic>` shows one."
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
    /// Set sesame up on this machine: binary, config, kernel hooks, the image.
    Install(InstallArgs),
    /// Remove what `sesame install` added (keeps /etc/sesame unless --purge).
    Uninstall(UninstallArgs),
    /// What the kernel hooks run when a kernel is installed or removed.
    #[command(subcommand)]
    Hook(HookCommand),
    /// List the files of an image, with modes and sizes.
    Ls {
        /// The image (zstd, gzip or uncompressed newc cpio).
        image: PathBuf,
    },
    /// Print one file of an image.
    Cat {
        /// The image.
        image: PathBuf,
        /// The file's path in the image (e.g. etc/sesame/config.toml).
        path: String,
    },
    /// Compare two images: files added, removed or changed, sizes, modules, the config.
    Diff {
        /// The old image.
        a: PathBuf,
        /// The new image.
        b: PathBuf,
    },
    /// Show the manual, or one topic of it.
    Help {
        /// A topic (`sesame help` lists them) or a command name.
        topic: Option<String>,
    },
    /// Print shell completions for bash, zsh, fish, elvish or powershell.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
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
    /// Compression of the image (the kernel must be able to unpack it).
    #[arg(long, value_enum, default_value = "zstd")]
    pub compress: Compression,
    /// Where firmware files are taken from (default: /lib/firmware under --root).
    #[arg(long, value_name = "DIR")]
    pub firmware_dir: Option<PathBuf>,
}

impl InputArgs {
    /// The inputs, defaults looked up under `host`'s root.
    pub fn resolve(&self, host: &Host) -> Result<Inputs> {
        let modules_dir = match &self.kernel.modules_dir {
            Some(dir) => dir.clone(),
            None => {
                let version = host.kernel_version(self.kernel.kernel_version.as_deref())?;
                host.path("/lib/modules").join(version)
            }
        };
        Ok(Inputs {
            config: host.config(self.config.as_deref()),
            authorized_keys: host.authorized_keys(self.authorized_keys.as_deref()),
            crypttab: host.crypttab(self.crypttab.as_deref()),
            host_key: self.host_key.clone(),
            modules_dir,
            firmware_dir: self
                .firmware_dir
                .clone()
                .unwrap_or_else(|| host.path("/lib/firmware")),
            compress: self.compress,
        })
    }
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Where to write the image (written with mode 0600: it holds the host key).
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub root: RootArg,
    #[command(flatten)]
    pub inputs: InputArgs,
    /// The static executable to install as /init (default: this sesame binary).
    #[arg(long, value_name = "FILE")]
    pub init_binary: Option<PathBuf>,
    /// Build without running `sesame check` first (for an image meant for another
    /// machine, whose NICs and disks this host cannot judge).
    #[arg(long)]
    pub no_check: bool,
}

/// Runs the host CLI; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    logger::init_cli(cli.verbose);
    let result = match cli.command {
        Command::Build(args) => run_build(args),
        Command::Check(args) => check::run(&args),
        Command::Install(args) => install::run_install(&args),
        Command::Uninstall(args) => install::run_uninstall(&args),
        Command::Hook(cmd) => install::hook::run(&cmd),
        Command::Ls { image } => inspect::open(&image).map(|a| {
            print!("{}", inspect::ls(&a));
            0
        }),
        Command::Cat { image, path } => run_cat(&image, &path),
        Command::Diff { a, b } => run_diff(&a, &b),
        Command::Help { topic } => Ok(help::run(topic.as_deref())),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "sesame", &mut std::io::stdout());
            Ok(0)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

fn run_build(args: BuildArgs) -> Result<i32> {
    let host = args.root.host();
    let init_binary = match args.init_binary {
        Some(p) => p,
        None => std::env::current_exe().context("locating this sesame binary")?,
    };
    let inputs = args.inputs.resolve(&host)?;
    if args.no_check {
        if inputs.authorized_keys.is_none() {
            log::warn!(
                "no authorized_keys given or found (/etc/sesame/authorized_keys, \
                 /root/.ssh/authorized_keys): nobody will be able to unlock over SSH; the \
                 console still works"
            );
        }
    } else if !check::before_build(&host, &inputs, &mut std::io::stdout()) {
        println!(
            "sesame: no image written: fix the errors above, or build with --no-check if the \
             image is meant for another machine"
        );
        return Ok(1);
    }
    let opts: BuildOptions = inputs.build_options(&host, &args.output, &init_binary);
    let s = builder::build(&opts)?;
    print_summary(&s, &mut std::io::stdout());
    Ok(0)
}

fn run_cat(image: &Path, path: &str) -> Result<i32> {
    let archive = inspect::open(image)?;
    let bytes = inspect::cat(&archive, path)?;
    std::io::stdout()
        .write_all(&bytes)
        .context("writing to stdout")?;
    Ok(0)
}

/// Like diff(1): 0 when the images hold the same files, 1 when they differ.
fn run_diff(a: &Path, b: &Path) -> Result<i32> {
    let (x, y) = (inspect::open(a)?, inspect::open(b)?);
    print!("{}", inspect::diff(&x, &y));
    let same = x.len() == y.len() && x.entries().zip(y.entries()).all(|(p, q)| p == q);
    Ok(if same { 0 } else { 1 })
}

/// The lines `sesame build` prints about an image.
pub fn print_summary(s: &builder::BuildSummary, out: &mut dyn Write) {
    use sesame_storage::scan::human_size;
    let _ = writeln!(
        out,
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
    let _ = writeln!(out, "{modules}");
    if !s.selection.root_filesystems.is_empty() {
        let _ = writeln!(
            out,
            "  root filesystem beyond the defaults: {} (boot.rootfstype, else this host's /)",
            s.selection.root_filesystems.join(", ")
        );
    }
    if !s.selection.absent.is_empty() {
        let _ = writeln!(
            out,
            "  not in this kernel: {}",
            s.selection.absent.join(", ")
        );
    }
    let _ = writeln!(
        out,
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
    let _ = writeln!(
        out,
        "  ssh host key: {} from {}",
        s.host_key_fingerprint, s.host_key_source
    );
    for need in &s.cipher_needs {
        let _ = writeln!(
            out,
            "  cipher beyond AES: {} uses {} (added {})",
            need.volume,
            need.cipher,
            need.aliases.join(", ")
        );
    }
    if !s.crypttab_volumes.is_empty() {
        let _ = writeln!(
            out,
            "  crypttab: {} ({} keyfiles in the image)",
            s.crypttab_volumes.join(", "),
            s.keyfiles
        );
    }
    let _ = match &s.authorized_keys_source {
        Some(p) => writeln!(
            out,
            "  authorized keys: {} from {}",
            s.authorized_keys,
            p.display()
        ),
        None => writeln!(out, "  authorized keys: none (SSH unlock impossible)"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn completions_know_the_commands_and_their_options() {
        for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "sesame", &mut out);
            let text = String::from_utf8(out).unwrap();
            for word in ["uninstall", "--dry-run", "--bootloader", "kernel-install"] {
                assert!(text.contains(word), "{shell}: {word}");
            }
        }
    }

    #[test]
    fn inputs_default_under_the_root_and_explicit_paths_stay() {
        let host = Host::new("/scratch");
        let args = InputArgs {
            config: None,
            authorized_keys: Some("/keys".into()),
            crypttab: None,
            host_key: None,
            kernel: KernelArgs {
                modules_dir: None,
                kernel_version: Some("6.1.0-1-test".into()),
            },
            compress: Compression::Gzip,
            firmware_dir: None,
        };
        let i = args.resolve(&host).unwrap();
        assert_eq!(
            i.modules_dir,
            Path::new("/scratch/lib/modules/6.1.0-1-test")
        );
        assert_eq!(i.firmware_dir, Path::new("/scratch/lib/firmware"));
        assert_eq!(i.authorized_keys.as_deref(), Some(Path::new("/keys")));
        assert_eq!(i.kernel(), "6.1.0-1-test");
    }
}
