//! What block devices exist now (`/sys/class/block`) and what each holds: filesystem
//! type, UUID and label from the prober, partition UUID and name from the parent's
//! partition table, the device-mapper name. No udev, no blkid.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use sesame_crypt::device::DeviceSpec;

use super::partition::{probe_disk, read_partitions, DiskContents, PartitionTable};
use super::probe::{probe_sized, Probe};

/// One block device as sesame sees it.
#[derive(Debug, Clone)]
pub struct BlockDevice {
    /// Kernel name: `vda`, `vda2`, `dm-0`, `nvme0n1p1`.
    pub name: String,
    /// The device node, `/dev/<name>`.
    pub node: PathBuf,
    pub size_bytes: u64,
    /// Partition number when this is a partition, with its parent disk.
    pub partition: Option<(u32, String)>,
    /// What the prober found on it.
    pub fs: Option<Probe>,
    pub partuuid: Option<String>,
    pub partlabel: Option<String>,
    /// The device-mapper name (`/dev/mapper/<dm_name>`).
    pub dm_name: Option<String>,
    /// Why the device could not be read, if it could not.
    pub error: Option<String>,
}

impl BlockDevice {
    /// Does `spec` name this device?
    pub fn matches(&self, spec: &DeviceSpec) -> bool {
        // A device carrying two signatures is ambivalent (blkid reports nothing for it):
        // never pick it by what one of them says.
        let fs = self.fs.as_ref().filter(|f| f.conflicts.is_empty());
        match spec {
            DeviceSpec::Uuid(u) => fs
                .and_then(|f| f.uuid.as_deref())
                .is_some_and(|id| id.eq_ignore_ascii_case(u)),
            DeviceSpec::Label(l) => fs.and_then(|f| f.label.as_deref()) == Some(l.as_str()),
            DeviceSpec::PartUuid(u) => self
                .partuuid
                .as_deref()
                .is_some_and(|id| id.eq_ignore_ascii_case(u)),
            DeviceSpec::PartLabel(l) => self.partlabel.as_deref() == Some(l.as_str()),
            DeviceSpec::Path(p) => self.matches_path(p),
        }
    }

    fn matches_path(&self, p: &str) -> bool {
        if Path::new(p) == self.node {
            return true;
        }
        if let (Some(name), Some(dm)) = (p.strip_prefix("/dev/mapper/"), &self.dm_name) {
            return name == dm;
        }
        // Symlinks (e.g. a by-id link the real system made) resolve to our node.
        std::fs::canonicalize(p).is_ok_and(|real| real == self.node)
    }

    /// A one-line description for logs: `vda2 ext4 UUID=… LABEL=root (8.0 GiB)`.
    pub fn describe(&self) -> String {
        let mut s = self.name.clone();
        if let Some(fs) = &self.fs {
            s.push(' ');
            s.push_str(fs.fstype.kernel_name());
            if let Some(u) = &fs.uuid {
                s.push_str(&format!(" UUID={u}"));
            }
            if let Some(l) = &fs.label {
                s.push_str(&format!(" LABEL={l}"));
            }
        }
        if let Some(fs) = self.fs.as_ref().filter(|f| !f.conflicts.is_empty()) {
            let others: Vec<&str> = fs.conflicts.iter().map(|c| c.kernel_name()).collect();
            s.push_str(&format!(
                " (also looks like {}: ambiguous, remove the stale signature with wipefs)",
                others.join(", ")
            ));
        }
        if let Some(dm) = &self.dm_name {
            s.push_str(&format!(" /dev/mapper/{dm}"));
        }
        if let Some(e) = &self.error {
            s.push_str(&format!(" (unreadable: {e})"));
        }
        s.push_str(&format!(" ({})", human_size(self.size_bytes)));
        s
    }
}

/// `8.0 GiB`, `512 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Lists and probes every block device in `sys_class_block` (normally
/// `/sys/class/block`), with nodes under `dev_dir` (normally `/dev`).
pub fn scan(sys_class_block: &Path, dev_dir: &Path) -> Vec<BlockDevice> {
    let Ok(entries) = std::fs::read_dir(sys_class_block) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut tables: HashMap<String, Option<PartitionTable>> = HashMap::new();
    let mut out = Vec::new();
    for name in names {
        let sys = sys_class_block.join(&name);
        let size_bytes = read_u64(&sys.join("size")).unwrap_or(0) * 512;
        if size_bytes == 0 {
            continue; // empty loop devices, drives without media
        }
        let partition = read_u64(&sys.join("partition")).and_then(|n| {
            let parent = std::fs::canonicalize(&sys)
                .ok()?
                .parent()?
                .file_name()?
                .to_string_lossy()
                .into_owned();
            Some((u32::try_from(n).ok()?, parent))
        });
        let dm_name = std::fs::read_to_string(sys.join("dm/name"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let node = dev_dir.join(&name);
        let mut dev = BlockDevice {
            name: name.clone(),
            node: node.clone(),
            size_bytes,
            partition: partition.clone(),
            fs: None,
            partuuid: None,
            partlabel: None,
            dm_name,
            error: None,
        };
        let sector = read_u64(&sys.join("queue/logical_block_size")).unwrap_or(512);
        let opened = File::open(&node);
        let probed = match (&partition, opened) {
            (_, Err(e)) => Err(e),
            // A partition (or an md 1.0 member inside one) is probed knowing its size.
            (Some(_), Ok(f)) => probe_sized(&f, Some(size_bytes)),
            // A whole disk: a partition table wins over stale signatures on the disk.
            (None, Ok(f)) => probe_disk(&f, sector, Some(size_bytes)).map(|c| match c {
                DiskContents::Filesystem(p) => Some(p),
                DiskContents::Partitioned {
                    table, whole_disk, ..
                } => {
                    tables.insert(name.clone(), Some(table));
                    whole_disk
                }
                DiskContents::Empty => None,
            }),
        };
        match probed {
            Ok(fs) => dev.fs = fs,
            Err(e) => dev.error = Some(e.to_string()),
        }
        confirm_luks(&mut dev);
        if let Some((number, parent)) = &partition {
            let table = tables.entry(parent.clone()).or_insert_with(|| {
                let sector = read_u64(
                    &sys_class_block
                        .join(parent)
                        .join("queue/logical_block_size"),
                )
                .unwrap_or(512);
                let disk_bytes =
                    read_u64(&sys_class_block.join(parent).join("size")).map(|s| s * 512);
                File::open(dev_dir.join(parent))
                    .and_then(|f| read_partitions(&f, sector, disk_bytes))
                    .ok()
                    .flatten()
            });
            if let Some(p) = table
                .as_ref()
                .and_then(|t| t.partitions.iter().find(|p| p.number == *number))
            {
                dev.partuuid = Some(p.partuuid.clone());
                dev.partlabel = p.partlabel.clone();
            }
        }
        out.push(dev);
    }
    out
}

/// A LUKS signature is confirmed by libcryptsetup, the reference implementation, whose
/// UUID is the one `rd.luks.uuid=` and crypttab name. A header it rejects is reported.
fn confirm_luks(dev: &mut BlockDevice) {
    let Some(fs) = dev.fs.as_mut().filter(|f| f.fstype.is_luks()) else {
        return;
    };
    match sesame_crypt::luks::read_header(&dev.node) {
        Ok(header) => {
            fs.uuid = Some(header.uuid);
            fs.version = Some(header.version.to_string());
        }
        Err(e) => dev.error = Some(e.to_string()),
    }
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The devices `spec` names. Several can match (a cloned disk, a RAID member); the
/// caller decides what to do with more than one.
pub fn find<'a>(devices: &'a [BlockDevice], spec: &DeviceSpec) -> Vec<&'a BlockDevice> {
    devices.iter().filter(|d| d.matches(spec)).collect()
}
