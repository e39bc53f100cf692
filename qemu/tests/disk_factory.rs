//! The disk factory end to end: LVM on LUKS2 as Debian's installer lays it out (VG
//! `debian-vg`, LVs `root` and `swap_1`), made in the factory VM and checked on this
//! host with the real tools, which need no device-mapper: `cryptsetup luksDump`, then
//! the LUKS2 data area decrypted offline into a file (`cryptsetup reencrypt --decrypt`
//! with a detached header around the same volume key), where blkid, the LVM metadata,
//! dumpe2fs and debugfs show the layout. The second request comes from the cache.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use sesame_qemu::{
    command, debian_kernel, luks_test_passphrase, make_disks, require_tools, DiskRecipe,
};

const PASS: &str = "factory test passphrase";
const LUKS_UUID: &str = "5e5a3e00-fac7-4e1d-9d2b-1a2b3c4d5e6f";
const FS_UUID: &str = "0f0e0d0c-0b0a-4909-8807-060504030201";
const HELLO: &str = "made by the disk factory\n";

fn recipe() -> DiskRecipe {
    let script = format!(
        r#"printf %s '{PASS}' | cryptsetup luksFormat -q --type luks2 --uuid {LUKS_UUID} \
    --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file - /dev/vdb
printf %s '{PASS}' | cryptsetup open --key-file - /dev/vdb vdb_crypt
pvcreate /dev/mapper/vdb_crypt
vgcreate debian-vg /dev/mapper/vdb_crypt
lvcreate -y -L 64M -n root debian-vg
lvcreate -y -l 100%FREE -n swap_1 debian-vg
mkfs.ext4 -q -L root -U {FS_UUID} /dev/debian-vg/root
mkdir -p /mnt/root
mount /dev/debian-vg/root /mnt/root
printf '{HELLO}' >/mnt/root/hello
mkswap -L swap /dev/debian-vg/swap_1
"#
    );
    DiskRecipe::new("test-debian-lvm-on-luks2", &script).disk("vdb.img", 128)
}

/// Runs a listed host tool; returns its stdout, panicking with everything on failure.
fn tool(args: &[&str]) -> String {
    let out = command(args[0]).unwrap().args(&args[1..]).output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The value after `key` on the first line of `dump` that holds it (`luksDump` lines).
fn field<'a>(dump: &'a str, key: &str) -> &'a str {
    dump.lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .unwrap_or_else(|| panic!("no `{key}` in:\n{dump}"))
        .split_whitespace()
        .next()
        .unwrap_or("")
}

/// The plaintext of LUKS2 `image`'s data area, decrypted offline into `dir/plain.img`:
/// the volume key dumped, the data area copied out, a detached header with data offset 0
/// made around that key, and `reencrypt --decrypt` run on the copy.
fn decrypt(image: &Path, dump: &str, dir: &Path) -> std::path::PathBuf {
    let pass = dir.join("pass");
    fs::write(&pass, PASS).unwrap();
    let key = dir.join("volume.key");
    let (pass, key) = (s(&pass), s(&key));
    tool(&[
        "cryptsetup",
        "luksDump",
        "-q",
        "--dump-volume-key",
        "--volume-key-file",
        key,
        "--key-file",
        pass,
        s(image),
    ]);
    let offset: u64 = field(dump, "offset:").parse().unwrap();
    let plain = dir.join("plain.img");
    let mut from = File::open(image).unwrap();
    from.seek(SeekFrom::Start(offset)).unwrap();
    std::io::copy(&mut from, &mut File::create(&plain).unwrap()).unwrap();
    let header = dir.join("detached.hdr");
    let key_bits = field(dump, "Key:");
    tool(&[
        "cryptsetup",
        "luksFormat",
        "-q",
        "--type",
        "luks2",
        "--offset",
        "0",
        "--cipher",
        field(dump, "cipher:"),
        "--sector-size",
        field(dump, "sector:"),
        "--key-size",
        key_bits,
        "--volume-key-file",
        key,
        "--key-file",
        pass,
        "--pbkdf",
        "pbkdf2",
        "--pbkdf-force-iterations",
        "1000",
        "--header",
        s(&header),
        s(&plain),
    ]);
    tool(&[
        "cryptsetup",
        "reencrypt",
        "--decrypt",
        "-q",
        "--force-offline-reencrypt",
        "--key-file",
        pass,
        "--header",
        s(&header),
        s(&plain),
    ]);
    plain
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// The committed LVM metadata text of the PV at the start of `pv` (its first metadata
/// area, at 4 KiB: the header's first `raw_locn` points at the text).
fn lvm_metadata(pv: &Path) -> String {
    let mut head = vec![0; 1 << 20];
    File::open(pv).unwrap().read_exact(&mut head).unwrap();
    assert_eq!(&head[512..520], b"LABELONE", "no LVM label in sector 1");
    let mda = &head[4096..];
    assert_eq!(
        &mda[4..20],
        b" LVM2 x[5A%r0N*>",
        "no metadata area at 4 KiB"
    );
    let (off, size) = (u64_at(mda, 40) as usize, u64_at(mda, 48) as usize);
    String::from_utf8_lossy(&mda[off..off + size]).into_owned()
}

/// `key = <number>` in `text`, the first after `from`.
fn number(text: &str, from: &str, key: &str) -> u64 {
    let rest = &text[text
        .find(from)
        .unwrap_or_else(|| panic!("no `{from}` in {text}"))..];
    let at = rest.find(&format!("{key} = ")).unwrap() + key.len() + 3;
    let digits: String = rest[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

/// The byte offset in the PV where LV `lv` starts (its first segment's first extent).
fn lv_offset(meta: &str, lv: &str) -> u64 {
    let pe_start = number(meta, "pv0 {", "pe_start");
    let extent = number(meta, "extent_size", "extent_size");
    let section = &meta[meta.find(&format!("{lv} {{")).unwrap()..];
    let stripes = &section[section.find("\"pv0\",").unwrap() + 6..];
    let first: u64 = stripes
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (pe_start + first * extent) * 512
}

#[test]
fn lvm_on_luks2_like_debians_installer_and_from_the_cache() {
    require_tools(&[
        "cryptsetup",
        "blkid",
        "dumpe2fs",
        "debugfs",
        "cp",
        "qemu-system-x86_64",
    ])
    .unwrap();
    let kernel = debian_kernel().unwrap();
    let dir = tempfile::tempdir().unwrap();

    let started = Instant::now();
    let first = make_disks(&kernel, &recipe(), &dir.path().join("first")).unwrap();
    eprintln!(
        "factory: {:.1?} (built: {}) -> {}",
        started.elapsed(),
        first.built,
        first.cache.display()
    );
    assert_eq!(first.disks, [dir.path().join("first/vdb.img")]);
    let image = &first.disks[0];
    assert_eq!(fs::metadata(image).unwrap().len(), 128 << 20);

    let dump = tool(&["cryptsetup", "luksDump", s(image)]);
    assert_eq!(field(&dump, "Version:"), "2", "{dump}");
    assert_eq!(field(&dump, "UUID:"), LUKS_UUID, "{dump}");
    let keyslots = &dump[dump.find("Keyslots:").unwrap()..];
    assert!(keyslots.contains("  0: luks2"), "{dump}");
    assert!(luks_test_passphrase(image, PASS.as_bytes()).unwrap());
    assert!(!luks_test_passphrase(image, b"not it").unwrap());

    let plain = decrypt(image, &dump, dir.path());
    let probe = tool(&["blkid", "-p", s(&plain)]);
    assert!(probe.contains("TYPE=\"LVM2_member\""), "{probe}");
    let meta = lvm_metadata(&plain);
    assert!(meta.starts_with("debian-vg {"), "{meta}");
    for lv in ["root {", "swap_1 {"] {
        assert!(meta.contains(lv), "no LV {lv} in {meta}");
    }
    let root = format!("{}?offset={}", s(&plain), lv_offset(&meta, "root"));
    let sb = tool(&["dumpe2fs", "-h", &root]);
    assert!(
        sb.contains(&format!("Filesystem UUID:          {FS_UUID}")),
        "{sb}"
    );
    assert!(sb.contains("Filesystem volume name:   root"), "{sb}");
    let hello = tool(&["debugfs", "-R", "cat /hello", &root]);
    assert_eq!(hello, HELLO);
    let swap = lv_offset(&meta, "swap_1").to_string();
    let probe = tool(&["blkid", "-p", "-O", &swap, s(&plain)]);
    assert!(
        probe.contains("TYPE=\"swap\"") && probe.contains("LABEL=\"swap\""),
        "{probe}"
    );

    // The caller's copy is its own: writing it leaves the cache as it was.
    fs::write(image, b"scribbled").unwrap();
    let started = Instant::now();
    let second = make_disks(&kernel, &recipe(), &dir.path().join("second")).unwrap();
    let took = started.elapsed();
    eprintln!("factory, cached: {took:.1?}");
    assert!(!second.built, "the second request booted the factory again");
    assert_eq!(second.cache, first.cache);
    assert!(took < Duration::from_secs(60), "a cache hit took {took:?}");
    let again = tool(&["cryptsetup", "luksDump", s(&second.disks[0])]);
    assert_eq!(field(&again, "UUID:"), LUKS_UUID);
}

/// md RAID1 (metadata 1.2, as Hetzner's installimage makes it) over the first GPT
/// partition of two disks partitioned on the host, ext4 on the array holding a copy of
/// the payload: both mirrors carry the superblock and the same filesystem.
#[test]
fn md_raid1_on_partitions_with_a_payload() {
    require_tools(&["blkid", "dumpe2fs", "debugfs", "sfdisk", "mkfs.ext4"]).unwrap();
    let kernel = debian_kernel().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("payload");
    fs::create_dir_all(payload.join("etc")).unwrap();
    fs::write(payload.join("etc/motd"), HELLO).unwrap();
    let gpt = "label: gpt\nsize=48MiB, type=R\n";
    let recipe = DiskRecipe::new(
        "test-md-raid1-partitions",
        "mdadm --create /dev/md/data --run --metadata=1.2 --level=1 --raid-devices=2 \\
             --homehost=factory /dev/vdb1 /dev/vdc1
         mkfs.ext4 -q -L data /dev/md/data
         mount /dev/md/data /mnt
         cp -a /payload/. /mnt/
         ",
    )
    .partitioned_disk("sda.img", 64, gpt)
    .partitioned_disk("sdb.img", 64, gpt)
    .payload(&payload);
    let made = make_disks(&kernel, &recipe, &dir.path().join("out")).unwrap();
    eprintln!("factory (md): built {}", made.built);
    assert!(made.cache.join(".console.log").is_file());
    for disk in &made.disks {
        // The first partition starts at 1 MiB; the v1.2 superblock 4 KiB into it.
        let part = 1u64 << 20;
        let probe = tool(&["blkid", "-p", "-O", &part.to_string(), s(disk)]);
        assert!(probe.contains("TYPE=\"linux_raid_member\""), "{probe}");
        assert!(probe.contains("LABEL=\"factory:data\""), "{probe}");
        let mut sb = [0u8; 256];
        let mut f = File::open(disk).unwrap();
        f.seek(SeekFrom::Start(part + 4096)).unwrap();
        f.read_exact(&mut sb).unwrap();
        assert_eq!(sb[..4], 0xa92b_4efc_u32.to_le_bytes(), "no md superblock");
        let data = format!("{}?offset={}", s(disk), part + u64_at(&sb, 128) * 512);
        let head = tool(&["dumpe2fs", "-h", &data]);
        assert!(head.contains("Filesystem volume name:   data"), "{head}");
        assert_eq!(tool(&["debugfs", "-R", "cat /etc/motd", &data]), HELLO);
    }
}

#[test]
fn malformed_recipes_are_refused_before_anything_runs() {
    let kernel = sesame_qemu::Kernel {
        version: "none".into(),
        vmlinuz: "/nonexistent".into(),
        modules_dir: "/nonexistent".into(),
    };
    let dir = tempfile::tempdir().unwrap();
    for (recipe, want) in [
        (DiskRecipe::new("empty", "true"), "has no disks"),
        (DiskRecipe::new("zero", "true").disk("a.img", 0), "0 MiB"),
        (
            DiskRecipe::new("slash", "true").disk("../a.img", 8),
            "not a plain file name",
        ),
    ] {
        let e = format!(
            "{:#}",
            make_disks(&kernel, &recipe, dir.path()).unwrap_err()
        );
        assert!(e.contains(want), "{e}");
    }
}
