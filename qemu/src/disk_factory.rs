//! The disk factory: disks whose layouts this host cannot make (no device-mapper, no md
//! here), such as LVM on LUKS or md RAID1 under LUKS and LVM, made by a recipe (a bash
//! script) run inside a VM on the test kernel and the real Debian root, where cryptsetup,
//! lvm2, mdadm and mkfs have the kernel they need. It owns the cache of finished disks
//! under `cache_dir()/disks/<name>-<key>` (a lock, then an atomic rename, like the Debian
//! root) and [`make_disks`], which hands each caller its own copies; the recipe
//! ([`DiskRecipe`]: its checks and cache key) is in `disk_factory/recipe.rs`, the VM that
//! runs it in `disk_factory/vm.rs`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::cache::{cache_dir, CacheLock};
use crate::debian_root::{debian_root_tree, stable_hash};
use crate::kernel::Kernel;
use crate::tools::{command, run};

mod recipe;
mod vm;

pub(crate) use recipe::tree_digest;
pub use recipe::{DiskRecipe, FactoryDisk, MAX_FACTORY_DISKS};

/// Bump when the factory changes in a way neither the recipe nor the factory's own
/// scripts show (the cache layout, how disks are attached): every cached disk is then
/// made again.
pub const FACTORY_VERSION: u32 = 1;

/// What [`make_disks`] gave the caller.
#[derive(Clone, Debug)]
pub struct FactoryDisks {
    /// The caller's copies, in the recipe's order.
    pub disks: Vec<PathBuf>,
    /// True when this call booted the factory VM; false when the cache had the disks.
    pub built: bool,
    /// The cache directory: the originals (read-only), `.recipe` (the text its key
    /// hashes) and `.console.log` (the factory's console when it made them).
    pub cache: PathBuf,
}

/// Makes the disks of `recipe` (or finds them in the cache) and copies them into
/// `dest_dir` (made if missing) under their names, with `cp --reflink=auto`: the caller
/// may write its copies. A cold run boots the factory VM on `kernel` (20-60 s under
/// TCG) and needs what [`RootFs::debian`](crate::RootFs::debian) and `sesame build`
/// need; on failure the error holds the end of the factory's console.
pub fn make_disks(kernel: &Kernel, recipe: &DiskRecipe, dest_dir: &Path) -> Result<FactoryDisks> {
    recipe.validate()?;
    let (cache, built) = cached(kernel, recipe)?;
    fs::create_dir_all(dest_dir).with_context(|| format!("making {}", dest_dir.display()))?;
    let mut disks = Vec::new();
    for d in &recipe.disks {
        let (from, to) = (cache.join(&d.name), dest_dir.join(&d.name));
        if to.symlink_metadata().is_ok() {
            fs::remove_file(&to).with_context(|| format!("replacing {}", to.display()))?;
        }
        run(command("cp")?
            .args(["--reflink=auto", "--sparse=always"])
            .arg(&from)
            .arg(&to))
        .with_context(|| format!("copying the factory's disk {}", from.display()))?;
        fs::set_permissions(&to, fs::Permissions::from_mode(0o644))
            .with_context(|| format!("making {} writable", to.display()))?;
        disks.push(to);
    }
    Ok(FactoryDisks {
        disks,
        built,
        cache,
    })
}

/// The cache directory holding `recipe`'s disks, made first if missing (true).
fn cached(kernel: &Kernel, recipe: &DiskRecipe) -> Result<(PathBuf, bool)> {
    let root = debian_root_tree()?;
    let root_id = root
        .file_name()
        .context("the Debian root's cache directory has no name")?
        .to_string_lossy()
        .into_owned();
    let payload_digest = match &recipe.payload {
        Some(p) => {
            tree_digest(p)
                .with_context(|| format!("reading the payload {}", p.display()))?
                .0
        }
        None => "none".to_string(),
    };
    let key_text = recipe.key_text(
        &vm::fingerprint(),
        &root_id,
        &kernel.version,
        &payload_digest,
    );
    let key = stable_hash(&key_text);
    let base = cache_dir().join("disks");
    let dest = base.join(format!("{}-{key}", recipe.name));
    let _lock = CacheLock::acquire(&base.join(format!(".{}-{key}.lock", recipe.name)))?;
    if dest.join(KEY_FILE).is_file() {
        return Ok((dest, false));
    }
    let started = Instant::now();
    eprintln!(
        "sesame-qemu: the disk factory makes `{}` (once, cached in {}; about a minute)",
        recipe.name,
        dest.display()
    );
    let tmp = tempfile::Builder::new()
        .prefix(".build-")
        .tempdir_in(&base)
        .with_context(|| format!("making a temporary directory in {}", base.display()))?;
    let out = tmp.path().join("out");
    fs::create_dir_all(&out).with_context(|| format!("making {}", out.display()))?;
    let failed_log = base.join(format!("{}-{key}.failed-console.log", recipe.name));
    vm::build(kernel, recipe, tmp.path(), &out, &failed_log)
        .with_context(|| format!("the disk factory could not make `{}`", recipe.name))?;
    for d in &recipe.disks {
        let p = out.join(&d.name);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o444))
            .with_context(|| format!("making {} read-only", p.display()))?;
    }
    fs::write(out.join(KEY_FILE), &key_text).context("writing the recipe into the cache")?;
    let _ = fs::remove_file(&failed_log);
    if dest.exists() {
        // Unfinished (no key file): left by hand, or by an older layout.
        fs::remove_dir_all(&dest).with_context(|| format!("removing {}", dest.display()))?;
    }
    fs::rename(&out, &dest)
        .with_context(|| format!("moving the factory's disks into {}", dest.display()))?;
    log::info!(
        "disk factory: `{}` made in {:.1?}",
        recipe.name,
        started.elapsed()
    );
    Ok((dest, true))
}

/// The file in a finished cache directory that holds its key text (written last).
const KEY_FILE: &str = ".recipe";
/// The factory's console log, kept beside the disks it made.
const CONSOLE_LOG: &str = ".console.log";

/// Kernel → factory result, under TCG on a busy 2-core machine.
pub(crate) const FACTORY_TIMEOUT: Duration = Duration::from_secs(600);
