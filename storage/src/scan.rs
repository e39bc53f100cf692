//! What block devices exist now (`/sys/class/block`) and what each holds: filesystem
//! type, UUID and label from the prober, partition UUID and name from the parent's
//! partition table, the device-mapper name. No udev, no blkid.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use sesame_crypt::device::DeviceSpec;

use crate::partition::{probe_disk, read_partitions, DiskContents, PartitionTable};
use crate::probe::{probe_sized, Probe};

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
    /// The path to mount it by: `/dev/mapper/<name>` for a device-mapper device whose
    /// node libdevmapper made (so `/proc/mounts` in the real system shows what a
    /// udev-based initramfs leaves, and what its fstab says), else `/dev/<name>`.
    pub fn mount_path(&self) -> PathBuf {
        self.dm_name
            .as_ref()
            .map(|n| PathBuf::from(format!("/dev/mapper/{n}")))
            .filter(|p| p.exists())
            .unwrap_or_else(|| self.node.clone())
    }

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
    // Disks sort before their partitions (vda < vda1), so a disk's table is read once.
    names.sort();
    let mut tables: Tables = HashMap::new();
    names
        .iter()
        .filter_map(|name| read_device(sys_class_block, dev_dir, name, &mut tables))
        .collect()
}

/// Partition tables read so far, by disk name.
type Tables = HashMap<String, Option<PartitionTable>>;

/// One device: its sysfs facts, then what the prober and the parent's table say.
fn read_device(
    sys_class_block: &Path,
    dev_dir: &Path,
    name: &str,
    tables: &mut Tables,
) -> Option<BlockDevice> {
    let sys = sys_class_block.join(name);
    let size_bytes = read_u64(&sys.join("size")).unwrap_or(0) * 512;
    if size_bytes == 0 {
        return None; // empty loop devices, drives without media
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
    let mut dev = BlockDevice {
        name: name.to_string(),
        node: dev_dir.join(name),
        size_bytes,
        partition: partition.clone(),
        fs: None,
        partuuid: None,
        partlabel: None,
        dm_name: std::fs::read_to_string(sys.join("dm/name"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        error: None,
    };
    match probe_device(&dev, &sys, tables) {
        Ok(fs) => dev.fs = fs,
        Err(e) => dev.error = Some(e.to_string()),
    }
    confirm_luks(&mut dev);
    if let Some((number, parent)) = &partition {
        let table = tables.entry(parent.clone()).or_insert_with(|| {
            let disk = sys_class_block.join(parent);
            let sector = read_u64(&disk.join("queue/logical_block_size")).unwrap_or(512);
            let bytes = read_u64(&disk.join("size")).map(|s| s * 512);
            File::open(dev_dir.join(parent))
                .and_then(|f| read_partitions(&f, sector, bytes))
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
    Some(dev)
}

/// What the device holds. A partition (or an md 1.0 member inside one) is probed
/// knowing its size; on a whole disk a partition table wins over stale signatures, and
/// the table is kept for the partitions that follow.
fn probe_device(
    dev: &BlockDevice,
    sys: &Path,
    tables: &mut Tables,
) -> std::io::Result<Option<Probe>> {
    let f = File::open(&dev.node)?;
    if dev.partition.is_some() {
        return probe_sized(&f, Some(dev.size_bytes));
    }
    let sector = read_u64(&sys.join("queue/logical_block_size")).unwrap_or(512);
    Ok(match probe_disk(&f, sector, Some(dev.size_bytes))? {
        DiskContents::Filesystem(p) => Some(p),
        DiskContents::Partitioned {
            table, whole_disk, ..
        } => {
            tables.insert(dev.name.clone(), Some(table));
            whole_disk
        }
        DiskContents::Empty => None,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::tests::{run, tool};

    /// A fake /sys/class/block and /dev: vda is a GPT disk whose partition 1 (vda1) holds
    /// an ext4 filesystem labelled "root"; vdb is an empty disk; loop0 has no media.
    fn fake_system() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let (class, dev) = (dir.path().join("class"), dir.path().join("dev"));
        for d in [
            "devices/vda/vda1",
            "devices/vdb",
            "devices/loop0",
            "class",
            "dev",
        ] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let part = dev.join("vda1");
        std::fs::File::create(&part)
            .unwrap()
            .set_len(8 << 20)
            .unwrap();
        run(tool("mkfs.ext4")
            .args([
                "-q",
                "-F",
                "-L",
                "root",
                "-U",
                "0b3c5a1e-9f1d-4c2b-8a7e-1234567890ab",
            ])
            .arg(&part));
        let disk = dev.join("vda");
        std::fs::File::create(&disk)
            .unwrap()
            .set_len(16 << 20)
            .unwrap();
        run(tool("sgdisk")
            .args(["-o", "-n", "1:2048:+8M", "-c", "1:sys", "-u"])
            .arg("1:6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9")
            .arg(&disk));
        std::fs::File::create(dev.join("vdb"))
            .unwrap()
            .set_len(1 << 20)
            .unwrap();
        let sizes = [
            ("vda", 32768),
            ("vda/vda1", 16384),
            ("vdb", 2048),
            ("loop0", 0),
        ];
        for (d, sectors) in sizes {
            std::fs::write(
                dir.path().join("devices").join(d).join("size"),
                format!("{sectors}\n"),
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("devices/vda/vda1/partition"), "1\n").unwrap();
        for (name, target) in [
            ("vda", "vda"),
            ("vda1", "vda/vda1"),
            ("vdb", "vdb"),
            ("loop0", "loop0"),
        ] {
            std::os::unix::fs::symlink(dir.path().join("devices").join(target), class.join(name))
                .unwrap();
        }
        (dir, class, dev)
    }

    #[test]
    fn devices_are_probed_and_matched_by_every_kind_of_name() {
        let (_dir, class, dev) = fake_system();
        let devices = scan(&class, &dev);
        let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, vec!["vda", "vda1", "vdb"], "loop0 has no media");
        let vda1 = &devices[1];
        assert_eq!(vda1.partition, Some((1, "vda".to_string())));
        assert_eq!(vda1.partlabel.as_deref(), Some("sys"));
        assert!(
            vda1.describe().contains("ext4 UUID=0b3c5a1e"),
            "{}",
            vda1.describe()
        );
        let find_one = |spec: &str| {
            let spec = DeviceSpec::parse(spec).unwrap();
            find(&devices, &spec)
                .iter()
                .map(|d| d.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            find_one("UUID=0B3C5A1E-9F1D-4C2B-8A7E-1234567890AB"),
            vec!["vda1"]
        );
        assert_eq!(find_one("LABEL=root"), vec!["vda1"]);
        assert_eq!(
            find_one("PARTUUID=6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"),
            vec!["vda1"]
        );
        assert_eq!(find_one("PARTLABEL=sys"), vec!["vda1"]);
        assert_eq!(
            find_one(&format!("{}", dev.join("vdb").display())),
            vec!["vdb"]
        );
        assert!(find_one("LABEL=nope").is_empty());
        assert!(
            devices[0].fs.is_none(),
            "the GPT disk itself holds no filesystem"
        );
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(64 << 20), "64.0 MiB");
        assert_eq!(human_size(8 << 30), "8.0 GiB");
    }
}
