//! Fuzzes the partition-table reader (`sesame_storage::partition`): no panics, bounded
//! work, and partitions numbered as the kernel would (unique, 1..=255, primaries 1-4 and
//! logical partitions from 5 on for MBR) whatever the tables say. The first byte picks the
//! sector size and whether the disk size (which enables the GPT backup header) is known.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use sesame_storage::partition::{
    probe_disk, read_partitions, PartitionTable, TableKind, MAX_PARTITION_NUMBER,
};

fn check(table: &PartitionTable) {
    let mut seen = HashSet::new();
    for p in &table.partitions {
        assert!(
            (1..=MAX_PARTITION_NUMBER).contains(&p.number),
            "{}",
            p.number
        );
        assert!(seen.insert(p.number), "partition {} twice", p.number);
        assert!(p.size_lba > 0);
        match table.kind {
            TableKind::Gpt { .. } => assert_eq!(p.partuuid.len(), 36),
            TableKind::Mbr { signature } => {
                assert!(p.partuuid.starts_with(&format!("{signature:08x}-")));
                assert!(p.partlabel.is_none());
            }
        }
    }
    let numbers: Vec<u32> = table.partitions.iter().map(|p| p.number).collect();
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    assert_eq!(numbers, sorted, "partitions out of order");
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, disk)) = data.split_first() else {
        return;
    };
    let sector_size = if mode & 1 == 0 { 512 } else { 4096 };
    let size = (mode & 2 != 0).then_some(disk.len() as u64);
    if let Some(table) = read_partitions(disk, sector_size, size).expect("a slice never fails") {
        check(&table);
    }
    let _ = probe_disk(disk, sector_size, size).expect("a slice never fails");
});
