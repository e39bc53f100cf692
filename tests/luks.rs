//! End-to-end LUKS: cryptsetup-made LUKS1/LUKS2 disks opened by sesame in QEMU through
//! the kernel's dm-crypt — from the console prompt, with one passphrase for several
//! volumes, with keyfiles in the image or inside a keys volume — and the passphrase
//! never appearing in the console log or /dev/kmsg.

use anyhow::{ensure, Result};
use sesame_qemu::{Disk, LuksOptions, LuksVersion, RootFs, Vm};
use sesame_tests::{
    assert_secret_absent, boot_to_marker, count_lines, mount_of, Fixture, BOOT_TIMEOUT,
};

const PASS: &str = "correct horse battery staple";

/// Types a line at the console prompt once it is shown.
fn answer_prompt(vm: &Vm, after: usize, prompt: &str, line: &str) -> Result<usize> {
    let m = vm.wait_for_console_from(after, prompt, BOOT_TIMEOUT)?;
    vm.send_console(format!("{line}\r").as_bytes())?;
    Ok(m.end)
}

fn mapper_names(m: &serde_json::Value) -> Vec<String> {
    m["mapper"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn luks2_root_unlocked_from_the_console() -> Result<()> {
    let fx = Fixture::new("luks2_root_unlocked_from_the_console")?;
    let initrd = fx.initramfs(&[])?;
    let (image, luks_uuid, _) = fx.encrypted_marker_root(PASS)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.append = format!(
        "rd.luks.name={luks_uuid}=root root=/dev/mapper/root rd.sesame.ssh=0 sesame.marker.kmsg=1"
    );
    let vm = Vm::start(cfg)?;
    answer_prompt(&vm, 0, "Passphrase for root", PASS)?;
    vm.wait_for_console("unlocked root", BOOT_TIMEOUT)?;
    let m = boot_to_marker(&vm)?;
    let root = mount_of(&m, "/").expect("a / mount");
    ensure!(root["fstype"] == "ext4", "/ is {root}");
    ensure!(
        mapper_names(&m) == ["root"],
        "mapper devices: {:?}",
        m["mapper"]
    );
    assert_secret_absent(&vm, PASS)
}

#[test]
fn wrong_passphrase_then_the_right_one() -> Result<()> {
    let fx = Fixture::new("wrong_passphrase_then_the_right_one")?;
    let initrd = fx.initramfs(&[])?;
    let (image, luks_uuid, fs_uuid) = fx.encrypted_marker_root(PASS)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.append = format!(
        "rd.luks.uuid={luks_uuid} root=UUID={fs_uuid} rd.sesame.ssh=0 sesame.marker.kmsg=1"
    );
    let vm = Vm::start(cfg)?;
    let wrong = "not the passphrase";
    let after = answer_prompt(&vm, 0, "Passphrase for luks-", wrong)?;
    let m = vm.wait_for_console_from(after, "wrong passphrase for luks-", BOOT_TIMEOUT)?;
    answer_prompt(&vm, m.end, "Passphrase for luks-", PASS)?;
    let marker = boot_to_marker(&vm)?;
    ensure!(
        mapper_names(&marker) == [format!("luks-{luks_uuid}")],
        "mapper devices: {:?}",
        marker["mapper"]
    );
    assert_secret_absent(&vm, PASS)?;
    assert_secret_absent(&vm, wrong)
}

#[test]
fn one_passphrase_opens_a_luks1_and_a_luks2_volume() -> Result<()> {
    let fx = Fixture::new("one_passphrase_opens_a_luks1_and_a_luks2_volume")?;
    let initrd = fx.initramfs(&[])?;
    let (root, root_luks, root_fs) = fx.encrypted_marker_root(PASS)?;
    let data_fs = RootFs::empty()?;
    data_fs.add_file("hello", "data volume\n", 0o644)?;
    let (data, data_luks, _) = fx.encrypted(
        "data.img",
        &data_fs,
        16,
        &LuksOptions::new(PASS).version(LuksVersion::Luks1),
    )?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &root));
    cfg.disks.push(Disk::new("data", &data));
    cfg.append = format!(
        "rd.luks.uuid={root_luks} rd.luks.uuid={data_luks} root=UUID={root_fs} rd.sesame.ssh=0"
    );
    let vm = Vm::start(cfg)?;
    answer_prompt(&vm, 0, "Passphrase for luks-", PASS)?;
    let m = boot_to_marker(&vm)?;
    let mut want = vec![format!("luks-{root_luks}"), format!("luks-{data_luks}")];
    want.sort();
    ensure!(
        mapper_names(&m) == want,
        "mapper devices: {:?}",
        m["mapper"]
    );
    ensure!(
        count_lines(&vm, "Passphrase for") == 1,
        "asked more than once:\n{}",
        vm.console_log()
    );
    assert_secret_absent(&vm, PASS)
}

#[test]
fn keyfile_in_the_image_opens_without_asking() -> Result<()> {
    let fx = Fixture::new("keyfile_in_the_image_opens_without_asking")?;
    let key = "a keyfile's bytes\nwith a newline\x00and a NUL";
    let keyfile = fx.write("root.key", key)?;
    let (image, luks_uuid, _) =
        fx.encrypted("root.img", &RootFs::new()?, 64, &LuksOptions::new(key))?;
    let crypttab = fx.write(
        "crypttab",
        format!(
            "root UUID={luks_uuid} {} luks,initramfs\n",
            keyfile.display()
        ),
    )?;
    let initrd = fx.initramfs(&["--crypttab", crypttab.to_str().unwrap_or_default()])?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.append = "root=/dev/mapper/root rd.sesame.ssh=0".into();
    let vm = Vm::start(cfg)?;
    let m = boot_to_marker(&vm)?;
    ensure!(
        mapper_names(&m) == ["root"],
        "mapper devices: {:?}",
        m["mapper"]
    );
    ensure!(
        count_lines(&vm, "Passphrase for") == 0,
        "it asked:\n{}",
        vm.console_log()
    );
    Ok(())
}

#[test]
fn keyfile_inside_a_keys_volume_opens_the_data_volume() -> Result<()> {
    let fx = Fixture::new("keyfile_inside_a_keys_volume_opens_the_data_volume")?;
    let data_key = "the data volume's key, kept in the keys volume";
    let keys_fs = RootFs::empty()?;
    keys_fs.add_file("data.key", data_key, 0o400)?;
    let (keys, keys_luks, _) = fx.encrypted("keys.img", &keys_fs, 16, &LuksOptions::new(PASS))?;
    let (root, root_luks, _) =
        fx.encrypted("root.img", &RootFs::new()?, 64, &LuksOptions::new(data_key))?;
    let crypttab = fx.write(
        "crypttab",
        format!(
            "keys UUID={keys_luks} none luks,initramfs\n\
             root UUID={root_luks} /data.key:/dev/mapper/keys luks,initramfs\n"
        ),
    )?;
    let initrd = fx.initramfs(&["--crypttab", crypttab.to_str().unwrap_or_default()])?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("keys", &keys));
    cfg.disks.push(Disk::new("root", &root));
    cfg.append = "root=/dev/mapper/root rd.sesame.ssh=0 sesame.marker.kmsg=1".into();
    let vm = Vm::start(cfg)?;
    answer_prompt(&vm, 0, "Passphrase for keys", PASS)?;
    let m = boot_to_marker(&vm)?;
    ensure!(
        mapper_names(&m) == ["keys", "root"],
        "mapper devices: {:?}",
        m["mapper"]
    );
    // The keys volume's filesystem was unmounted before switch_root.
    ensure!(
        !m["mounts"].to_string().contains("/run/sesame/keys"),
        "the keys volume is still mounted: {}",
        m["mounts"]
    );
    ensure!(
        count_lines(&vm, "Passphrase for") == 1,
        "asked twice:\n{}",
        vm.console_log()
    );
    assert_secret_absent(&vm, PASS)?;
    assert_secret_absent(&vm, data_key)
}

#[test]
fn keyring_hands_the_passphrase_on_when_asked() -> Result<()> {
    let fx = Fixture::new("keyring_hands_the_passphrase_on_when_asked")?;
    let initrd = fx.initramfs(&[])?;
    let (image, luks_uuid, _) = fx.encrypted_marker_root(PASS)?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.append = format!(
        "rd.luks.name={luks_uuid}=root root=/dev/mapper/root rd.sesame.ssh=0 rd.sesame.keyring=1"
    );
    let vm = Vm::start(cfg)?;
    answer_prompt(&vm, 0, "Passphrase for root", PASS)?;
    let m = boot_to_marker(&vm)?;
    let keys: Vec<&str> = m["keyring"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    ensure!(
        keys.contains(&"cryptsetup"),
        "no \"cryptsetup\" key for systemd: {keys:?}"
    );
    Ok(())
}

/// A volume whose cipher the image does not carry (camellia, made by the host's
/// cryptsetup through OpenSSL): the error names the cipher and the exact config line;
/// with that line the same volume opens (its key slot through AF_ALG).
#[test]
fn a_cipher_beyond_aes_is_named_then_opens_once_included() -> Result<()> {
    let fx = Fixture::new("a_cipher_beyond_aes_is_named_then_opens_once_included")?;
    let (image, luks_uuid, _) = fx.encrypted(
        "root.img",
        &RootFs::new()?,
        64,
        &LuksOptions::new(PASS).cipher("camellia-cbc-essiv:sha256", 256),
    )?;
    let append =
        format!("rd.luks.name={luks_uuid}=root root=/dev/mapper/root rd.sesame.ssh=0 rd.timeout=3");

    let initrd = fx.initramfs(&[])?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.append = append.clone();
    let vm = Vm::start(cfg)?;
    answer_prompt(&vm, 0, "Passphrase for root", PASS)?;
    let said = vm.wait_for_console(
        "the volume's cipher camellia-cbc-essiv:sha256",
        BOOT_TIMEOUT,
    )?;
    ensure!(said.contains(r#"include = ["crypto-camellia"]"#), "{said}");
    assert_secret_absent(&vm, PASS)?;
    drop(vm);

    let config = fx.write(
        "config.toml",
        "[modules]\ninclude = [\"crypto-camellia\"]\n",
    )?;
    let initrd = fx.initramfs(&["--config", config.to_str().unwrap_or_default()])?;
    let mut cfg = fx.vm_config(&initrd);
    cfg.disks.push(Disk::new("root", &image));
    cfg.append = append;
    let vm = Vm::start(cfg)?;
    answer_prompt(&vm, 0, "Passphrase for root", PASS)?;
    let m = boot_to_marker(&vm)?;
    ensure!(mapper_names(&m) == ["root"], "mapper: {:?}", m["mapper"]);
    assert_secret_absent(&vm, PASS)
}
