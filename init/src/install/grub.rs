//! Pointing the boot loader at sesame's image. `--bootloader` handles GRUB on
//! Debian/Ubuntu: it writes `/etc/grub.d/09_sesame`, which repeats `10_linux`'s first
//! entry (the newest kernel) with `/boot/sesame-initrd.img-<version>` as its initrd, and
//! runs `update-grub`. Being first, that entry is the default (`GRUB_DEFAULT=0`); the
//! distribution's entries follow unchanged as a fallback on the console. Without
//! `--bootloader`, [`instructions`] says what to do for each boot loader.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::scripts::MARKER;
use crate::host::{Host, IMAGE_PREFIX};

/// The GRUB script, run by `update-grub` (grub-mkconfig) in file-name order.
pub const GRUB_SCRIPT: &str = "/etc/grub.d/09_sesame";
/// Debian's and Ubuntu's wrapper around grub-mkconfig.
pub const UPDATE_GRUB: &str = "/usr/sbin/update-grub";

/// `/etc/grub.d/09_sesame`.
pub fn script() -> String {
    format!(
        "#!/bin/sh\n\
         {MARKER}\n\
         # The first menu entry: 10_linux's first one (the newest kernel) with sesame's image\n\
         # /boot/{IMAGE_PREFIX}<version> as its initrd, so the machine can be unlocked over SSH.\n\
         # Nothing is written when that kernel has no sesame image. The distribution's entries\n\
         # follow, unchanged, as the fallback. `sesame uninstall` removes this file.\n\
         set -e\n\
         linux=\"${{0%/*}}/10_linux\"\n\
         [ -x \"$linux\" ] || exit 0\n\
         entry=$(\"$linux\" 2>/dev/null | sed -n '/^menuentry /,/^}}/{{p;/^}}/q}}')\n\
         version=$(printf '%s\\n' \"$entry\" | sed -n 's/^[[:space:]]*initrd[[:space:]].*initrd\\.img-\\([^[:space:]]*\\).*/\\1/p')\n\
         [ -n \"$version\" ] || exit 0\n\
         [ -e \"${{SESAME_ROOT:-}}/boot/{IMAGE_PREFIX}$version\" ] || exit 0\n\
         echo \"Found sesame image: /boot/{IMAGE_PREFIX}$version\" >&2\n\
         printf '%s\\n' \"$entry\" | sed \\\n\
         \x20 -e \"s/^menuentry '\\([^']*\\)'/menuentry '\\1, unlocked over SSH (sesame)'/\" \\\n\
         \x20 -e \"s/'gnulinux-/'sesame-gnulinux-/\" \\\n\
         \x20 -e '/^[[:space:]]*initrd[[:space:]]/s/initrd\\.img-/{IMAGE_PREFIX}/'\n"
    )
}

/// What to tell the user after `install` without `--bootloader`.
pub fn instructions(host: &Host, versions: &[String]) -> String {
    let image = match versions.last() {
        Some(v) => format!("/boot/{IMAGE_PREFIX}{v}"),
        None => format!("/boot/{IMAGE_PREFIX}<version>"),
    };
    let mut out = format!(
        "The boot loader still starts the distribution's initramfs. To boot sesame's image \
         ({image}):\n"
    );
    if host.path(UPDATE_GRUB).exists() {
        out.push_str(
            "  GRUB (this system): sesame install --bootloader\n\
             \x20   adds a first menu entry that uses sesame's image (the distribution's stay \
             below it) and runs update-grub\n",
        );
    } else {
        out.push_str(
            "  GRUB on Debian/Ubuntu: sesame install --bootloader (adds a first menu entry, runs \
             update-grub)\n",
        );
    }
    out.push_str(
        "  systemd-boot / kernel-install: put `initrd_generator=sesame` in \
         /etc/kernel/install.conf,\n\
         \x20   then `kernel-install add $(uname -r) /boot/vmlinuz-$(uname -r)`\n\
         \x20 other boot loaders: make the kernel's entry load that file as its initrd\n\
         Keep a way to reach the console the first time, in case the image lacks a driver.\n",
    );
    out
}

/// After `09_sesame` changed: regenerate grub.cfg. On a tree in a folder the host's
/// update-grub would write the host's /boot, so the command is printed instead.
pub fn update_grub(host: &Host, dry_run: bool) -> Result<()> {
    if !host.is_system() {
        println!(
            "  run `chroot {} update-grub` (not run: --root is not this system)",
            host.root.display()
        );
        return Ok(());
    }
    if dry_run {
        println!("  would run update-grub");
        return Ok(());
    }
    println!("  running update-grub");
    let status = std::process::Command::new(UPDATE_GRUB)
        .status()
        .with_context(|| format!("running {UPDATE_GRUB}"))?;
    if !status.success() {
        bail!("update-grub failed ({status}); its messages are above");
    }
    Ok(())
}

/// `--bootloader` needs GRUB's Debian wrapper under the root.
pub fn require_update_grub(host: &Host) -> Result<()> {
    if host.path(UPDATE_GRUB).exists() {
        return Ok(());
    }
    bail!(
        "--bootloader sets up GRUB on Debian/Ubuntu and needs {}, which is missing; for \
         systemd-boot put `initrd_generator=sesame` in /etc/kernel/install.conf, for other \
         boot loaders use /boot/{IMAGE_PREFIX}<version> as the kernel's initrd",
        Path::new(UPDATE_GRUB).display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// What Debian's 10_linux prints for one kernel (abridged), then its submenu.
    const TEN_LINUX: &str = "\
function gfxmode {
\tset gfxpayload=\"${1}\"
}
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-0b3c5a1e' {
\tload_video
\tinsmod ext2
\techo\t'Loading Linux 6.1.0-13-amd64 ...'
\tlinux\t/boot/vmlinuz-6.1.0-13-amd64 root=UUID=0b3c5a1e ro quiet
\techo\t'Loading initial ramdisk ...'
\tinitrd\t/boot/intel-ucode.img /boot/initrd.img-6.1.0-13-amd64
}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-0b3c5a1e' {
\tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-13-amd64' {
\t\tinitrd\t/boot/initrd.img-6.1.0-13-amd64
\t}
}
";

    fn run(with_image: bool) -> String {
        let dir = tempfile::tempdir().unwrap();
        let grub_d = dir.path().join("etc/grub.d");
        std::fs::create_dir_all(&grub_d).unwrap();
        std::fs::create_dir_all(dir.path().join("boot")).unwrap();
        let exec = |name: &str, text: &str| {
            let p = grub_d.join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            p
        };
        exec(
            "10_linux",
            &format!("#!/bin/sh\ncat <<'EOF'\n{TEN_LINUX}EOF\n"),
        );
        let ours = exec("09_sesame", &script());
        if with_image {
            std::fs::write(dir.path().join("boot/sesame-initrd.img-6.1.0-13-amd64"), "").unwrap();
        }
        let out = std::process::Command::new(&ours)
            .env("SESAME_ROOT", dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn the_first_entry_is_repeated_with_sesames_image() {
        let out = run(true);
        assert!(
            out.starts_with(
                "menuentry 'Debian GNU/Linux, unlocked over SSH (sesame)' --class debian"
            ),
            "{out}"
        );
        assert!(out.contains("'sesame-gnulinux-simple-0b3c5a1e' {"), "{out}");
        assert!(
            out.contains(
                "\tinitrd\t/boot/intel-ucode.img /boot/sesame-initrd.img-6.1.0-13-amd64\n"
            ),
            "{out}"
        );
        assert!(out.contains("root=UUID=0b3c5a1e ro quiet"), "{out}");
        assert!(
            out.trim_end().ends_with('}') && !out.contains("submenu"),
            "{out}"
        );
        assert_eq!(
            out.lines().filter(|l| l.contains("menuentry ")).count(),
            1,
            "{out}"
        );
    }

    #[test]
    fn no_entry_without_the_image() {
        assert_eq!(run(false), "");
    }

    #[test]
    fn instructions_name_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let text = instructions(&Host::new(dir.path()), &["6.1.0-13-amd64".into()]);
        assert!(
            text.contains("/boot/sesame-initrd.img-6.1.0-13-amd64"),
            "{text}"
        );
        assert!(text.contains("initrd_generator=sesame"), "{text}");
        assert!(require_update_grub(&Host::new(dir.path())).is_err());
    }
}
