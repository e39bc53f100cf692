//! `sesame build`: assembles the initramfs — this binary as `/init`, the kernel modules
//! the image needs with a trimmed index, their firmware, the config, the SSH host key and
//! authorized_keys — and writes it reproducibly, mode 0600 (it holds a private key),
//! atomically.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sesame_remote::hostkey::{self, KeySource};

use super::ciphers::CipherNeed;
use super::cpio::{compress, Archive, Compression, Kind};
use super::elf;
use super::modset::{self, Selection};
use crate::config::{self, Config};
use crate::modules::index::ModuleIndex;
use crate::modules::load::{compression_of, decompress_bytes};

/// Modules are compressed one by one at this level (deterministic, single-threaded).
const MODULE_ZSTD_LEVEL: i32 = 19;

/// Inputs of a build, resolved by the CLI.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub output: PathBuf,
    /// The config file to embed (validated), if any.
    pub config: Option<PathBuf>,
    /// `/lib/modules/<version>` of the kernel the image boots.
    pub modules_dir: PathBuf,
    /// authorized_keys to embed, if any.
    pub authorized_keys: Option<PathBuf>,
    /// The host's crypttab, if any (its initramfs entries go into the image).
    pub crypttab: Option<PathBuf>,
    /// `--host-key`; else chosen in `sesame_dir`, then `system_ssh_dir`, else generated.
    pub host_key: Option<PathBuf>,
    pub sesame_dir: PathBuf,
    pub system_ssh_dir: PathBuf,
    pub compress: Compression,
    /// The executable to install as `/init` (normally this very binary).
    pub init_binary: PathBuf,
    pub firmware_dir: PathBuf,
    /// mtime of every entry (`SOURCE_DATE_EPOCH`, else 0).
    pub mtime: u32,
    /// The build host's mount table (`/proc/self/mounts`): the filesystem of its `/`
    /// goes into the image when it is not one of the defaults.
    pub host_mounts: PathBuf,
    /// Volumes on the build host whose cipher needs modules beyond the default AES ones
    /// (see `image::ciphers`): their aliases join `modules.include`.
    pub cipher_needs: Vec<CipherNeed>,
    /// The crypttab entries the host's root needs (`image::root_volumes`): they go in
    /// even without the `initramfs` option.
    pub root_volumes: Vec<String>,
}

/// What was built, for the summary.
#[derive(Debug)]
pub struct BuildSummary {
    pub output: PathBuf,
    pub kernel: String,
    pub compressed_bytes: u64,
    pub raw_bytes: u64,
    pub files: usize,
    pub selection: Selection,
    pub firmware: usize,
    pub firmware_missing: Vec<String>,
    pub host_key_fingerprint: String,
    pub host_key_source: KeySource,
    pub authorized_keys: usize,
    pub authorized_keys_source: Option<PathBuf>,
    /// Volumes of the image's crypttab, and keyfiles copied.
    pub crypttab_volumes: Vec<String>,
    pub keyfiles: usize,
    /// The ciphers beyond AES whose modules were added.
    pub cipher_needs: Vec<CipherNeed>,
}

/// Builds the image described by `opts`.
pub fn build(opts: &BuildOptions) -> Result<BuildSummary> {
    let mut archive = Archive::new();
    add_skeleton(&mut archive);
    add_init(&mut archive, &opts.init_binary)?;
    let config = add_config(&mut archive, opts.config.as_deref())?;
    let kernel = kernel_version(&opts.modules_dir)?;
    let index = ModuleIndex::read_dir(&opts.modules_dir)
        .with_context(|| format!("reading the module index of {}", opts.modules_dir.display()))?;
    let host_mounts = std::fs::read_to_string(&opts.host_mounts).unwrap_or_default();
    let root_fs = modset::root_filesystems(config.boot.rootfstype.as_deref(), &host_mounts);
    let mut modules = config.modules.clone();
    for alias in opts.cipher_needs.iter().flat_map(|n| &n.aliases) {
        if !modules.include.contains(alias) {
            modules.include.push(alias.clone());
        }
    }
    let selection =
        modset::select_with_root(&index, &modules, &root_fs).context("choosing modules")?;
    let firmware_wanted = add_modules(&mut archive, opts, &kernel, &index, &selection)?;
    let (firmware, firmware_missing) =
        add_firmware(&mut archive, &opts.firmware_dir, &firmware_wanted);
    let (host_key, host_key_source) = hostkey::choose(
        opts.host_key.as_deref(),
        &opts.sesame_dir,
        &opts.system_ssh_dir,
    )
    .context("choosing the SSH host key")?;
    archive.add_file(
        &format!("etc/sesame/{}", hostkey::HOST_KEY_NAME),
        0o600,
        host_key.private_openssh()?.as_bytes().to_vec(),
    );
    let authorized_keys = add_authorized_keys(&mut archive, opts.authorized_keys.as_deref())?;
    let tab = add_crypttab(
        &mut archive,
        opts.crypttab.as_deref(),
        &config,
        &opts.root_volumes,
    )?;
    archive.add_file(
        "etc/sesame/image.json",
        0o644,
        image_manifest(&kernel, &selection, opts.compress).into_bytes(),
    );

    let mut raw = Vec::with_capacity(archive.payload_bytes() as usize + 64 * 1024);
    archive.write_newc(opts.mtime, &mut raw)?;
    let packed = compress(&raw, opts.compress).context("compressing the image")?;
    write_private_atomically(&opts.output, &packed)?;
    Ok(BuildSummary {
        output: opts.output.clone(),
        kernel,
        compressed_bytes: packed.len() as u64,
        raw_bytes: raw.len() as u64,
        files: archive.len(),
        selection,
        firmware,
        firmware_missing,
        host_key_fingerprint: host_key.fingerprint(),
        host_key_source,
        authorized_keys,
        authorized_keys_source: opts.authorized_keys.clone(),
        crypttab_volumes: tab.volumes,
        keyfiles: tab.keyfiles.len(),
        cipher_needs: opts.cipher_needs.clone(),
    })
}

/// Directories PID 1 mounts on or writes to, and the console node the kernel opens for
/// `/init` before devtmpfs exists.
fn add_skeleton(archive: &mut Archive) {
    for dir in [
        "dev",
        "proc",
        "sys",
        "run",
        "sysroot",
        "etc/sesame",
        "lib/firmware",
        "sbin",
    ] {
        archive.add_dir(dir);
    }
    archive.add("tmp", 0o1777, Kind::Dir);
    archive.add("root", 0o700, Kind::Dir);
    archive.add("dev/console", 0o600, Kind::CharDev { major: 5, minor: 1 });
    archive.add("sbin/modprobe", 0o777, Kind::Symlink("/init".into()));
}

fn add_init(archive: &mut Archive, binary: &Path) -> Result<()> {
    let bytes = std::fs::read(binary).with_context(|| format!("reading {}", binary.display()))?;
    match elf::needs_interpreter(&bytes) {
        Some(false) => {}
        Some(true) => bail!(
            "{} is dynamically linked and cannot run as /init; build the static binary with \
             `cargo xtask build` and run that one",
            binary.display()
        ),
        None => bail!("{} is not an x86-64 ELF executable", binary.display()),
    }
    archive.add_file("init", 0o755, bytes);
    Ok(())
}

fn add_config(archive: &mut Archive, path: Option<&Path>) -> Result<Config> {
    let Some(path) = path else {
        return Ok(Config::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let parsed = config::parse(&text, &path.display().to_string())?;
    archive.add_file(
        config::CONFIG_PATH.trim_start_matches('/'),
        0o644,
        text.into_bytes(),
    );
    Ok(parsed)
}

/// The kernel version is the modules directory's name (`/lib/modules/<version>`).
pub fn kernel_version(modules_dir: &Path) -> Result<String> {
    let name = modules_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.is_empty() || !modules_dir.join("modules.dep").exists() {
        bail!(
            "{} is not a kernel's modules directory with a modules.dep (give /lib/modules/<version>; \
             run `depmod -b <root> <version>` for an unpacked kernel)",
            modules_dir.display()
        );
    }
    Ok(name)
}

/// Adds the selected modules, each stored zstd-compressed (`.ko.zst`), with a trimmed
/// index. The kernel unpacks the whole initramfs before /init runs, and a module that is
/// never loaded (btrfs on an ext4 box) then costs only its compressed size; sesame
/// decompresses the few it loads. Returns the firmware files the modules declare.
fn add_modules(
    archive: &mut Archive,
    opts: &BuildOptions,
    kernel: &str,
    index: &ModuleIndex,
    selection: &Selection,
) -> Result<BTreeSet<String>> {
    let base = format!("lib/modules/{kernel}");
    archive.add_dir(&base);
    let stored = |p: &str| -> String {
        match p.find(".ko") {
            Some(i) => format!("{}.ko.zst", &p[..i]),
            None => p.to_string(),
        }
    };
    let mut firmware = BTreeSet::new();
    for name in &selection.modules {
        let Some(entry) = index.modules.get(name) else {
            continue;
        };
        let src = opts.modules_dir.join(&entry.path);
        let raw =
            std::fs::read(&src).with_context(|| format!("reading module {}", src.display()))?;
        let body = decompress_bytes(&raw, compression_of(&src))
            .with_context(|| format!("decompressing {}", src.display()))?;
        firmware.extend(elf::firmware(&body));
        let packed = zstd::stream::encode_all(&body[..], MODULE_ZSTD_LEVEL)
            .with_context(|| format!("compressing {}", src.display()))?;
        archive.add_file(&format!("{base}/{}", stored(&entry.path)), 0o644, packed);
    }
    let trimmed = modset::trimmed_index(index, &selection.modules, stored);
    for (name, text) in [
        ("modules.dep", trimmed.dep),
        ("modules.alias", trimmed.alias),
        ("modules.softdep", trimmed.softdep),
        ("modules.builtin", trimmed.builtin),
    ] {
        archive.add_file(&format!("{base}/{name}"), 0o644, text.into_bytes());
    }
    Ok(firmware)
}

/// Copies the firmware files modules declare, when the host has them (also as `.xz` or
/// `.zst`, which the kernel may load). Many drivers list firmware for variants that are
/// not present, so a missing file is reported, not fatal.
fn add_firmware(
    archive: &mut Archive,
    dir: &Path,
    wanted: &BTreeSet<String>,
) -> (usize, Vec<String>) {
    let mut added = 0;
    let mut missing = Vec::new();
    for name in wanted {
        if name.contains("..") || name.starts_with('/') {
            missing.push(name.clone());
            continue;
        }
        let found = ["", ".zst", ".xz"].iter().find_map(|ext| {
            let p = dir.join(format!("{name}{ext}"));
            std::fs::read(&p).ok().map(|b| (format!("{name}{ext}"), b))
        });
        match found {
            Some((stored, bytes)) => {
                archive.add_file(&format!("lib/firmware/{stored}"), 0o644, bytes);
                added += 1;
            }
            None => missing.push(name.clone()),
        }
    }
    (added, missing)
}

fn add_authorized_keys(archive: &mut Archive, path: Option<&Path>) -> Result<usize> {
    let Some(path) = path else { return Ok(0) };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (keys, errors) = sesame_remote::authorized_keys::parse(&text);
    if !errors.is_empty() {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        bail!("{}: {}", path.display(), list.join("; "));
    }
    if keys.is_empty() {
        bail!(
            "{} holds no public key; nobody could log in to unlock",
            path.display()
        );
    }
    archive.add_file("etc/sesame/authorized_keys", 0o644, text.into_bytes());
    Ok(keys.len())
}

/// The initramfs entries of the host's crypttab, and every keyfile the image must hold
/// (mode 0400: they are secrets).
fn add_crypttab(
    archive: &mut Archive,
    path: Option<&Path>,
    config: &Config,
    root_volumes: &[String],
) -> Result<super::crypttab::ImageCrypttab> {
    let text = match path {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => String::new(),
    };
    let tab = super::crypttab::select(
        &text,
        &config.luks.volumes,
        root_volumes,
        &config.luks.keyfiles,
    )?;
    if !tab.text.is_empty() {
        archive.add_file("etc/crypttab", 0o644, tab.text.clone().into_bytes());
    }
    for key in &tab.keyfiles {
        let bytes = std::fs::read(key).with_context(|| {
            format!("reading keyfile {key} (named by the crypttab or luks.keyfiles)")
        })?;
        archive.add_file(key.trim_start_matches('/'), 0o400, bytes);
    }
    Ok(tab)
}

fn image_manifest(kernel: &str, selection: &Selection, how: Compression) -> String {
    let v = serde_json::json!({
        "sesame": env!("CARGO_PKG_VERSION"),
        "kernel": kernel,
        "compression": format!("{how:?}").to_lowercase(),
        "modules": selection.modules.iter().collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

/// Writes `bytes` to `path` through a temporary file with mode 0600, then renames it.
fn write_private_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "initrd".into());
    let tmp = dir.join(format!(".{name}.sesame-tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}
