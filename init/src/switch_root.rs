//! switch_root: hand the machine to the real root's init. Checks first (we are PID 1,
//! `/` is the initramfs, the new root holds an executable init), moves `/dev`, `/proc`,
//! `/sys`, `/run` into it, frees the initramfs without ever crossing into another
//! filesystem, makes the new root `/`, and execs its init. Returns only on failure,
//! before anything irreversible when it can.

use std::ffi::CString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::sys::stat::Mode;
use nix::sys::statfs::{statfs, FsType, TMPFS_MAGIC};
use nix::unistd::{chdir, chroot, execve, unlinkat, UnlinkatFlags};

/// ramfs, which the initramfs is unless the kernel made it a tmpfs (nix lacks the name).
const RAMFS_MAGIC: FsType = FsType(0x858458f6);

/// The kernel filesystems carried into the new root.
const MOVED: [&str; 4] = ["/dev", "/proc", "/sys", "/run"];

/// Where init is looked for when `init=` is not given, in order, as the kernel does.
/// Unlike the kernel, no `/bin/sh` fallback: a shell on the console of a box nobody can
/// reach is worse than the emergency state, where SSH still answers.
const DEFAULT_INITS: [&str; 3] = ["/sbin/init", "/etc/init", "/bin/init"];

/// Finds the init to run inside `new_root`: `init=` if given, else the usual places.
/// The path is checked to be an executable regular file (symlinks resolved inside the
/// new root, as they will be after chroot).
pub fn find_init(new_root: &Path, requested: Option<&str>) -> Result<String> {
    let candidates: Vec<&str> = match requested {
        Some(p) => vec![p],
        None => DEFAULT_INITS.to_vec(),
    };
    let mut problems = Vec::new();
    for candidate in &candidates {
        match check_executable(new_root, candidate) {
            Ok(()) => return Ok(candidate.to_string()),
            Err(why) => problems.push(format!("{candidate}: {why}")),
        }
    }
    bail!(
        "the real root has no usable init ({}); give init=<path> or repair the root filesystem",
        problems.join("; ")
    )
}

/// Resolves `path` as it will be seen after chroot into `root`, following symlinks
/// (absolute ones relative to `root`), and checks it is an executable file.
fn check_executable(root: &Path, path: &str) -> std::result::Result<(), String> {
    let mut current = PathBuf::from(path);
    for _ in 0..40 {
        let inside = root.join(current.strip_prefix("/").unwrap_or(&current));
        let meta = std::fs::symlink_metadata(&inside).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "missing".to_string(),
            _ => e.to_string(),
        })?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&inside).map_err(|e| e.to_string())?;
            current = if target.is_absolute() {
                target
            } else {
                current.parent().unwrap_or(Path::new("/")).join(target)
            };
            continue;
        }
        if !meta.is_file() {
            return Err("not a regular file".into());
        }
        if meta.permissions().mode() & 0o111 == 0 {
            return Err("not executable".into());
        }
        return Ok(());
    }
    Err("too many symlinks".into())
}

/// Everything the final step needs.
pub struct SwitchPlan {
    pub new_root: PathBuf,
    pub init: String,
    /// argv[1..] for init: what the kernel gave us (runlevels, `single`…).
    pub args: Vec<String>,
}

/// Checks that must pass before anything is changed.
pub fn preflight(plan: &SwitchPlan) -> Result<()> {
    if nix::unistd::getpid().as_raw() != 1 {
        bail!("switch_root refused: not running as PID 1");
    }
    let fs = statfs("/").context("statfs /")?;
    let kind = fs.filesystem_type();
    if kind != RAMFS_MAGIC && kind != TMPFS_MAGIC {
        bail!("switch_root refused: / is not an initramfs (ramfs/tmpfs); nothing was deleted");
    }
    let root_dev = std::fs::metadata("/").context("stat /")?.dev();
    let new_dev = std::fs::metadata(&plan.new_root)
        .with_context(|| format!("stat {}", plan.new_root.display()))?
        .dev();
    if root_dev == new_dev {
        bail!(
            "switch_root refused: {} is not a mount point (the root was not mounted)",
            plan.new_root.display()
        );
    }
    check_executable(&plan.new_root, &plan.init)
        .map_err(|why| anyhow::anyhow!("init {} in the new root: {why}", plan.init))?;
    Ok(())
}

/// What freeing the initramfs gave back.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Freed {
    pub files: u64,
    pub bytes: u64,
}

/// Moves the kernel filesystems, frees the initramfs, enters the new root and execs init.
/// `entered` runs inside the new root just before the exec (to leave a last word in the
/// moved /run). Only returns on failure.
pub fn switch_root(
    plan: &SwitchPlan,
    entered: impl FnOnce(Freed),
) -> Result<std::convert::Infallible> {
    preflight(plan)?;
    let new_root = &plan.new_root;
    for m in MOVED {
        let target = new_root.join(&m[1..]);
        if !target.is_dir() {
            let _ = nix::unistd::mkdir(&target, Mode::from_bits_truncate(0o755));
        }
        if let Err(e) = mount(
            Some(m),
            &target,
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        ) {
            log::warn!("moving {m} into the new root failed ({e}); unmounting it instead");
            let _ = umount2(m, MntFlags::MNT_DETACH);
        }
    }
    chdir(new_root).context("chdir into the new root")?;
    let root_dev = std::fs::metadata("/").context("stat /")?.dev();
    let mut freed = Freed::default();
    if let Err(e) = free_initramfs(root_dev, &mut freed) {
        // Memory stays used, but the boot can go on.
        log::warn!("freeing the initramfs was incomplete: {e}");
    }
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .context("moving the new root onto /")?;
    chroot(".").context("chroot into the new root")?;
    chdir("/").context("chdir / in the new root")?;
    entered(freed);
    exec_init(&plan.init, &plan.args)
}

/// Deletes everything on the initramfs filesystem (device `root_dev`), never descending
/// into a directory that is on another filesystem (the new root, moved mounts).
fn free_initramfs(root_dev: u64, freed: &mut Freed) -> Result<()> {
    let dir = Dir::open("/", OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty())
        .context("opening / to free the initramfs")?;
    remove_contents(dir, root_dev, 0, freed)
}

fn remove_contents(mut dir: Dir, root_dev: u64, depth: u32, freed: &mut Freed) -> Result<()> {
    if depth > 64 {
        bail!("initramfs too deep");
    }
    let names: Vec<CString> = dir
        .iter()
        .flatten()
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    for name in names {
        let Ok(st) = nix::sys::stat::fstatat(&dir, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
        else {
            continue;
        };
        if st.st_dev != root_dev {
            continue;
        }
        let is_dir = (st.st_mode & nix::libc::S_IFMT) == nix::libc::S_IFDIR;
        if is_dir {
            if let Ok(sub) = Dir::openat(
                &dir,
                name.as_c_str(),
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
                Mode::empty(),
            ) {
                remove_contents(sub, root_dev, depth + 1, freed)?;
            }
            let _ = unlinkat(&dir, name.as_c_str(), UnlinkatFlags::RemoveDir);
        } else if unlinkat(&dir, name.as_c_str(), UnlinkatFlags::NoRemoveDir).is_ok() {
            freed.files += 1;
            freed.bytes += st.st_size.max(0) as u64;
        }
    }
    Ok(())
}

/// Execs init with the environment we were given, signals unblocked.
fn exec_init(init: &str, args: &[String]) -> Result<std::convert::Infallible> {
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let path = CString::new(init).context("init path contains NUL")?;
    let mut argv = vec![path.clone()];
    for a in args {
        argv.push(CString::new(a.as_str()).context("init argument contains NUL")?);
    }
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let err = execve(&path, &argv, &env).unwrap_err();
    Err(anyhow::anyhow!("exec {init} failed: {}", err.desc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_exec(path: &Path, mode: u32) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"#!").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn init_is_found_through_symlinks_inside_the_new_root() {
        let root = tempfile::tempdir().unwrap();
        write_exec(&root.path().join("lib/systemd/systemd"), 0o755);
        std::fs::create_dir_all(root.path().join("sbin")).unwrap();
        std::os::unix::fs::symlink("/lib/systemd/systemd", root.path().join("sbin/init")).unwrap();
        assert_eq!(find_init(root.path(), None).unwrap(), "/sbin/init");
    }

    #[test]
    fn missing_or_not_executable_init_is_explained() {
        let root = tempfile::tempdir().unwrap();
        write_exec(&root.path().join("sbin/init"), 0o644);
        let err = find_init(root.path(), None).unwrap_err().to_string();
        assert!(err.contains("/sbin/init: not executable"), "{err}");
        assert!(err.contains("init=<path>"), "{err}");
        let err = find_init(root.path(), Some("/usr/bin/nope"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/usr/bin/nope"), "{err}");
        // A dangling symlink loop does not hang.
        std::os::unix::fs::symlink("/a", root.path().join("b")).unwrap();
        std::os::unix::fs::symlink("/b", root.path().join("a")).unwrap();
        let err = find_init(root.path(), Some("/a")).unwrap_err().to_string();
        assert!(err.contains("too many symlinks"), "{err}");
    }

    #[test]
    fn preflight_refuses_outside_pid_1() {
        let root = tempfile::tempdir().unwrap();
        write_exec(&root.path().join("sbin/init"), 0o755);
        let plan = SwitchPlan {
            new_root: root.path().to_path_buf(),
            init: "/sbin/init".into(),
            args: vec![],
        };
        let err = preflight(&plan).unwrap_err().to_string();
        assert!(err.contains("PID 1"), "{err}");
    }
}
