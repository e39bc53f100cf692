//! Where the host's files are — `/`, or a scratch tree given with `--root` — and the
//! inputs of `build`, `check`, `install` and the kernel hooks resolved under it. Paths
//! given on the command line are used as given; the defaults are looked up under the root.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use sesame_crypt::device::DeviceSpec;

use crate::config;
use crate::image::builder::{self, BuildOptions};
use crate::image::ciphers;
use crate::image::cpio::Compression;

/// Where `sesame install` puts the binary (and where the hooks run it from).
pub const BINARY_PATH: &str = "/usr/sbin/sesame";
/// sesame's own directory: config, authorized_keys, host key.
pub const SESAME_DIR: &str = "/etc/sesame";
/// The images are `/boot/sesame-initrd.img-<version>`, beside initramfs-tools' own.
pub const IMAGE_PREFIX: &str = "sesame-initrd.img-";
/// Where the public keys allowed to unlock are looked for, in order.
pub const AUTHORIZED_KEYS: [&str; 2] =
    ["/etc/sesame/authorized_keys", "/root/.ssh/authorized_keys"];

/// The root of the tree sesame works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub root: PathBuf,
}

impl Host {
    pub fn new(root: impl Into<PathBuf>) -> Host {
        Host { root: root.into() }
    }

    /// The running system (`/`).
    pub fn system() -> Host {
        Host::new("/")
    }

    /// Whether this is the running system rather than a tree in a folder.
    pub fn is_system(&self) -> bool {
        self.root == Path::new("/")
    }

    /// `abs` (an absolute path on the host) under the root.
    pub fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    /// A crypttab device under the root: a path names a node there (`/dev/vdb` is
    /// `<root>/dev/vdb`); `UUID=`… are found by probing, so they stay as they are.
    pub fn rooted_spec(&self, spec: &DeviceSpec) -> DeviceSpec {
        match spec {
            DeviceSpec::Path(p) if !self.is_system() => {
                DeviceSpec::Path(self.path(p).to_string_lossy().into_owned())
            }
            other => other.clone(),
        }
    }

    /// The first of `candidates` (absolute host paths) that exists under the root.
    pub fn first_existing(&self, candidates: &[&str]) -> Option<PathBuf> {
        candidates.iter().map(|c| self.path(c)).find(|p| p.exists())
    }

    /// sesame's image for kernel `version`.
    pub fn image(&self, version: &str) -> PathBuf {
        self.path("/boot").join(format!("{IMAGE_PREFIX}{version}"))
    }

    /// Kernel versions with a `modules.dep` under `/lib/modules`, sorted.
    pub fn installed_kernels(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.path("/lib/modules")) else {
            return Vec::new();
        };
        let mut out: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().join("modules.dep").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        out.sort();
        out
    }

    /// `/lib/modules/<version>` under the root, checked to hold a `modules.dep`.
    pub fn modules_dir_of(&self, version: &str) -> Result<PathBuf> {
        check_version(version)?;
        let dir = self.path("/lib/modules").join(version);
        if dir.join("modules.dep").is_file() {
            return Ok(dir);
        }
        let have = self.installed_kernels();
        bail!(
            "{} has no modules.dep, so there is no kernel {version} to build for{}",
            dir.display(),
            if have.is_empty() {
                String::new()
            } else {
                format!(
                    "; installed kernels: {} (choose one with --kernel-version)",
                    have.join(", ")
                )
            }
        )
    }

    /// The kernel version `--kernel-version` names, else the running kernel's.
    pub fn kernel_version(&self, explicit: Option<&str>) -> Result<String> {
        match explicit {
            Some(v) => {
                check_version(v)?;
                Ok(v.to_string())
            }
            None => running_kernel(),
        }
    }

    /// The config file to use: `explicit`, else `/etc/sesame/config.toml` if it exists.
    pub fn config(&self, explicit: Option<&Path>) -> Option<PathBuf> {
        explicit
            .map(Path::to_path_buf)
            .or_else(|| self.first_existing(&[config::CONFIG_PATH]))
    }

    /// The authorized_keys to embed: `explicit`, else the first of [`AUTHORIZED_KEYS`].
    pub fn authorized_keys(&self, explicit: Option<&Path>) -> Option<PathBuf> {
        explicit
            .map(Path::to_path_buf)
            .or_else(|| self.first_existing(&AUTHORIZED_KEYS))
    }

    /// The crypttab: `explicit`, else `/etc/crypttab` if it exists.
    pub fn crypttab(&self, explicit: Option<&Path>) -> Option<PathBuf> {
        explicit
            .map(Path::to_path_buf)
            .or_else(|| self.first_existing(&["/etc/crypttab"]))
    }
}

/// `uname -r`.
pub fn running_kernel() -> Result<String> {
    Ok(nix::sys::utsname::uname()
        .context("uname")?
        .release()
        .to_string_lossy()
        .into_owned())
}

/// A kernel version is a file name: no `/`, no `..`, nothing a shell or a path would
/// read differently (hooks get it from package managers, and it names files in /boot).
pub fn check_version(v: &str) -> Result<()> {
    let fine = !v.is_empty()
        && v.len() <= 200
        && v != "."
        && v != ".."
        && !v.starts_with('-')
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '~'));
    if !fine {
        bail!("{v:?} is not a kernel version (expected something like 6.1.0-13-amd64)");
    }
    Ok(())
}

/// `--root`: the tree to work on.
#[derive(Args, Debug, Clone)]
pub struct RootArg {
    /// Work on the system installed under DIR instead of this one: every default path
    /// (/etc/sesame, /lib/modules, /boot, /sys, /proc, …) is looked up under it.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
}

impl RootArg {
    pub fn host(&self) -> Host {
        Host::new(&self.root)
    }
}

/// The inputs of one build (or check), resolved.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub config: Option<PathBuf>,
    pub authorized_keys: Option<PathBuf>,
    pub crypttab: Option<PathBuf>,
    /// `--host-key`; else the builder chooses under `/etc/sesame` and `/etc/ssh`.
    pub host_key: Option<PathBuf>,
    pub modules_dir: PathBuf,
    pub firmware_dir: PathBuf,
    pub compress: Compression,
}

impl Inputs {
    /// Every input at its default under the host's root, for kernel `version`.
    pub fn defaults(host: &Host, version: &str, compress: Compression) -> Result<Inputs> {
        Ok(Inputs {
            config: host.config(None),
            authorized_keys: host.authorized_keys(None),
            crypttab: host.crypttab(None),
            host_key: None,
            modules_dir: host.modules_dir_of(version)?,
            firmware_dir: host.path("/lib/firmware"),
            compress,
        })
    }

    /// The kernel version: the modules directory's name.
    pub fn kernel(&self) -> String {
        self.modules_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The crypttab volumes on this host whose cipher needs modules beyond AES.
    pub fn cipher_needs(&self, host: &Host) -> Vec<ciphers::CipherNeed> {
        let Some(tab) = self
            .crypttab
            .as_deref()
            .and_then(|p| std::fs::read_to_string(p).ok())
        else {
            return Vec::new();
        };
        let volumes = self
            .config
            .as_deref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| config::parse(&t, "config").ok())
            .map(|c| c.luks.volumes)
            .unwrap_or_default();
        ciphers::needs(host, &tab, &volumes)
    }

    /// The builder's options for writing `output` with `init_binary` as `/init`.
    pub fn build_options(&self, host: &Host, output: &Path, init_binary: &Path) -> BuildOptions {
        BuildOptions {
            output: output.to_path_buf(),
            config: self.config.clone(),
            modules_dir: self.modules_dir.clone(),
            authorized_keys: self.authorized_keys.clone(),
            crypttab: self.crypttab.clone(),
            host_key: self.host_key.clone(),
            sesame_dir: host.path(SESAME_DIR),
            system_ssh_dir: host.path("/etc/ssh"),
            compress: self.compress,
            init_binary: init_binary.to_path_buf(),
            firmware_dir: self.firmware_dir.clone(),
            mtime: source_date_epoch(),
            host_mounts: host.path("/proc/self/mounts"),
            cipher_needs: self.cipher_needs(host),
            root_volumes: self.root_volumes(host),
        }
    }

    /// The crypttab entries the host's root needs (see `image::root_volumes`).
    pub fn root_volumes(&self, host: &Host) -> Vec<String> {
        let text = self
            .crypttab
            .as_deref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        let (entries, _) = sesame_crypt::crypttab::parse_crypttab(&text);
        crate::image::root_volumes::names(host, &entries)
    }
}

/// `SOURCE_DATE_EPOCH` (reproducible builds), else 0.
pub fn source_date_epoch() -> u32 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Builds `opts.output` through a temporary file beside it and keeps the old file when
/// the bytes are the same (images are reproducible), so a repeated build changes
/// nothing. Returns the summary and whether the file changed.
pub fn build_if_changed(opts: &BuildOptions) -> Result<(builder::BuildSummary, bool)> {
    let out = &opts.output;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "initrd".into());
    let tmp = out.with_file_name(format!(".{name}.sesame-new"));
    let mut staged = opts.clone();
    staged.output = tmp.clone();
    let built = builder::build(&staged);
    let result = built.and_then(|mut summary| {
        let same = std::fs::read(out).ok() == Some(std::fs::read(&tmp)?);
        if same {
            std::fs::remove_file(&tmp)?;
        } else {
            std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
        }
        summary.output = out.clone();
        Ok((summary, !same))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A scratch host for tests: a folder whose only block device, `vdb`, is a file of
/// `mib` MiB in `/dev` with its `/sys/class/block` entry; `fill` puts a filesystem or a
/// LUKS header on it.
#[cfg(test)]
pub fn host_with_vdb(mib: u64, fill: impl FnOnce(&Path)) -> (tempfile::TempDir, Host) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("sys/devices/vdb")).unwrap();
    std::fs::create_dir_all(root.join("sys/class/block")).unwrap();
    std::fs::create_dir_all(root.join("dev")).unwrap();
    std::fs::write(
        root.join("sys/devices/vdb/size"),
        format!("{}\n", mib * 2048),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        root.join("sys/devices/vdb"),
        root.join("sys/class/block/vdb"),
    )
    .unwrap();
    let node = root.join("dev/vdb");
    std::fs::File::create(&node)
        .unwrap()
        .set_len(mib << 20)
        .unwrap();
    fill(&node);
    let host = Host::new(root);
    (dir, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_live_under_the_root() {
        let h = Host::new("/tmp/scratch");
        assert_eq!(
            h.path("/etc/sesame/config.toml"),
            Path::new("/tmp/scratch/etc/sesame/config.toml")
        );
        assert_eq!(
            h.image("6.1.0-13-amd64"),
            Path::new("/tmp/scratch/boot/sesame-initrd.img-6.1.0-13-amd64")
        );
        assert!(Host::system().is_system());
        assert!(!h.is_system());
    }

    #[test]
    fn kernel_versions_are_file_names() {
        for good in [
            "6.1.0-13-amd64",
            "6.8.0-31-generic",
            "6.9.1-arch1-1",
            "5.14.0+",
        ] {
            check_version(good).unwrap();
        }
        for bad in ["", "..", "../../etc", "a/b", "-rf", "6.1 x", "6.1;rm"] {
            assert!(check_version(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn missing_kernel_lists_the_installed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let h = Host::new(dir.path());
        std::fs::create_dir_all(dir.path().join("lib/modules/6.1.0-9-amd64")).unwrap();
        std::fs::write(dir.path().join("lib/modules/6.1.0-9-amd64/modules.dep"), "").unwrap();
        std::fs::create_dir_all(dir.path().join("lib/modules/empty")).unwrap();
        assert_eq!(h.installed_kernels(), vec!["6.1.0-9-amd64"]);
        let e = h.modules_dir_of("6.2.0-1-amd64").unwrap_err().to_string();
        assert!(e.contains("installed kernels: 6.1.0-9-amd64"), "{e}");
        assert!(h.modules_dir_of("6.1.0-9-amd64").is_ok());
    }

    #[test]
    fn defaults_are_found_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let h = Host::new(dir.path());
        assert_eq!(h.authorized_keys(None), None);
        std::fs::create_dir_all(dir.path().join("root/.ssh")).unwrap();
        std::fs::write(dir.path().join("root/.ssh/authorized_keys"), "").unwrap();
        assert_eq!(
            h.authorized_keys(None),
            Some(dir.path().join("root/.ssh/authorized_keys"))
        );
        std::fs::create_dir_all(dir.path().join("etc/sesame")).unwrap();
        std::fs::write(dir.path().join("etc/sesame/authorized_keys"), "").unwrap();
        assert_eq!(
            h.authorized_keys(None),
            Some(dir.path().join("etc/sesame/authorized_keys"))
        );
        let explicit = Path::new("/elsewhere/keys");
        assert_eq!(h.authorized_keys(Some(explicit)), Some(explicit.into()));
        assert_eq!(h.config(None), None);
        assert_eq!(h.crypttab(None), None);
    }
}
