//! The kernel hook scripts `sesame install` writes: the Debian/Ubuntu
//! `/etc/kernel/postinst.d` and `postrm.d` hooks and the systemd `kernel-install` plugin.
//! Each is a small /bin/sh script that runs `/usr/sbin/sesame hook …`, carries a marker
//! line so that `uninstall` removes only what sesame wrote, and is rewritten when it
//! differs. `$SESAME_ROOT` (unset on a real system) runs the hook on a tree in a folder:
//! the binary, the config, `/lib/modules` and `/boot` are then taken under it.

use crate::image::cpio::Compression;

/// The line every file sesame writes carries; `uninstall` removes only files holding it.
pub const MARKER: &str = "# Written by `sesame install`; `sesame uninstall` removes it.";

/// Debian/Ubuntu's kernel hooks. `zz-` so that they run after initramfs-tools and DKMS
/// (whose modules the image may need) yet before `zz-update-grub` (which must see the
/// image): run-parts runs them in lexical order.
pub const DEB_POSTINST: &str = "/etc/kernel/postinst.d/zz-sesame";
pub const DEB_POSTRM: &str = "/etc/kernel/postrm.d/zz-sesame";
/// systemd's kernel-install plugin (Fedora, Arch with systemd-boot, …). 50, like
/// dracut's and mkosi-initrd's initrd generators: before 90-loaderentry copies the
/// staged initrd into the boot entry.
pub const KERNEL_INSTALL_PLUGIN: &str = "/usr/lib/kernel/install.d/50-sesame.install";

/// Whether `text` is a file sesame wrote.
pub fn is_ours(text: &str) -> bool {
    text.lines().take(5).any(|l| l == MARKER)
}

/// `--compress` as the hooks must pass it on (nothing for the default).
fn compress_arg(how: Compression) -> &'static str {
    match how {
        Compression::Zstd => "",
        Compression::Gzip => " --compress gzip",
        Compression::None => " --compress none",
    }
}

/// The lines every hook starts with: find the binary (under `$SESAME_ROOT` if set).
const PRELUDE: &str = "set -e\n\
    root=\"${SESAME_ROOT:-/}\"\n\
    sesame=\"${root%/}/usr/sbin/sesame\"\n\
    [ -x \"$sesame\" ] || exit 0\n";

/// `/etc/kernel/postinst.d/zz-sesame`.
pub fn deb_postinst(how: Compression) -> String {
    format!(
        "#!/bin/sh\n\
         {MARKER}\n\
         # Builds /boot/sesame-initrd.img-<version> for each kernel installed, after `sesame check`.\n\
         # The kernel package runs it as `zz-sesame <version> [<image>]`, DEB_MAINT_PARAMS set.\n\
         # Output goes to stderr (it may run under debconf). A failed check fails the hook, so\n\
         # the kernel package says so (and zz-update-grub does not switch to the new kernel)\n\
         # instead of leaving a machine that cannot be unlocked.\n\
         {PRELUDE}\
         exec \"$sesame\" hook postinst --root \"$root\"{} \"$@\" </dev/null >&2\n",
        compress_arg(how)
    )
}

/// `/etc/kernel/postrm.d/zz-sesame`.
pub fn deb_postrm() -> String {
    format!(
        "#!/bin/sh\n\
         {MARKER}\n\
         # Removes /boot/sesame-initrd.img-<version> when that kernel is removed.\n\
         # The kernel package runs it as `zz-sesame <version> [<image>]`, DEB_MAINT_PARAMS set.\n\
         {PRELUDE}\
         exec \"$sesame\" hook postrm --root \"$root\" \"$@\" </dev/null >&2\n"
    )
}

/// `/usr/lib/kernel/install.d/50-sesame.install`.
pub fn kernel_install_plugin(how: Compression) -> String {
    format!(
        "#!/bin/sh\n\
         {MARKER}\n\
         # kernel-install plugin: `50-sesame.install add|remove <version> <entry dir> [<kernel> [<initrd>…]]`.\n\
         # With initrd_generator=sesame in /etc/kernel/install.conf it builds the entry's initrd\n\
         # into $KERNEL_INSTALL_STAGING_AREA; otherwise it keeps /boot/sesame-initrd.img-<version>\n\
         # (unless it runs from a Debian kernel package, whose postinst.d hook already does).\n\
         {PRELUDE}\
         exec \"$sesame\" hook kernel-install --root \"$root\"{} \"$@\"\n",
        compress_arg(how)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_marked_and_pass_the_root_and_compression_on() {
        for s in [
            deb_postinst(Compression::Zstd),
            deb_postrm(),
            kernel_install_plugin(Compression::Gzip),
            super::super::grub::script(),
        ] {
            assert!(s.starts_with("#!/bin/sh\n"), "{s}");
            assert!(is_ours(&s), "{s}");
        }
        assert!(deb_postinst(Compression::Gzip)
            .contains("hook postinst --root \"$root\" --compress gzip \"$@\""));
        assert!(deb_postinst(Compression::Zstd).contains("hook postinst --root \"$root\" \"$@\""));
        assert!(kernel_install_plugin(Compression::None).contains("--compress none"));
        assert!(!is_ours("#!/bin/sh\necho someone else's\n"));
    }

    #[test]
    fn a_hook_without_the_binary_does_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let hook = dir.path().join("zz-sesame");
        std::fs::write(&hook, deb_postinst(Compression::Zstd)).unwrap();
        let out = std::process::Command::new("sh")
            .arg(&hook)
            .args(["6.1.0-1-test", "/boot/vmlinuz-6.1.0-1-test"])
            .env("SESAME_ROOT", dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    }
}
