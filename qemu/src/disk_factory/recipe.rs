//! The disk factory's recipe (see `disk_factory.rs`): the disks, the script and the
//! payload, the checks that refuse a malformed one, and the text its cache key hashes.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};

use super::FACTORY_VERSION;
use crate::debian_root::stable_hash;

/// The most disks a recipe may have (`/dev/vdb` … leaves room for the payload disk).
pub const MAX_FACTORY_DISKS: usize = 20;

/// One disk a recipe makes: a file `name` of `size_mib` MiB, blank (sparse zeros), or
/// with the partition table the `sfdisk` script describes, written on the host before
/// the VM starts (the Debian root has no partitioning tool).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FactoryDisk {
    pub name: String,
    pub size_mib: u64,
    pub sfdisk: Option<String>,
}

/// What to make. The disks appear in the factory VM as `/dev/vdb`, `/dev/vdc`, … in
/// order (`$FACTORY_DISKS` lists them); the factory's own root is `/dev/vda`. `script`
/// runs there as root under `bash -euxo pipefail` (traced on the console), with
/// `cryptsetup`, `pvcreate`/`vgcreate`/`lvcreate`, `mdadm`, `mkfs.ext4`, `mkswap`,
/// `wipefs`, `blkid`, `tar` and the kernel's modules at hand. No udev runs (libdevmapper
/// makes the device nodes, lvm2 does not wait for udev), stdin is `/dev/null` (pipe
/// passphrases in) and TCG is slow (give cheap PBKDF settings). The optional `payload`
/// directory is mounted read-only at `/payload`. Afterwards the factory unmounts what the
/// script left mounted, waits for md resyncs, deactivates LVM, closes every
/// device-mapper device and stops md arrays; any of that failing fails the recipe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskRecipe {
    /// A short name (letters, digits, `.`, `_`, `-`): the cache directory starts with it.
    pub name: String,
    pub disks: Vec<FactoryDisk>,
    pub script: String,
    pub payload: Option<PathBuf>,
}

impl DiskRecipe {
    /// A recipe with no disks yet.
    pub fn new(name: &str, script: &str) -> DiskRecipe {
        DiskRecipe {
            name: name.to_string(),
            disks: Vec::new(),
            script: script.to_string(),
            payload: None,
        }
    }

    /// Adds a blank disk.
    pub fn disk(mut self, name: &str, size_mib: u64) -> DiskRecipe {
        self.disks.push(FactoryDisk {
            name: name.to_string(),
            size_mib,
            sfdisk: None,
        });
        self
    }

    /// Adds a disk partitioned on the host with `sfdisk` (its script format, e.g.
    /// `"label: gpt\nsize=64MiB, type=R\ntype=R\n"`): `/dev/vdb1`, … in the VM.
    pub fn partitioned_disk(mut self, name: &str, size_mib: u64, sfdisk: &str) -> DiskRecipe {
        self.disks.push(FactoryDisk {
            name: name.to_string(),
            size_mib,
            sfdisk: Some(sfdisk.to_string()),
        });
        self
    }

    /// Mounts a copy of the directory `dir` (an ext4 disk attached last) at `/payload`.
    pub fn payload(mut self, dir: &Path) -> DiskRecipe {
        self.payload = Some(dir.to_path_buf());
        self
    }

    /// Refuses what cannot be made: no disks, too many, a size of zero, names that are
    /// not plain file names or repeat, an empty script, a payload that is not a directory.
    pub fn validate(&self) -> Result<()> {
        check_name("the recipe's name", &self.name)?;
        ensure!(
            !self.disks.is_empty(),
            "recipe `{}` has no disks: add at least one (DiskRecipe::disk)",
            self.name
        );
        ensure!(
            self.disks.len() <= MAX_FACTORY_DISKS,
            "recipe `{}` has {} disks; the factory attaches at most {MAX_FACTORY_DISKS}",
            self.name,
            self.disks.len()
        );
        for (i, d) in self.disks.iter().enumerate() {
            check_name(
                &format!("disk {} of recipe `{}`", i + 1, self.name),
                &d.name,
            )?;
            ensure!(
                d.size_mib > 0 && d.size_mib <= 1 << 20,
                "disk `{}` of recipe `{}` is {} MiB: give 1 MiB to 1 TiB",
                d.name,
                self.name,
                d.size_mib
            );
            if self.disks[..i].iter().any(|o| o.name == d.name) {
                bail!("recipe `{}` names two disks `{}`", self.name, d.name);
            }
        }
        ensure!(
            !self.script.trim().is_empty(),
            "recipe `{}` has an empty script: nothing would be made",
            self.name
        );
        if let Some(p) = &self.payload {
            ensure!(
                p.is_dir(),
                "the payload of recipe `{}`, {}, is not a directory",
                self.name,
                p.display()
            );
        }
        Ok(())
    }

    /// The text the cache key is a hash of: the factory's version and `factory` (what
    /// runs around the recipe), the Debian root and kernel the VM runs (`root_id`,
    /// `kernel`), and every part of the recipe (`payload_digest`: the payload's content,
    /// see [`tree_digest`]).
    pub(super) fn key_text(
        &self,
        factory: &str,
        root_id: &str,
        kernel: &str,
        payload_digest: &str,
    ) -> String {
        let mut t = format!(
            "factory v{FACTORY_VERSION} {factory}\nroot {root_id}\nkernel {kernel}\nname {}\n",
            self.name
        );
        for d in &self.disks {
            t.push_str(&format!(
                "disk {:?} {} MiB sfdisk {:?}\n",
                d.name, d.size_mib, d.sfdisk
            ));
        }
        t.push_str(&format!(
            "payload {payload_digest}\nscript\n{}",
            self.script
        ));
        t
    }
}

/// A plain file name: letters, digits, `.`, `_`, `-`, not starting with `.`.
fn check_name(what: &str, name: &str) -> Result<()> {
    ensure!(!name.is_empty(), "{what} is empty");
    ensure!(
        !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
        "{what}, {name:?}, is not a plain file name (letters, digits, `.`, `_`, `-`; no `/`, \
         not starting with `.`)"
    );
    Ok(())
}

/// A digest of the tree `dir` (paths, types, modes, owners, contents, link targets) and
/// its total file size in bytes.
pub(crate) fn tree_digest(dir: &Path) -> Result<(String, u64)> {
    let mut lines = String::new();
    let mut total = 0;
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let path = dir.join(&rel);
        let mut entries: Vec<_> = fs::read_dir(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("reading {}", path.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let rel = rel.join(e.file_name());
            let p = e.path();
            let m = p
                .symlink_metadata()
                .with_context(|| format!("reading {}", p.display()))?;
            let what = if m.is_dir() {
                stack.push(rel.clone());
                "dir".to_string()
            } else if m.file_type().is_symlink() {
                let target =
                    fs::read_link(&p).with_context(|| format!("reading {}", p.display()))?;
                format!("link {}", target.display())
            } else if m.is_file() {
                total += m.len();
                let data = fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
                format!("file {} {}", m.len(), fnv_bytes(&data))
            } else {
                format!("special {:o} {}", m.mode(), m.rdev())
            };
            let mode = m.permissions().mode() & 0o7777;
            let line = format!("{:?} {mode:o} {}:{} {what}\n", rel, m.uid(), m.gid());
            lines.push_str(&line);
        }
    }
    Ok((stable_hash(&lines), total))
}

/// FNV-1a 64 of `data` (the same function as the cache keys).
fn fnv_bytes(data: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lvm() -> DiskRecipe {
        DiskRecipe::new("lvm", "pvcreate /dev/vdb\n").disk("a.img", 64)
    }

    #[test]
    fn the_key_follows_every_part_of_the_recipe() {
        let key = |r: &DiskRecipe| stable_hash(&r.key_text("f", "bookworm-1", "6.1.0-1", "none"));
        let base = key(&lvm());
        assert_eq!(base, key(&lvm()), "the key is stable");
        let mut changed = vec![
            key(&DiskRecipe::new("lvm", "pvcreate /dev/vdb \n").disk("a.img", 64)),
            key(&DiskRecipe::new("lvm", "pvcreate /dev/vdb\n").disk("a.img", 65)),
            key(&DiskRecipe::new("lvm", "pvcreate /dev/vdb\n").disk("b.img", 64)),
            key(&DiskRecipe::new("lvm2", "pvcreate /dev/vdb\n").disk("a.img", 64)),
            key(&lvm().disk("c.img", 8)),
            key(
                &DiskRecipe::new("lvm", "pvcreate /dev/vdb\n").partitioned_disk(
                    "a.img",
                    64,
                    "label: gpt\n",
                ),
            ),
            stable_hash(&lvm().key_text("f", "bookworm-2", "6.1.0-1", "none")),
            stable_hash(&lvm().key_text("f", "bookworm-1", "6.1.0-2", "none")),
            stable_hash(&lvm().key_text("f", "bookworm-1", "6.1.0-1", "0123")),
            stable_hash(&lvm().key_text("g", "bookworm-1", "6.1.0-1", "none")),
        ];
        changed.push(base.clone());
        let n = changed.len();
        changed.sort();
        changed.dedup();
        assert_eq!(changed.len(), n, "every change gives another key");
    }

    #[test]
    fn malformed_recipes_are_refused() {
        lvm().validate().unwrap();
        let err = |r: DiskRecipe| format!("{:#}", r.validate().unwrap_err());
        assert!(err(DiskRecipe::new("lvm", "true")).contains("has no disks"));
        assert!(err(DiskRecipe::new("lvm", "true").disk("a.img", 0)).contains("0 MiB"));
        for bad in ["a/b.img", "../a", ".hidden", ""] {
            let e = err(DiskRecipe::new("lvm", "true").disk(bad, 8));
            assert!(
                e.contains("is not a plain file name") || e.contains("is empty"),
                "{e}"
            );
        }
        assert!(err(DiskRecipe::new("a/b", "true").disk("a", 8)).contains("plain file name"));
        assert!(err(lvm().disk("a.img", 8)).contains("two disks `a.img`"));
        assert!(err(DiskRecipe::new("lvm", " \n").disk("a", 8)).contains("empty script"));
        let many = (0..=MAX_FACTORY_DISKS).fold(DiskRecipe::new("m", "true"), |r, i| {
            r.disk(&format!("d{i}"), 1)
        });
        assert!(err(many).contains("at most"));
        let missing = lvm().payload(Path::new("/nonexistent/payload"));
        assert!(err(missing).contains("is not a directory"));
    }

    #[test]
    fn the_payload_digest_follows_contents_and_modes() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("etc")).unwrap();
        fs::write(d.path().join("etc/hostname"), "a\n").unwrap();
        let (first, bytes) = tree_digest(d.path()).unwrap();
        assert_eq!(bytes, 2);
        assert_eq!(first, tree_digest(d.path()).unwrap().0);
        fs::write(d.path().join("etc/hostname"), "b\n").unwrap();
        let second = tree_digest(d.path()).unwrap().0;
        assert_ne!(first, second);
        fs::set_permissions(
            d.path().join("etc/hostname"),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        assert_ne!(second, tree_digest(d.path()).unwrap().0);
        assert_eq!(fnv_bytes(b"a"), stable_hash("a"));
    }
}
