//! The boot sequence of PID 1, top to bottom: kernel filesystems → command line and
//! config → modules (coldplug, then uevents) → the root device → mount → `rd.break`? →
//! switch_root. Any failure or panic lands in the emergency state, which says what
//! failed and waits for `retry`, `reboot` or `poweroff`; PID 1 never exits.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use tokio::sync::{broadcast, mpsc};

use crate::blockdev::wait::wait_for;
use crate::config::{self, CONFIG_PATH};
use crate::console::{self, Line};
use crate::control::{self, Control, Typed};
use crate::modules::coldplug::{self, ColdplugReport};
use crate::modules::index::ModuleIndex;
use crate::modules::load::Loader;
use crate::rootfs::{self, SYSROOT};
use crate::settings::Settings;
use crate::switch_root::{self, SwitchPlan};
use crate::timeline::{Timeline, TIMELINE_PATH};
use crate::uevent::{self, Uevent};
use crate::{cmdline, kernelfs, logger};

/// What every boot attempt shares.
struct Boot {
    settings: Settings,
    loader: Option<Arc<Loader>>,
    uevents: Option<broadcast::Sender<Arc<Uevent>>>,
    timeline: Timeline,
}

/// PID 1's entry point. Never returns.
pub fn pid1() -> ! {
    let started = logger::uptime();
    let _ = std::panic::catch_unwind(|| run(started));
    // Only reached if something panicked before the runtime took over.
    last_resort("sesame failed before the boot could start")
}

fn run(started: f64) -> ! {
    let mounted = kernelfs::mount_all();
    let console_ok = kernelfs::attach_console();
    logger::init_boot(false);
    install_panic_hook();
    if let Err(e) = mounted {
        log::error!("{e:#}");
    }
    if let Err(e) = console_ok {
        log::warn!("no console: {e:#}");
    }
    let devkmsg = kernelfs::unlimit_kmsg();
    log::info!("sesame {} starting", env!("CARGO_PKG_VERSION"));
    let timeline = Timeline::new(Some(std::path::Path::new(TIMELINE_PATH)));
    timeline.mark_at("init_start", started, None);
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(supervise(timeline, devkmsg)),
        Err(e) => last_resort(&format!("cannot start the async runtime: {e}")),
    }
}

/// Logs panics (from any thread) as errors; the supervisor turns them into the
/// emergency state.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        log::error!("internal error{place}: {what}");
    }));
}

/// Runs boot attempts until one reaches switch_root; in between, the emergency state.
async fn supervise(timeline: Timeline, devkmsg: Option<String>) -> ! {
    tokio::spawn(reap_children());
    let mut console = console::start();
    let boot = loop {
        match tokio::spawn(prepare(timeline.clone())).await {
            Ok(b) => break Arc::new(b),
            Err(e) => emergency(&format!("preparing the boot failed: {e}"), &mut console).await,
        }
    };
    loop {
        let outcome = match tokio::spawn(find_and_mount_root(boot.clone())).await {
            Ok(Ok(plan)) => Ok(plan),
            Ok(Err(e)) => Err(format!("{e:#}")),
            Err(e) => Err(format!("internal error: {e}")),
        };
        let plan = match outcome {
            Ok(plan) => plan,
            Err(e) => {
                emergency(&e, &mut console).await;
                unmount_sysroot();
                continue;
            }
        };
        if boot.settings.rd_break {
            log::info!(
                "rd.break: the real root is mounted on {SYSROOT}; type `continue` to boot it"
            );
            if wait_for_operator(&mut console, true).await != Control::Continue {
                unmount_sysroot();
                continue;
            }
        }
        boot.timeline.mark("switch_root", Some(plan.init.clone()));
        log::info!("switching to the real root, exec {}", plan.init);
        kernelfs::restore_kmsg(devkmsg.as_deref());
        let timeline = boot.timeline.clone();
        let err = match switch_root::switch_root(&plan, move |freed| {
            timeline.mark(
                "initramfs_freed",
                Some(format!("{} files, {} KiB", freed.files, freed.bytes / 1024)),
            )
        }) {
            Err(e) => e,
            Ok(never) => match never {},
        };
        kernelfs::unlimit_kmsg();
        emergency(&format!("switch_root failed: {err:#}"), &mut console).await;
        unmount_sysroot();
    }
}

/// The work done once per boot: command line, config, modules.
async fn prepare(timeline: Timeline) -> Boot {
    let raw = std::fs::read("/proc/cmdline").unwrap_or_default();
    let line = String::from_utf8_lossy(&raw)
        .trim_end_matches('\n')
        .to_string();
    let (parsed, diagnostics) = cmdline::parse(&line);
    let (file_config, config_error) = config::load_at_boot(CONFIG_PATH);
    let argv_tail: Vec<String> = std::env::args().skip(1).collect();
    let settings = Settings::resolve(
        &parsed,
        &file_config,
        cmdline::split_words(&line),
        argv_tail,
    );
    logger::set_verbose(settings.verbose);
    logger::refresh_console_loglevel();
    for d in &diagnostics {
        log::warn!("{d}");
    }
    if let Some(e) = config_error {
        log::error!("{e}; using defaults (fix the file and rebuild the image with `sesame build`)");
    }
    let uevents = match uevent::listen() {
        Ok(tx) => Some(tx),
        Err(e) => {
            log::error!("{e:#}; devices that appear later will be missed");
            None
        }
    };
    let loader = load_modules(&settings, uevents.as_ref(), &timeline).await;
    Boot {
        settings,
        loader,
        uevents,
        timeline,
    }
}

/// Coldplugs the devices present, loads what the config asks for, and keeps loading
/// drivers for devices announced later.
async fn load_modules(
    settings: &Settings,
    uevents: Option<&broadcast::Sender<Arc<Uevent>>>,
    timeline: &Timeline,
) -> Option<Arc<Loader>> {
    let started = Instant::now();
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = std::path::PathBuf::from("/lib/modules").join(&release);
    let index = match ModuleIndex::read_dir(&dir) {
        Ok(i) => i,
        Err(e) => {
            let present: Vec<String> = std::fs::read_dir("/lib/modules")
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            log::error!(
                "no modules for the running kernel {release} ({e}); the image has modules for: {}. \
                 Rebuild it for this kernel: sesame build --kernel-version {release}",
                if present.is_empty() { "none".into() } else { present.join(", ") }
            );
            timeline.mark("modules_loaded", Some("none".into()));
            return None;
        }
    };
    let loader = Arc::new(Loader::new(&dir, index, &settings.cmdline_words));
    if let Some(tx) = uevents {
        tokio::spawn(hotplug_modules(loader.clone(), tx.subscribe()));
    }
    let coldplug_loader = loader.clone();
    let report = tokio::task::spawn_blocking(move || {
        coldplug::coldplug(&coldplug_loader, std::path::Path::new("/sys/devices"))
    })
    .await
    .unwrap_or_default();
    for name in &settings.modules_load {
        if let Err(e) = loader.load(name) {
            log::warn!("{e} (listed in modules.load of the config)");
        }
    }
    log::info!(
        "modules: {} loaded for {} devices in {:.2} s",
        report.loaded.len(),
        report.modaliases,
        started.elapsed().as_secs_f64()
    );
    timeline.mark(
        "modules_loaded",
        Some(format!("{} modules", report.loaded.len())),
    );
    Some(loader)
}

/// Loads drivers for devices the kernel announces after coldplug (hot-plug, devices a
/// freshly loaded driver creates).
async fn hotplug_modules(loader: Arc<Loader>, mut events: broadcast::Receiver<Arc<Uevent>>) {
    loop {
        let ev = match events.recv().await {
            Ok(ev) => ev,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                log::debug!("{n} uevents missed; rescanning sysfs");
                let l = loader.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    coldplug::coldplug(&l, std::path::Path::new("/sys/devices"))
                })
                .await;
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if ev.action != "add" {
            continue;
        }
        let Some(alias) = ev.modalias().map(str::to_string) else {
            continue;
        };
        let l = loader.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let mut report = ColdplugReport::default();
            coldplug::load_for(&l, &alias, &mut report);
            for m in report.loaded {
                log::info!("loaded {m} for a new device ({alias})");
            }
        })
        .await;
    }
}

/// One attempt: wait for the root device, mount it, find its init.
async fn find_and_mount_root(boot: Arc<Boot>) -> Result<SwitchPlan> {
    let s = &boot.settings;
    let spec = s.root.clone().context(
        "no root device: the kernel command line has no root= and the config no boot.root; \
         add root=UUID=<uuid of the root filesystem> to the kernel command line",
    )?;
    let events = match &boot.uevents {
        Some(tx) => tx.subscribe(),
        None => broadcast::channel(1).1,
    };
    let started = Instant::now();
    log::info!(
        "waiting for root {spec}{}",
        match s.timeout {
            Some(t) => format!(" (up to {} s, rd.timeout=)", t.as_secs()),
            None => " (no time limit)".into(),
        }
    );
    let device = wait_for(&spec, events, s.timeout)
        .await
        .map_err(|e| anyhow::anyhow!("{e}. Check root= (and rd.timeout= for slow disks)"))?;
    log::info!(
        "root {spec} is {} (found in {:.2} s)",
        device.describe(),
        started.elapsed().as_secs_f64()
    );
    boot.timeline.mark("root_found", Some(device.name.clone()));
    let loader = boot.loader.clone();
    let mount_spec = s.root_mount.clone();
    let dev = device.clone();
    let fstype = tokio::task::spawn_blocking(move || {
        rootfs::mount_root(
            &dev,
            &mount_spec,
            loader.as_deref(),
            std::path::Path::new(SYSROOT),
        )
    })
    .await
    .context("mounting the root")??;
    log::info!(
        "root mounted on {SYSROOT} ({fstype}, {})",
        if rootfs::root_flags(&s.root_mount)
            .0
            .contains(nix::mount::MsFlags::MS_RDONLY)
        {
            "read-only"
        } else {
            "read-write"
        }
    );
    boot.timeline.mark(
        "root_mounted",
        Some(format!("{} {fstype}", device.node.display())),
    );
    let init = switch_root::find_init(std::path::Path::new(SYSROOT), s.init.as_deref())?;
    Ok(SwitchPlan {
        new_root: SYSROOT.into(),
        init,
        args: s.init_args.clone(),
    })
}

/// Says what failed and what can be done, then waits for the operator. Returns on
/// `retry`; `reboot` and `poweroff` do not return.
async fn emergency(what: &str, console: &mut Option<mpsc::UnboundedReceiver<Line>>) {
    log::error!("the boot stopped: {what}");
    log::error!(
        "emergency: fix the cause (kernel command line, disk, config), then type `retry`; \
         or `reboot`, `poweroff`"
    );
    loop {
        match wait_for_operator(console, false).await {
            Control::Retry => {
                log::info!("retrying the boot");
                return;
            }
            // `continue` is not offered here; wait_for_operator never returns it.
            Control::Continue => {}
            other => shutdown(other),
        }
    }
}

/// Waits for a control from the console (and, later, SSH). `reboot`/`poweroff` are
/// carried out here.
async fn wait_for_operator(
    console: &mut Option<mpsc::UnboundedReceiver<Line>>,
    can_continue: bool,
) -> Control {
    let Some(rx) = console.as_mut() else {
        // No console at all: nothing can arrive until SSH exists. Wait forever.
        std::future::pending::<()>().await;
        return Control::Retry;
    };
    console::discard_pending(rx);
    logger::console_write(&format!("sesame: {}\r\n", control::help(can_continue)));
    while let Some(line) = rx.recv().await {
        match control::parse_line(&line) {
            Typed::Control(Control::Continue) if !can_continue => {
                logger::console_write("sesame: nothing to continue; type `retry`\r\n");
            }
            Typed::Control(c @ (Control::Reboot | Control::Poweroff)) => shutdown(c),
            Typed::Control(c) => return c,
            Typed::Help => {
                logger::console_write(&format!("sesame: {}\r\n", control::help(can_continue)))
            }
            Typed::Empty => {}
            Typed::Unknown(w) => logger::console_write(&format!(
                "sesame: unknown command `{w}`; {}\r\n",
                control::help(can_continue)
            )),
        }
    }
    // The console went away; wait forever (SSH will be the way in).
    std::future::pending::<()>().await;
    Control::Retry
}

fn unmount_sysroot() {
    let _ = nix::mount::umount2(SYSROOT, nix::mount::MntFlags::MNT_DETACH);
}

/// Reboots or powers off after syncing. Does not return.
fn shutdown(how: Control) -> ! {
    log::info!("{how} requested");
    nix::unistd::sync();
    let mode = if how == Control::Poweroff {
        nix::sys::reboot::RebootMode::RB_POWER_OFF
    } else {
        nix::sys::reboot::RebootMode::RB_AUTOBOOT
    };
    let err = nix::sys::reboot::reboot(mode).err();
    last_resort(&format!("{how} failed: {err:?}"))
}

/// Reaps orphans that exit (PID 1's duty) whenever SIGCHLD arrives.
async fn reap_children() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut sig) = signal(SignalKind::child()) else {
        log::warn!("cannot watch SIGCHLD; exited processes will stay zombies");
        return;
    };
    loop {
        kernelfs::reap_zombies();
        if sig.recv().await.is_none() {
            return;
        }
    }
}

/// When nothing else works: say so and keep PID 1 alive (its exit would panic the
/// kernel), reaping children.
fn last_resort(why: &str) -> ! {
    logger::console_write(&format!(
        "sesame: FATAL: {why}. The machine is stopped; power-cycle it.\r\n"
    ));
    log::error!("{why}; stopped");
    loop {
        kernelfs::reap_zombies();
        std::thread::sleep(std::time::Duration::from_secs(5));
    }
}
