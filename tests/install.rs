//! `sesame install`, `uninstall`, the kernel hooks and `sesame check`, run as the real
//! binary on a scratch root: a folder holding `/etc`, `/boot` and a fake kernel version
//! tree (`/lib/modules/<version>` with a few real modules of the Debian test kernel and
//! their index). The hooks are run as the package managers run them, with
//! `SESAME_ROOT` pointing them at the scratch root, so nothing touches the host's /boot
//! or /etc.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{ensure, Context, Result};
use sesame_qemu::{debian_kernel, luks_encrypt, sesame_binary, Kernel, LuksOptions};
use sesame_tests::test_dir;

/// A public key allowed to unlock (its private half was thrown away).
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJhaZEow6K3Z1w6l6B2DAeSM9LD5yKwoUofuGE+R/OdG operator@laptop";

/// The modules the fake kernels carry: a disk, a NIC, dm-crypt, and what they need; a
/// cipher beyond AES.
const MODULES: &[&str] = &[
    "virtio_blk",
    "virtio_net",
    "net_failover",
    "failover",
    "virtio",
    "virtio_ring",
    "dm-crypt",
    "dm-mod",
    "camellia_generic",
];

struct Scratch {
    dir: PathBuf,
    root: PathBuf,
    sesame: PathBuf,
    kernel: Kernel,
}

impl Scratch {
    fn new(name: &str) -> Result<Scratch> {
        let sesame = sesame_binary()?;
        let kernel = debian_kernel()?;
        let dir = test_dir(name)?;
        let root = dir.join("root");
        for d in ["etc", "boot", "usr/sbin", "lib/modules"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        chmod(&root.join("boot"), 0o700)?;
        Ok(Scratch {
            dir,
            root,
            sesame,
            kernel,
        })
    }

    fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    /// Puts a kernel `version` under the root as its package would: `/boot/vmlinuz-*`,
    /// `/boot/config-*` and `/lib/modules/<version>` with a few real modules and the
    /// index lines that name them.
    fn add_kernel(&self, version: &str) -> Result<()> {
        let src = &self.kernel.modules_dir;
        let dst = self.path("/lib/modules").join(version);
        let wanted = |path: &str| {
            let file = path.rsplit('/').next().unwrap_or(path);
            MODULES.iter().any(|m| file == format!("{m}.ko"))
        };
        let dep = std::fs::read_to_string(src.join("modules.dep"))?;
        let mut lines = String::new();
        for line in dep.lines() {
            let Some((module, _)) = line.split_once(':') else {
                continue;
            };
            if !wanted(module) {
                continue;
            }
            let to = dst.join(module);
            std::fs::create_dir_all(to.parent().context("module path")?)?;
            std::fs::copy(src.join(module), &to)
                .with_context(|| format!("copying {module} from the test kernel"))?;
            lines.push_str(line);
            lines.push('\n');
        }
        ensure!(
            lines.lines().count() == MODULES.len(),
            "the test kernel lacks some of {MODULES:?}:\n{lines}"
        );
        std::fs::write(dst.join("modules.dep"), lines)?;
        let alias = std::fs::read_to_string(src.join("modules.alias"))?;
        let names: Vec<String> = MODULES.iter().map(|m| m.replace('-', "_")).collect();
        let alias: String = alias
            .lines()
            .filter(|l| {
                l.rsplit(' ')
                    .next()
                    .is_some_and(|m| names.iter().any(|n| n == m))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(dst.join("modules.alias"), alias)?;
        std::fs::copy(src.join("modules.builtin"), dst.join("modules.builtin"))?;
        let boot = self.kernel.vmlinuz.parent().context("kernel's boot dir")?;
        std::fs::copy(
            boot.join(format!("config-{}", self.kernel.version)),
            self.path(&format!("/boot/config-{version}")),
        )?;
        std::fs::write(
            self.path(&format!("/boot/vmlinuz-{version}")),
            b"not a kernel",
        )?;
        Ok(())
    }

    /// `/etc/sesame/authorized_keys` holding [`KEY`], in a private `/etc/sesame`.
    fn add_authorized_keys(&self) -> Result<()> {
        std::fs::create_dir_all(self.path("/etc/sesame"))?;
        chmod(&self.path("/etc/sesame"), 0o700)?;
        std::fs::write(self.path("/etc/sesame/authorized_keys"), format!("{KEY}\n"))?;
        Ok(())
    }

    fn keys_file(&self) -> Result<PathBuf> {
        let p = self.dir.join("operator.pub");
        std::fs::write(&p, format!("{KEY}\n"))?;
        Ok(p)
    }

    fn image(&self, version: &str) -> PathBuf {
        self.path(&format!("/boot/sesame-initrd.img-{version}"))
    }

    /// Runs the binary under test with `args`; the output is kept in the test's folder.
    fn sesame(&self, args: &[&str]) -> Result<Output> {
        let mut cmd = Command::new(&self.sesame);
        cmd.args(args);
        self.run(cmd)
    }

    /// `sesame <args> --root <root>`.
    fn rooted(&self, args: &[&str]) -> Result<Output> {
        let mut all = args.to_vec();
        let root = self.root.to_str().context("root path")?;
        all.extend(["--root", root]);
        self.sesame(&all)
    }

    /// Runs an installed hook as the package manager would, with `SESAME_ROOT` set and
    /// `env` added.
    fn hook(&self, hook: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Output> {
        let mut cmd = Command::new(self.path(hook));
        cmd.args(args)
            .env("SESAME_ROOT", &self.root)
            .env_remove("DEB_MAINT_PARAMS")
            .env_remove("KERNEL_INSTALL_INITRD_GENERATOR")
            .env_remove("KERNEL_INSTALL_STAGING_AREA")
            .envs(env.iter().copied());
        self.run(cmd)
    }

    fn run(&self, mut cmd: Command) -> Result<Output> {
        let shown = format!("{cmd:?}");
        let out = cmd.output().with_context(|| format!("running {shown}"))?;
        let log = self.dir.join("commands.log");
        let text = format!(
            "$ {shown}\n{}\n{}{}\n",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let old = std::fs::read_to_string(&log).unwrap_or_default();
        std::fs::write(&log, old + &text)?;
        eprint!("{text}");
        Ok(out)
    }

    /// Every file under the root with its size and mode, to see that nothing changed.
    fn snapshot(&self) -> Vec<(PathBuf, u64, u32)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64, u32)>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
                    continue;
                };
                out.push((e.path(), meta.len(), meta.permissions().mode()));
                if meta.is_dir() {
                    walk(&e.path(), out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out.sort();
        out
    }
}

fn chmod(p: &Path, mode: u32) -> Result<()> {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", p.display()))
}

fn mode(p: &Path) -> Result<u32> {
    Ok(std::fs::metadata(p)
        .with_context(|| format!("{} should exist", p.display()))?
        .permissions()
        .mode()
        & 0o7777)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn succeeded(o: &Output, what: &str) -> Result<String> {
    ensure!(
        o.status.success(),
        "{what} failed ({}):\n{}{}",
        o.status,
        stdout(o),
        stderr(o)
    );
    Ok(stdout(o))
}

const V1: &str = "6.1.0-1-sesametest";
const V2: &str = "6.1.0-2-sesametest";

#[test]
fn install_dry_run_install_again_and_uninstall() -> Result<()> {
    let s = Scratch::new("install_dry_run_install_again_and_uninstall")?;
    s.add_kernel(V1)?;
    let keys = s.keys_file()?;
    let keys = keys.to_str().context("keys path")?;
    let r = |p: &str| s.path(p).display().to_string();

    // The plan, and nothing changed.
    let before = s.snapshot();
    let out = s.rooted(&["install", "--dry-run", "--authorized-keys", keys])?;
    let plan = succeeded(&out, "install --dry-run")?;
    for line in [
        format!("  would write {} (from", r("/usr/sbin/sesame")),
        format!("  would create {}", r("/etc/sesame")),
        format!("  would write {} (every key", r("/etc/sesame/config.toml")),
        format!("  would write {} (from", r("/etc/sesame/authorized_keys")),
        format!("  would write {}", r("/etc/kernel/postinst.d/zz-sesame")),
        format!("  would write {}", r("/etc/kernel/postrm.d/zz-sesame")),
        format!(
            "  would write {}",
            r("/usr/lib/kernel/install.d/50-sesame.install")
        ),
        format!("  would build {} (kernel {V1})", s.image(V1).display()),
    ] {
        ensure!(plan.contains(&line), "the plan lacks {line:?}:\n{plan}");
    }
    ensure!(plan.contains("would make 8 change(s)"), "{plan}");
    ensure!(s.snapshot() == before, "--dry-run changed the root");

    // The install does what the plan said.
    let out = s.rooted(&["install", "--authorized-keys", keys])?;
    let done = succeeded(&out, "install")?;
    ensure!(done.contains("sesame install: 8 change(s)"), "{done}");
    ensure!(
        std::fs::read(s.path("/usr/sbin/sesame"))? == std::fs::read(&s.sesame)?,
        "/usr/sbin/sesame is not the binary under test"
    );
    ensure!(mode(&s.path("/usr/sbin/sesame"))? == 0o755);
    for hook in [
        "/etc/kernel/postinst.d/zz-sesame",
        "/etc/kernel/postrm.d/zz-sesame",
        "/usr/lib/kernel/install.d/50-sesame.install",
    ] {
        ensure!(mode(&s.path(hook))? == 0o755, "{hook} is not executable");
    }
    ensure!(mode(&s.path("/etc/sesame"))? == 0o700);
    ensure!(mode(&s.path("/etc/sesame/authorized_keys"))? == 0o600);
    let config = std::fs::read_to_string(s.path("/etc/sesame/config.toml"))?;
    ensure!(config.contains("#port = 22"), "{config}");
    ensure!(mode(&s.image(V1))? == 0o600, "the image must be mode 0600");
    ensure!(
        done.contains(&format!("  built {}", s.image(V1).display())),
        "{done}"
    );
    ensure!(done.contains("sesame install --bootloader"), "{done}");
    ensure!(done.contains("initrd_generator=sesame"), "{done}");
    let image = s.image(V1);
    let image_s = image.to_str().context("image path")?;
    let listing = succeeded(&s.sesame(&["ls", image_s])?, "sesame ls")?;
    for file in [
        " init\n",
        "etc/sesame/authorized_keys",
        "etc/sesame/config.toml",
        &format!("lib/modules/{V1}/kernel/drivers/net/virtio_net.ko.zst"),
        &format!("lib/modules/{V1}/kernel/drivers/md/dm-crypt.ko.zst"),
    ] {
        ensure!(listing.contains(file), "the image lacks {file}:\n{listing}");
    }
    let keys_in_image = succeeded(
        &s.sesame(&["cat", image_s, "etc/sesame/authorized_keys"])?,
        "sesame cat",
    )?;
    ensure!(keys_in_image.contains(KEY), "{keys_in_image}");

    // Again: nothing changes, the image is not even rewritten.
    let modified = std::fs::metadata(&image)?.modified()?;
    let again = succeeded(
        &s.rooted(&["install", "--authorized-keys", keys])?,
        "second install",
    )?;
    ensure!(
        again.contains("sesame install: nothing to change"),
        "{again}"
    );
    ensure!(
        !again.contains("would") && !again.contains("  wrote"),
        "{again}"
    );
    ensure!(std::fs::metadata(&image)?.modified()? == modified);

    // An edited config is kept and rebuilt into the image; diff shows it.
    let old = s.dir.join("old.img");
    std::fs::copy(&image, &old)?;
    std::fs::write(
        s.path("/etc/sesame/config.toml"),
        config.replace("#port = 22", "port = 2222"),
    )?;
    let third = succeeded(&s.rooted(&["install"])?, "install after an edit")?;
    ensure!(third.contains("(yours: kept as it is)"), "{third}");
    ensure!(third.contains(&format!("  rebuilt {image_s}")), "{third}");
    ensure!(third.contains("sesame install: 1 change(s)"), "{third}");
    let cfg = succeeded(
        &s.sesame(&["cat", image_s, "etc/sesame/config.toml"])?,
        "sesame cat",
    )?;
    ensure!(cfg.lines().any(|l| l == "port = 2222"), "{cfg}");
    let diff = s.sesame(&["diff", old.to_str().context("path")?, image_s])?;
    ensure!(
        diff.status.code() == Some(1),
        "diff of different images must exit 1"
    );
    let diff = stdout(&diff);
    ensure!(diff.contains("~ etc/sesame/config.toml"), "{diff}");
    ensure!(diff.contains("  + port = 2222"), "{diff}");

    // --bootloader on a Debian tree: the GRUB script, and update-grub to run in the chroot.
    let update_grub = s.path("/usr/sbin/update-grub");
    std::fs::write(&update_grub, "#!/bin/sh\nexit 1\n")?;
    chmod(&update_grub, 0o755)?;
    let grub = succeeded(
        &s.rooted(&["install", "--bootloader"])?,
        "install --bootloader",
    )?;
    let script = s.path("/etc/grub.d/09_sesame");
    ensure!(
        grub.contains(&format!("  wrote {}", script.display())),
        "{grub}"
    );
    ensure!(
        grub.contains(&format!("run `chroot {} update-grub`", s.root.display())),
        "{grub}"
    );
    ensure!(mode(&script)? == 0o755);
    std::fs::remove_file(&update_grub)?;

    // Uninstall: the plan, then everything but /etc/sesame, then nothing left to do.
    let before = s.snapshot();
    let plan = succeeded(
        &s.rooted(&["uninstall", "--dry-run"])?,
        "uninstall --dry-run",
    )?;
    ensure!(
        plan.contains(&format!("  would remove {image_s}")),
        "{plan}"
    );
    ensure!(
        s.snapshot() == before,
        "uninstall --dry-run changed the root"
    );
    let gone = succeeded(&s.rooted(&["uninstall"])?, "uninstall")?;
    ensure!(gone.contains("sesame uninstall: 6 change(s)"), "{gone}");
    for p in [
        "/usr/sbin/sesame",
        "/etc/kernel/postinst.d/zz-sesame",
        "/etc/kernel/postrm.d/zz-sesame",
        "/usr/lib/kernel/install.d/50-sesame.install",
        "/etc/grub.d/09_sesame",
    ] {
        ensure!(!s.path(p).exists(), "{p} is still there");
    }
    ensure!(!image.exists());
    ensure!(s.path("/etc/sesame/config.toml").exists());
    let nothing = succeeded(&s.rooted(&["uninstall"])?, "second uninstall")?;
    ensure!(nothing.contains("nothing to remove"), "{nothing}");
    succeeded(&s.rooted(&["uninstall", "--purge"])?, "uninstall --purge")?;
    ensure!(!s.path("/etc/sesame").exists());
    Ok(())
}

#[test]
fn kernel_hooks_build_and_remove_images_as_package_managers_run_them() -> Result<()> {
    let s = Scratch::new("kernel_hooks_build_and_remove_images_as_package_managers_run_them")?;
    // A root without a kernel yet (as right after debootstrap): install says the hooks
    // will build the image.
    let keys = s.keys_file()?;
    let out = s.rooted(&[
        "install",
        "--authorized-keys",
        keys.to_str().context("path")?,
    ])?;
    let done = succeeded(&out, "install without a kernel")?;
    ensure!(done.contains("no kernel under"), "{done}");

    // Debian: the kernel package's postinst runs postinst.d/zz-sesame <version> <image>.
    s.add_kernel(V1)?;
    let deb = [("DEB_MAINT_PARAMS", "configure")];
    let vmlinuz = format!("/boot/vmlinuz-{V1}");
    let out = s.hook("/etc/kernel/postinst.d/zz-sesame", &[V1, &vmlinuz], &deb)?;
    succeeded(&out, "the postinst.d hook")?;
    ensure!(
        stdout(&out).is_empty(),
        "the hook must write to stderr only"
    );
    ensure!(stderr(&out).contains("sesame: wrote"), "{}", stderr(&out));
    ensure!(mode(&s.image(V1))? == 0o600);
    let listing = stdout(&s.sesame(&["ls", s.image(V1).to_str().context("path")?])?);
    ensure!(listing.contains(&format!("lib/modules/{V1}/")), "{listing}");

    // systemd-boot on Debian calls kernel-install from postinst.d too: left to zz-sesame.
    let entry = format!("/boot/efi/0123/{V1}");
    let add = ["add", V1, entry.as_str(), vmlinuz.as_str()];
    let plugin = "/usr/lib/kernel/install.d/50-sesame.install";
    let out = s.hook(plugin, &add, &deb)?;
    ensure!(
        succeeded(&out, "kernel-install under dpkg")?.contains("the Debian hook"),
        "{}",
        stdout(&out)
    );

    // Removing the kernel removes its image, and only its.
    s.add_kernel(V2)?;
    succeeded(
        &s.hook("/etc/kernel/postinst.d/zz-sesame", &[V2], &deb)?,
        "postinst.d for a second kernel",
    )?;
    ensure!(s.image(V2).exists());
    succeeded(
        &s.hook(
            "/etc/kernel/postrm.d/zz-sesame",
            &[V2, "/boot/vmlinuz-x"],
            &deb,
        )?,
        "postrm.d",
    )?;
    ensure!(!s.image(V2).exists() && s.image(V1).exists());

    // kernel-install elsewhere (Fedora, Arch): add builds /boot's image, remove removes it.
    let v2_add = ["add", V2, entry.as_str(), "/boot/vmlinuz-x"];
    succeeded(&s.hook(plugin, &v2_add, &[])?, "kernel-install add")?;
    ensure!(s.image(V2).exists());
    succeeded(
        &s.hook(plugin, &["remove", V2, entry.as_str()], &[])?,
        "kernel-install remove",
    )?;
    ensure!(!s.image(V2).exists());

    // With initrd_generator=sesame the image goes to the staging area for the entry.
    let staging = s.dir.join("staging");
    std::fs::create_dir_all(&staging)?;
    let env = [
        ("KERNEL_INSTALL_INITRD_GENERATOR", "sesame"),
        (
            "KERNEL_INSTALL_STAGING_AREA",
            staging.to_str().context("path")?,
        ),
    ];
    succeeded(
        &s.hook(plugin, &v2_add, &env)?,
        "kernel-install as generator",
    )?;
    ensure!(staging.join("initrd").is_file() && !s.image(V2).exists());

    // A check that fails fails the hook, with the reason, and builds nothing.
    std::fs::remove_file(s.path("/etc/sesame/authorized_keys"))?;
    let out = s.hook("/etc/kernel/postinst.d/zz-sesame", &[V2], &deb)?;
    ensure!(!out.status.success(), "the hook must fail without keys");
    let err = stderr(&out);
    ensure!(err.contains("error: no authorized_keys"), "{err}");
    ensure!(err.contains(&format!("no image for kernel {V2}")), "{err}");
    ensure!(!s.image(V2).exists());
    Ok(())
}

#[test]
fn check_reports_each_problem_the_test_introduces() -> Result<()> {
    let s = Scratch::new("check_reports_each_problem_the_test_introduces")?;
    s.add_kernel(V1)?;
    s.add_authorized_keys()?;
    // A build generates the host key into /etc/sesame.
    let img = s.dir.join("x.img");
    let img = img.to_str().context("path")?;
    succeeded(
        &s.rooted(&["build", "--kernel-version", V1, "--output", img])?,
        "build",
    )?;
    let check = |extra: &[&str]| -> Result<(Option<i32>, String)> {
        let mut args = vec!["check", "--kernel-version", V1];
        args.extend(extra);
        let out = s.rooted(&args)?;
        Ok((out.status.code(), stdout(&out)))
    };
    /// The line of `out` that says `text`, which must be tagged `tag`.
    fn line_with(out: &str, tag: &str, text: &str) -> Result<()> {
        let line = out
            .lines()
            .find(|l| l.contains(text))
            .with_context(|| format!("no line says {text:?}:\n{out}"))?;
        ensure!(line.starts_with(tag), "{line:?} should be a {tag}:\n{out}");
        Ok(())
    }

    let (code, out) = check(&[])?;
    ensure!(
        code == Some(0) && !out.contains("error:"),
        "a clean root:\n{out}"
    );
    ensure!(!out.contains("warning:"), "a clean root:\n{out}");

    // The config.
    let config = s.path("/etc/sesame/config.toml");
    std::fs::write(&config, "[ssh]\nprot = 22\n")?;
    let (code, out) = check(&[])?;
    ensure!(code == Some(1), "{out}");
    line_with(&out, "error:", "prot")?;
    line_with(&out, "error:", "sesame help config")?;
    ensure!(out.contains("problem(s) would break the boot"), "{out}");
    std::fs::remove_file(&config)?;

    // authorized_keys without a key.
    let keys = s.path("/etc/sesame/authorized_keys");
    std::fs::write(&keys, "# nobody yet\n")?;
    let (code, out) = check(&[])?;
    ensure!(code == Some(1), "{out}");
    line_with(&out, "error:", "holds no public key")?;
    std::fs::write(&keys, format!("{KEY}\n"))?;

    // A crypttab volume whose UUID is on no device of this host.
    let crypttab = s.path("/etc/crypttab");
    std::fs::write(
        &crypttab,
        "root UUID=11111111-2222-3333-4444-555555555555 none luks,initramfs\n",
    )?;
    let (code, out) = check(&[])?;
    ensure!(code == Some(1), "{out}");
    line_with(&out, "error:", "no device UUID=11111111")?;
    std::fs::remove_file(&crypttab)?;

    // A NIC whose driver the image would not carry.
    let driver = s.path("/sys/class/net/eth0/device/driver");
    std::fs::create_dir_all(&driver)?;
    std::os::unix::fs::symlink("../../../../module/e1000e", driver.join("module"))?;
    let (code, out) = check(&[])?;
    ensure!(code == Some(1), "{out}");
    line_with(
        &out,
        "error:",
        "eth0: driver e1000e would not be in the image",
    )?;
    std::fs::remove_file(driver.join("module"))?;
    std::os::unix::fs::symlink("../../../../module/virtio_net", driver.join("module"))?;
    let (code, out) = check(&[])?;
    ensure!(code == Some(0), "{out}");
    line_with(&out, "ok:", "eth0: driver virtio_net is in the image")?;

    // A root filesystem whose module the image would not carry.
    std::fs::create_dir_all(s.path("/proc/self"))?;
    std::fs::write(s.path("/proc/self/mounts"), "/dev/vda1 / xfs rw 0 0\n")?;
    let (code, out) = check(&[])?;
    ensure!(code == Some(1), "{out}");
    line_with(&out, "error:", "root filesystem is xfs")?;
    std::fs::remove_file(s.path("/proc/self/mounts"))?;

    // A kernel that cannot unpack zstd.
    let kconfig = s.path(&format!("/boot/config-{V1}"));
    let real = std::fs::read_to_string(&kconfig)?;
    std::fs::write(&kconfig, "CONFIG_RD_GZIP=y\n# CONFIG_RD_ZSTD is not set\n")?;
    let (code, out) = check(&[])?;
    ensure!(code == Some(1), "{out}");
    line_with(&out, "error:", "use --compress gzip")?;
    let (code, out) = check(&["--compress", "gzip"])?;
    ensure!(code == Some(0), "{out}");
    std::fs::write(&kconfig, real)?;

    // Readable secrets are warnings, with the fix.
    let host_key = s.path("/etc/sesame/ssh_host_ed25519_key");
    chmod(&host_key, 0o644)?;
    chmod(&s.path("/boot"), 0o755)?;
    let (code, out) = check(&[])?;
    ensure!(code == Some(0), "warnings alone must not fail:\n{out}");
    line_with(
        &out,
        "warning:",
        "ssh_host_ed25519_key is readable by other users",
    )?;
    line_with(&out, "warning:", "chmod 700")?;
    Ok(())
}

#[test]
fn build_runs_the_checks_first_and_no_check_skips_them() -> Result<()> {
    let s = Scratch::new("build_runs_the_checks_first_and_no_check_skips_them")?;
    s.add_kernel(V1)?;
    let img = s.dir.join("x.img");
    let img_arg = img.to_str().context("path")?;
    let build = |extra: &[&str]| -> Result<Output> {
        let mut args = vec!["build", "--kernel-version", V1, "--output", img_arg];
        args.extend(extra);
        s.rooted(&args)
    };

    // No authorized_keys: the check's error, its fix, and no image.
    let out = build(&[])?;
    let text = stdout(&out);
    ensure!(out.status.code() == Some(1), "{text}{}", stderr(&out));
    ensure!(
        text.lines()
            .any(|l| l.starts_with("error:") && l.contains("no authorized_keys")),
        "{text}"
    );
    ensure!(text.contains("no image written"), "{text}");
    ensure!(text.contains("--no-check"), "{text}");
    ensure!(!img.exists(), "{} written despite the error", img.display());

    // --no-check builds it anyway (an image for another machine).
    succeeded(&build(&["--no-check"])?, "build --no-check")?;
    ensure!(img.is_file(), "--no-check wrote no {}", img.display());
    std::fs::remove_file(&img)?;

    // With a key the checks pass; a warning is shown and does not stop the build.
    s.add_authorized_keys()?;
    chmod(&s.path("/boot"), 0o755)?;
    let text = succeeded(&build(&[])?, "build with a key")?;
    ensure!(img.is_file(), "no {} after a clean check", img.display());
    ensure!(
        text.lines()
            .any(|l| l.starts_with("sesame: warning:") && l.contains("chmod 700")),
        "the /boot warning is missing:\n{text}"
    );
    ensure!(!text.contains("error:"), "{text}");
    Ok(())
}

#[test]
fn build_carries_the_cipher_of_a_crypttab_volume_on_this_host() -> Result<()> {
    let s = Scratch::new("build_carries_the_cipher_of_a_crypttab_volume_on_this_host")?;
    s.add_kernel(V1)?;
    s.add_authorized_keys()?;
    // The host's disk vdb: a LUKS2 volume with camellia, as sysfs and /dev show it.
    let sys = s.path("/sys/devices/vdb");
    std::fs::create_dir_all(&sys)?;
    std::fs::write(sys.join("size"), "40960\n")?;
    std::fs::create_dir_all(s.path("/sys/class/block"))?;
    std::os::unix::fs::symlink(&sys, s.path("/sys/class/block/vdb"))?;
    std::fs::create_dir_all(s.path("/dev"))?;
    let node = s.path("/dev/vdb");
    std::fs::File::create(&node)?.set_len(20 << 20)?;
    luks_encrypt(
        &node,
        &LuksOptions::new("not a secret").cipher("camellia-cbc-essiv:sha256", 256),
    )?;
    std::fs::write(
        s.path("/etc/crypttab"),
        "root /dev/vdb none luks,initramfs\n",
    )?;

    let img = s.dir.join("x.img");
    let img_arg = img.to_str().context("path")?;
    let out = succeeded(
        &s.rooted(&["build", "--kernel-version", V1, "--output", img_arg])?,
        "build",
    )?;
    ensure!(
        out.contains(
            "cipher beyond AES: root uses camellia-cbc-essiv:sha256 (added crypto-camellia)"
        ),
        "{out}"
    );
    let listing = succeeded(&s.sesame(&["ls", img_arg])?, "ls")?;
    ensure!(listing.contains("camellia_generic.ko"), "{listing}");
    let check = succeeded(&s.rooted(&["check", "--kernel-version", V1])?, "check")?;
    ensure!(
        check
            .lines()
            .any(|l| l.starts_with("ok: crypttab volume root")
                && l.contains(
                    "cipher camellia-cbc-essiv:sha256 (the image carries crypto-camellia)"
                )),
        "{check}"
    );
    Ok(())
}
