//! Which modules an image carries: a default set that boots common servers and VMs,
//! the root's filesystem when it is not one of the small defaults (named by the config
//! or used by the build host's own `/`), plus what the config names, closed over
//! dependencies (`modules.dep`) and soft dependencies (`modules.softdep`); and the
//! trimmed index files written for them.

use std::collections::BTreeSet;

use anyhow::{bail, Result};

use crate::config::ModulesConfig;
use crate::modules::index::{normalize, ModuleIndex};

/// The default set, by purpose. Names absent from a kernel (a cloud kernel has no
/// e1000e) or built into it are skipped, and the summary says so.
pub const DEFAULT_MODULES: &[(&str, &[&str])] = &[
    (
        "virtio",
        &[
            "virtio_pci",
            "virtio_mmio",
            "virtio_net",
            "virtio_blk",
            "virtio_scsi",
            "virtio_rng",
            "virtio_console",
        ],
    ),
    (
        "server NICs",
        &[
            "e1000",
            "e1000e",
            "igb",
            "igc",
            "ixgbe",
            "i40e",
            "r8169",
            "tg3",
            "bnx2",
            "bnxt_en",
            "ena",
            "gve",
            "vmxnet3",
            "hv_netvsc",
        ],
    ),
    (
        "disks",
        &[
            "nvme",
            "ahci",
            "sd_mod",
            "sr_mod",
            "vmw_pvscsi",
            "hv_storvsc",
            "xen_blkfront",
        ],
    ),
    (
        "keyboards for the console prompt",
        &[
            "xhci_pci",
            "ehci_pci",
            "ohci_pci",
            "usbhid",
            "hid_generic",
            "atkbd",
        ],
    ),
    (
        "dm-crypt and the ciphers LUKS uses",
        &[
            "dm_mod",
            "dm_crypt",
            "aesni_intel",
            "aes_generic",
            "xts",
            "ecb",
            "cbc",
            "essiv",
            "sha256_ssse3",
            "sha256_generic",
            "crc32c_intel",
            // libcryptsetup decrypts a key slot whose cipher libgcrypt cannot (essiv modes,
            // ciphers beyond AES) through the kernel's AF_ALG sockets.
            "af_alg",
            "algif_skcipher",
        ],
    ),
    ("filesystems", &["ext4", "vfat", "overlay"]),
];

/// Filesystems that never hold a root on a disk: the build host using one for `/` (a
/// container's overlay, a live system's tmpfs) says nothing about the machine's root.
const NOT_A_DISK_ROOT: &[&str] = &[
    "rootfs", "tmpfs", "ramfs", "overlay", "aufs", "9p", "virtiofs", "nfs", "nfs4", "cifs", "smb3",
    "fuse", "fuseblk", "devtmpfs", "proc", "sysfs",
];

/// The filesystem types the image needs for the root beyond the defaults: the
/// config's `boot.rootfstype`, else the type the build host mounts on `/` (from
/// `/proc/self/mounts`, last entry wins as the kernel stacks them). Large modules such as
/// xfs (0.7 MB) and btrfs (0.8 MB with its raid6/zstd dependencies) are carried only this
/// way or through `modules.include`, so an ext4 machine's image stays small.
pub fn root_filesystems(config_rootfstype: Option<&str>, host_mounts: &str) -> Vec<String> {
    if let Some(types) = config_rootfstype {
        return types
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
    }
    let root = host_mounts.lines().rev().find_map(|l| {
        let mut f = l.split_whitespace();
        let (_dev, target, fstype) = (f.next()?, f.next()?, f.next()?);
        (target == "/").then_some(fstype)
    });
    match root {
        Some(t) if !NOT_A_DISK_ROOT.contains(&t) => vec![t.to_string()],
        _ => Vec::new(),
    }
}

/// Loaded when a LUKS volume is to be opened: no device announces them, and dm-crypt's
/// own requests for ciphers are only a fallback (through our `modprobe`).
pub const CRYPT_MODULES: &[&str] = &["dm_crypt", "xts", "aesni_intel", "cbc", "essiv"];

/// The outcome of choosing modules for an image.
#[derive(Debug, Default)]
pub struct Selection {
    /// Every loadable module to ship, dependencies included.
    pub modules: BTreeSet<String>,
    /// Default-set names this kernel does not have at all.
    pub absent: Vec<String>,
    /// Requested names that are built into this kernel (nothing to ship).
    pub builtin: Vec<String>,
    /// Root filesystem types added beyond the defaults (see [`root_filesystems`]), and
    /// those this kernel has no module for (built in, or unknown).
    pub root_filesystems: Vec<String>,
}

/// Chooses the image's modules: the default set and the config's.
pub fn select(index: &ModuleIndex, config: &ModulesConfig) -> Result<Selection> {
    select_with_root(index, config, &[])
}

/// Chooses the image's modules: the default set, the modules of the root filesystem
/// types `root_fs` (from [`root_filesystems`]; a type the kernel has built in or does
/// not know is skipped, never an error) and the config's.
pub fn select_with_root(
    index: &ModuleIndex,
    config: &ModulesConfig,
    root_fs: &[String],
) -> Result<Selection> {
    let mut sel = Selection::default();
    let defaults = || DEFAULT_MODULES.iter().flat_map(|(_, names)| names.iter());
    for fstype in root_fs {
        if defaults().any(|d| d == fstype) {
            continue;
        }
        let by_alias = format!("fs-{fstype}");
        let name = if index.resolve(fstype).is_empty() {
            by_alias.as_str()
        } else {
            fstype.as_str()
        };
        add(index, name, &mut sel, false)?;
        sel.root_filesystems.push(fstype.clone());
    }
    let excluded: BTreeSet<String> = config.exclude.iter().map(|m| normalize(m)).collect();
    let defaults = DEFAULT_MODULES
        .iter()
        .flat_map(|(_, names)| names.iter())
        .map(|n| n.to_string())
        .filter(|n| !excluded.contains(n));
    for name in defaults {
        add(index, &name, &mut sel, false)?;
    }
    let mut unknown = Vec::new();
    for name in config.include.iter().chain(&config.load) {
        if let Err(e) = add(index, name, &mut sel, true) {
            unknown.push(e.to_string());
        }
    }
    if !unknown.is_empty() {
        bail!("{}", unknown.join("; "));
    }
    Ok(sel)
}

fn add(index: &ModuleIndex, name: &str, sel: &mut Selection, required: bool) -> Result<()> {
    let resolved = index.resolve(name);
    if resolved.is_empty() {
        if required {
            bail!("module `{name}` (from the config) is not in this kernel's modules.dep or modules.alias");
        }
        sel.absent.push(name.to_string());
        return Ok(());
    }
    for m in resolved {
        if index.is_builtin(&m) {
            sel.builtin.push(m);
            continue;
        }
        sel.modules.extend(index.load_order(&m));
    }
    Ok(())
}

/// The trimmed index files for the image, naming only shipped modules. `path_in_image`
/// maps a module's original path to where the image stores it (e.g. decompressed).
pub fn trimmed_index(
    index: &ModuleIndex,
    modules: &BTreeSet<String>,
    path_in_image: impl Fn(&str) -> String,
) -> TrimmedIndex {
    let mut dep = String::new();
    for name in modules {
        if let Some(entry) = index.modules.get(name) {
            let deps: Vec<String> = entry
                .deps
                .iter()
                .filter_map(|d| index.modules.get(d))
                .map(|d| path_in_image(&d.path))
                .collect();
            dep.push_str(&format!(
                "{}: {}\n",
                path_in_image(&entry.path),
                deps.join(" ")
            ));
        }
    }
    let mut alias = String::new();
    for (pattern, module) in &index.aliases {
        if modules.contains(module) {
            alias.push_str(&format!("alias {pattern} {module}\n"));
        }
    }
    let mut softdep = String::new();
    for (module, s) in &index.softdeps {
        if modules.contains(module) && (!s.pre.is_empty() || !s.post.is_empty()) {
            softdep.push_str(&format!("softdep {module}"));
            if !s.pre.is_empty() {
                softdep.push_str(&format!(" pre: {}", s.pre.join(" ")));
            }
            if !s.post.is_empty() {
                softdep.push_str(&format!(" post: {}", s.post.join(" ")));
            }
            softdep.push('\n');
        }
    }
    let builtin: String = index.builtin.iter().map(|b| format!("{b}\n")).collect();
    TrimmedIndex {
        dep,
        alias,
        softdep,
        builtin,
    }
}

/// The texts of the image's `modules.dep`, `modules.alias`, `modules.softdep`,
/// `modules.builtin` (the latter holds names, which is all sesame reads from it).
#[derive(Debug, Default)]
pub struct TrimmedIndex {
    pub dep: String,
    pub alias: String,
    pub softdep: String,
    pub builtin: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> ModuleIndex {
        ModuleIndex::parse(
            "kernel/drivers/md/dm-crypt.ko.xz: kernel/drivers/md/dm-mod.ko.xz\n\
             kernel/drivers/md/dm-mod.ko.xz:\n\
             kernel/crypto/xts.ko.xz:\nkernel/crypto/ecb.ko.xz:\n\
             kernel/drivers/virtio/virtio_pci.ko.xz:\n\
             kernel/drivers/net/mlx5.ko.xz: kernel/drivers/virtio/virtio_pci.ko.xz\n\
             kernel/other.ko.xz:\n",
            "alias pci:v00001AF4d* virtio_pci\nalias pci:v000015B3d* mlx5\nalias fs-other other\n",
            "softdep xts pre: ecb\n",
            "kernel/fs/ext4/ext4.ko\n",
        )
    }

    #[test]
    fn default_set_with_dependencies() {
        let sel = select(&index(), &ModulesConfig::default()).unwrap();
        let got: Vec<&str> = sel.modules.iter().map(String::as_str).collect();
        assert_eq!(got, vec!["dm_crypt", "dm_mod", "ecb", "virtio_pci", "xts"]);
        assert!(sel.builtin.contains(&"ext4".to_string()));
        assert!(sel.absent.contains(&"e1000e".to_string()));
    }

    #[test]
    fn root_filesystem_from_the_config_or_the_host() {
        let mounts =
            "rootfs / rootfs rw 0 0\n/dev/mapper/root / xfs rw 0 0\nproc /proc proc rw 0 0\n";
        assert_eq!(root_filesystems(None, mounts), vec!["xfs"]);
        assert_eq!(root_filesystems(Some("btrfs"), mounts), vec!["btrfs"]);
        assert_eq!(
            root_filesystems(Some(" ext4, xfs ,"), ""),
            vec!["ext4", "xfs"]
        );
        // A container's overlay or no mounts at all: nothing to add.
        assert!(root_filesystems(None, "overlay / overlay rw 0 0\n").is_empty());
        assert!(root_filesystems(None, "").is_empty());
        assert!(root_filesystems(None, "garbage\n/ \n").is_empty());
    }

    #[test]
    fn root_filesystem_module_by_alias_and_unknown_ones_skipped() {
        let idx = index();
        let sel = select_with_root(
            &idx,
            &ModulesConfig::default(),
            &["other".into(), "nosuchfs".into(), "ext4".into()],
        )
        .unwrap();
        assert!(sel.modules.contains("other"), "{:?}", sel.modules);
        assert_eq!(sel.root_filesystems, vec!["other", "nosuchfs"]);
        assert!(sel.absent.contains(&"fs-nosuchfs".to_string()));
    }

    #[test]
    fn config_includes_excludes_and_rejects_unknown() {
        let cfg = ModulesConfig {
            include: vec!["mlx5".into(), "fs-other".into()],
            load: vec![],
            exclude: vec!["dm-crypt".into(), "xts".into()],
        };
        let sel = select(&index(), &cfg).unwrap();
        assert!(sel.modules.contains("mlx5") && sel.modules.contains("other"));
        assert!(!sel.modules.contains("dm_crypt") && !sel.modules.contains("xts"));
        let cfg = ModulesConfig {
            include: vec!["nope".into()],
            ..Default::default()
        };
        let err = select(&index(), &cfg).unwrap_err().to_string();
        assert!(err.contains("`nope`"), "{err}");
    }

    #[test]
    fn trimmed_index_names_only_shipped_modules() {
        let idx = index();
        let sel = select(&idx, &ModulesConfig::default()).unwrap();
        let t = trimmed_index(&idx, &sel.modules, |p| {
            p.trim_end_matches(".xz").to_string()
        });
        assert!(t
            .dep
            .contains("kernel/drivers/md/dm-crypt.ko: kernel/drivers/md/dm-mod.ko\n"));
        assert!(!t.dep.contains("mlx5"));
        assert_eq!(t.alias, "alias pci:v00001AF4d* virtio_pci\n");
        assert_eq!(t.softdep, "softdep xts pre: ecb\n");
        assert!(t.builtin.contains("ext4"));
        // The trimmed files parse back to the same selection.
        let back = ModuleIndex::parse(&t.dep, &t.alias, &t.softdep, &t.builtin);
        assert_eq!(back.modules.len(), sel.modules.len());
        assert_eq!(back.load_order("xts"), vec!["ecb", "xts"]);
    }
}
