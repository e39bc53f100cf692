//! sesame's LVM2 reader against real lvm2: a VG over two PVs made by lvm2 in the disk
//! factory (a linear LV in two segments across both PVs, a striped LV, a linear LV with
//! `-` in its name), then read on this host from the disk images by
//! `sesame_storage::lvm`: the newest metadata, the dm names, UUIDs and tables must be
//! exactly what `dmsetup` printed in the guest for the same VG.

use std::fs::File;
use std::path::Path;

use sesame_qemu::{debian_kernel, make_disks, DiskRecipe};
use sesame_storage::lvm::pv::read_pv;
use sesame_storage::lvm::{text, vg};

const RECIPE: &str = r#"pvcreate /dev/vdb /dev/vdc
vgcreate -s 1M test-vg /dev/vdb /dev/vdc
lvcreate -y -L 12M -n root test-vg /dev/vdb
lvextend -y -L +6M test-vg/root /dev/vdc
lvcreate -y -i 2 -I 64k -L 8M -n striped test-vg
lvcreate -y -L 3M -n my-data test-vg /dev/vdb
{
  echo "vdb $(cat /sys/block/vdb/dev)"
  echo "vdc $(cat /sys/block/vdc/dev)"
  echo "--- table"
  dmsetup table
  echo "--- info"
  dmsetup info -c --noheadings --separator ' ' -o name,uuid
  echo "--- end"
} > /dev/vdd
sync
"#;

/// One PV image's PV UUID, newest metadata (through `lvm::pv::read_pv`) and its seqno.
fn metadata_of(image: &Path) -> (String, text::Section, u64) {
    let f = File::open(image).unwrap();
    let pv = read_pv(&f).unwrap().expect("an LVM2 label");
    assert!(pv.problems.is_empty(), "{:?}", pv.problems);
    let (seqno, top) = pv.newest.expect("a metadata copy");
    (pv.label.pv_uuid, top, seqno)
}

/// The lines of `name` (between `--- name` and the next `---`) of the guest's output.
fn section<'a>(out: &'a str, name: &str) -> Vec<&'a str> {
    out.split(&format!("--- {name}\n"))
        .nth(1)
        .unwrap_or("")
        .split("---")
        .next()
        .unwrap_or("")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect()
}

#[test]
fn tables_names_and_uuids_match_real_lvm2() {
    let kernel = debian_kernel().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let recipe = DiskRecipe::new("storage-lvm-two-pvs", RECIPE)
        .disk("vdb.img", 32)
        .disk("vdc.img", 32)
        .disk("out.img", 1);
    let made = make_disks(&kernel, &recipe, dir.path()).unwrap();
    let raw = std::fs::read(&made.disks[2]).unwrap();
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let out = String::from_utf8_lossy(&raw[..end]).into_owned();
    assert!(out.contains("--- end"), "the factory's output:\n{out}");
    let dev_of = |disk: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{disk} ")))
            .unwrap()
            .trim()
            .to_string()
    };

    let (uuid_b, top_b, seq_b) = metadata_of(&made.disks[0]);
    let (uuid_c, top_c, seq_c) = metadata_of(&made.disks[1]);
    // Both PVs carry the VG's newest metadata.
    assert_eq!(seq_b, seq_c);
    assert_eq!(top_b, top_c);
    let vg = vg::read_vg(&top_b, None).unwrap();
    assert_eq!(vg.name, "test-vg");
    assert!(vg.refused.is_none());
    let device_of = |pv: &vg::PvRef| {
        if pv.id == uuid_b {
            Some(dev_of("vdb"))
        } else if pv.id == uuid_c {
            Some(dev_of("vdc"))
        } else {
            None
        }
    };

    let mut ours = Vec::new();
    let mut our_infos = Vec::new();
    for lv in &vg.lvs {
        assert!(lv.refused.is_none(), "{lv:?}");
        let name = vg::dm_name(&vg.name, &lv.name);
        for line in vg::table(&vg, lv, device_of).unwrap() {
            ours.push(format!("{name}: {line}"));
        }
        our_infos.push(format!("{name} {}", vg::dm_uuid(&vg.id, &lv.id)));
    }
    let mut theirs: Vec<String> = section(&out, "table")
        .iter()
        .map(|s| s.to_string())
        .collect();
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs, "tables (ours, then dmsetup's)");
    let mut theirs: Vec<String> = section(&out, "info")
        .iter()
        .map(|s| s.to_string())
        .collect();
    theirs.sort();
    our_infos.sort();
    assert_eq!(our_infos, theirs, "names and UUIDs (ours, then dmsetup's)");
    assert!(ours.iter().any(|l| l.starts_with("test--vg-my--data: ")));
    assert!(ours.iter().any(|l| l.contains(" striped 2 128 ")));
    assert_eq!(
        ours.iter()
            .filter(|l| l.starts_with("test--vg-root: "))
            .count(),
        2
    );
}
