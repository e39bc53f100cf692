//! The module index of one kernel: `modules.dep`, `modules.alias`, `modules.softdep` and
//! `modules.builtin`, parsed by pure functions, and the questions asked of them: which
//! module a name or alias means, and in which order a module and its dependencies load.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use super::glob::glob_match;

/// One loadable module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleEntry {
    /// Path relative to the modules directory, e.g. `kernel/drivers/md/dm-crypt.ko`.
    pub path: String,
    /// Names of every module this one needs (the transitive closure depmod wrote).
    pub deps: Vec<String>,
}

/// Soft dependencies: modules (or aliases) to load before and after one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SoftDep {
    pub pre: Vec<String>,
    pub post: Vec<String>,
}

/// The parsed index of a modules directory.
#[derive(Debug, Clone, Default)]
pub struct ModuleIndex {
    pub modules: BTreeMap<String, ModuleEntry>,
    /// `(pattern, module)` in file order.
    pub aliases: Vec<(String, String)>,
    pub softdeps: BTreeMap<String, SoftDep>,
    pub builtin: BTreeSet<String>,
}

/// `dm-crypt.ko.xz` → `dm_crypt`: the kernel's name for a module file.
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.find(".ko").map(|i| &file[..i]).unwrap_or(file);
    normalize(stem)
}

/// Module names compare with `-` and `_` as the same character.
pub fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// Parses `modules.dep`: `path: dep-path dep-path…` per line.
pub fn parse_dep(text: &str) -> BTreeMap<String, ModuleEntry> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((path, deps)) = line.split_once(':') else {
            continue;
        };
        let path = path.trim();
        if path.is_empty() || !path.contains(".ko") {
            continue;
        }
        out.insert(
            module_name(path),
            ModuleEntry {
                path: path.to_string(),
                deps: deps.split_whitespace().map(module_name).collect(),
            },
        );
    }
    out
}

/// Parses `modules.alias`: `alias <pattern> <module>` per line.
pub fn parse_alias(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next(), words.next()) {
                (Some("alias"), Some(pattern), Some(module), None) => {
                    Some((pattern.to_string(), normalize(module)))
                }
                _ => None,
            }
        })
        .collect()
}

/// Parses `modules.softdep`: `softdep <module> pre: a b post: c`. Names before any
/// `pre:`/`post:` are treated as `pre:` (loading them early is harmless).
pub fn parse_softdep(text: &str) -> BTreeMap<String, SoftDep> {
    let mut out: BTreeMap<String, SoftDep> = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("softdep") {
            continue;
        }
        let Some(module) = words.next() else { continue };
        let entry = out.entry(normalize(module)).or_default();
        let mut post = false;
        for w in words {
            match w {
                "pre:" => post = false,
                "post:" => post = true,
                dep if post => entry.post.push(dep.to_string()),
                dep => entry.pre.push(dep.to_string()),
            }
        }
    }
    out
}

/// Parses `modules.builtin`: one path per line.
pub fn parse_builtin(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(module_name)
        .collect()
}

impl ModuleIndex {
    /// Builds the index from the files' texts (missing files: empty strings).
    pub fn parse(dep: &str, alias: &str, softdep: &str, builtin: &str) -> Self {
        ModuleIndex {
            modules: parse_dep(dep),
            aliases: parse_alias(alias),
            softdeps: parse_softdep(softdep),
            builtin: parse_builtin(builtin),
        }
    }

    /// Reads the index of a modules directory (`/lib/modules/<version>`). Only
    /// `modules.dep` is required.
    pub fn read_dir(dir: &Path) -> std::io::Result<Self> {
        let read = |name: &str| std::fs::read_to_string(dir.join(name));
        let dep = read("modules.dep").map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "{}: {e} (run `depmod` for this kernel)",
                    dir.join("modules.dep").display()
                ),
            )
        })?;
        Ok(Self::parse(
            &dep,
            &read("modules.alias").unwrap_or_default(),
            &read("modules.softdep").unwrap_or_default(),
            &read("modules.builtin").unwrap_or_default(),
        ))
    }

    /// The module file of `name`, relative to the modules directory.
    pub fn path_of(&self, name: &str) -> Option<PathBuf> {
        self.modules
            .get(&normalize(name))
            .map(|e| PathBuf::from(&e.path))
    }

    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(&normalize(name))
    }

    /// What `name` means: the module itself (loadable or built in), else every module
    /// whose alias pattern matches it (as modprobe resolves `pci:v…`, `fs-xfs`,
    /// `crypto-xts(aes)`). Built-in modules are returned too; loading them is a no-op.
    pub fn resolve(&self, name: &str) -> Vec<String> {
        let norm = normalize(name);
        if self.modules.contains_key(&norm) || self.builtin.contains(&norm) {
            return vec![norm];
        }
        let mut seen = HashSet::new();
        self.aliases
            .iter()
            .filter(|(pattern, _)| glob_match(pattern, name))
            .filter(|(_, module)| seen.insert(module.clone()))
            .map(|(_, module)| module.clone())
            .collect()
    }

    /// Every loadable module to insert, in order, so that `name` loads: soft `pre:`
    /// dependencies, hard dependencies before their users, the module, then `post:`.
    /// Built-in and unknown names are left out.
    pub fn load_order(&self, name: &str) -> Vec<String> {
        let mut order = Vec::new();
        let mut visiting = HashSet::new();
        self.visit(&normalize(name), &mut order, &mut visiting, 0);
        order
    }

    fn visit(&self, name: &str, order: &mut Vec<String>, seen: &mut HashSet<String>, depth: u32) {
        // depmod refuses cycles, but a hand-edited index must not hang PID 1.
        if depth > 64 || !seen.insert(name.to_string()) {
            return;
        }
        let Some(entry) = self.modules.get(name) else {
            return;
        };
        let soft = self.softdeps.get(name);
        for pre in soft.map(|s| s.pre.as_slice()).unwrap_or(&[]) {
            for m in self.resolve(pre) {
                self.visit(&m, order, seen, depth + 1);
            }
        }
        for dep in &entry.deps {
            self.visit(dep, order, seen, depth + 1);
        }
        order.push(name.to_string());
        for post in soft.map(|s| s.post.as_slice()).unwrap_or(&[]) {
            for m in self.resolve(post) {
                self.visit(&m, order, seen, depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/drivers/md/dm-crypt.ko: kernel/drivers/md/dm-mod.ko
kernel/drivers/md/dm-mod.ko:
kernel/crypto/xts.ko:
kernel/crypto/ecb.ko:
kernel/fs/btrfs/btrfs.ko.xz: kernel/crypto/xor.ko kernel/lib/raid6/raid6_pq.ko kernel/lib/libcrc32c.ko
kernel/lib/raid6/raid6_pq.ko:
kernel/crypto/xor.ko:
kernel/lib/libcrc32c.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
garbage line without colon
: empty
";
    const ALIAS: &str = "\
# Aliases extracted from modules themselves.
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias fs-btrfs btrfs
alias crypto-xts xts
alias crypto-xts(*) xts
alias devname:mapper/control dm_mod
alias broken
";
    const SOFTDEP: &str = "softdep xts pre: ecb\nsoftdep dm_crypt post: xts\nsoftdep cifs gcm\n";
    const BUILTIN: &str = "kernel/fs/ext4/ext4.ko\nkernel/fs/jbd2/jbd2.ko\n";

    fn index() -> ModuleIndex {
        ModuleIndex::parse(DEP, ALIAS, SOFTDEP, BUILTIN)
    }

    #[test]
    fn names_are_normalized() {
        assert_eq!(module_name("kernel/drivers/md/dm-crypt.ko"), "dm_crypt");
        assert_eq!(module_name("btrfs.ko.xz"), "btrfs");
        assert_eq!(module_name("a/b/virtio-net.ko.zst"), "virtio_net");
        assert_eq!(module_name("weird"), "weird");
    }

    #[test]
    fn files_parse_and_skip_garbage() {
        let idx = index();
        assert_eq!(idx.modules.len(), 10);
        assert_eq!(idx.modules["dm_crypt"].deps, vec!["dm_mod"]);
        assert_eq!(idx.aliases.len(), 5);
        assert_eq!(idx.softdeps["xts"].pre, vec!["ecb"]);
        assert_eq!(idx.softdeps["dm_crypt"].post, vec!["xts"]);
        assert_eq!(idx.softdeps["cifs"].pre, vec!["gcm"]);
        assert!(idx.is_builtin("ext4"));
        assert_eq!(
            idx.path_of("dm-crypt"),
            Some(PathBuf::from("kernel/drivers/md/dm-crypt.ko"))
        );
    }

    #[test]
    fn resolve_names_and_aliases() {
        let idx = index();
        assert_eq!(idx.resolve("dm-crypt"), vec!["dm_crypt"]);
        assert_eq!(idx.resolve("ext4"), vec!["ext4"]);
        assert_eq!(idx.resolve("fs-btrfs"), vec!["btrfs"]);
        assert_eq!(idx.resolve("crypto-xts(aes)"), vec!["xts"]);
        assert_eq!(idx.resolve("crypto-xts"), vec!["xts"]);
        assert_eq!(
            idx.resolve("pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"),
            vec!["virtio_pci"]
        );
        assert!(idx.resolve("pci:v00008086d00001000sv*").is_empty());
        assert!(idx.resolve("nonexistent").is_empty());
    }

    #[test]
    fn load_order_puts_dependencies_first() {
        let idx = index();
        assert_eq!(
            idx.load_order("dm-crypt"),
            vec!["dm_mod", "dm_crypt", "ecb", "xts"]
        );
        let btrfs = idx.load_order("btrfs");
        assert_eq!(btrfs.last().map(String::as_str), Some("btrfs"));
        assert_eq!(btrfs.len(), 4);
        assert!(
            idx.load_order("ext4").is_empty(),
            "built in: nothing to insert"
        );
        assert!(idx.load_order("nope").is_empty());
    }

    #[test]
    fn cycles_do_not_hang() {
        let idx = ModuleIndex::parse("a.ko: b.ko\nb.ko: a.ko\n", "", "softdep a pre: a\n", "");
        let order = idx.load_order("a");
        assert_eq!(order, vec!["b", "a"]);
    }
}
