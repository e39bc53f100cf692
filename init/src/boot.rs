//! The boot sequence of PID 1, top to bottom:
//!
//! kernel filesystems → command line and config → modules → (network ∥ devices and
//! volumes ∥ SSH ∥ console) → volumes open → root mounted → `rd.break`? → teardown →
//! switch_root.
//!
//! Any failure or panic lands in the emergency state, which says what failed and waits
//! for `retry`, `reboot` or `poweroff` from the console or SSH; PID 1 never exits.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::{self, CONFIG_PATH};
use crate::console_task::{self, Mode};
use crate::control::{Control, ControlMsg};
use crate::root::{self, RootContext};
use crate::settings::Settings;
use crate::switch_root::{self, SwitchPlan};
use crate::timeline::{Timeline, TIMELINE_PATH};
use crate::view::{self, View};
use crate::waiting::{last_resort, next_control, Waiting};
use crate::{
    cmdline, console, drivers, kernelfs, logger, network, ssh, test_hooks, uevent, unlock,
};
use sesame_remote::Stage;

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

/// The boot: one preparation, the services that live until switch_root, then attempts
/// at the real root until one succeeds.
async fn supervise(timeline: Timeline, devkmsg: Option<String>) -> ! {
    tokio::spawn(reap_children());
    let (controls_tx, mut controls) = mpsc::channel::<ControlMsg>(8);
    let console_input = console::start();

    // The console answers from the start, even if preparing fails.
    let console = console_task::start(console_input, controls_tx.clone());

    // Command line, config, modules. A failure here (a bug: it reads files and
    // parses) still lands in the emergency state, on the console alone.
    let ctx = loop {
        match tokio::spawn(prepare(timeline.clone())).await {
            Ok(ctx) => break Arc::new(ctx),
            Err(e) => {
                let why = format!("preparing the boot failed: {e}");
                log::error!(
                    "the boot stopped: {why}; the console takes `retry`, `reboot`, `poweroff`"
                );
                console.set(Mode::Commands {
                    can_continue: false,
                });
                next_control(&mut controls, Waiting::Emergency).await;
            }
        }
    };
    let s = &ctx.settings;
    console.set_unlock(ctx.unlock.clone().filter(|_| s.console_prompt));

    // Side by side from here on: none of them waits for another.
    let net = network::start(s, timeline.clone()).await;
    let view = View::start(
        s.hostname.clone().unwrap_or_else(view::hostname),
        ctx.unlock.clone(),
        net.clone(),
        timeline.clone(),
    );
    let mut ssh = ssh::start(
        s,
        ctx.unlock.clone(),
        view.subscribe(),
        controls_tx.clone(),
        net.first_address.clone(),
        timeline.clone(),
    );

    loop {
        // Volumes open, root found and mounted, its init checked.
        view.set_stage(Stage::Booting);
        console.set(Mode::Unlock);
        let attempt = tokio::spawn(root::find_and_mount(ctx.clone()));
        let plan = match attempt_or_control(attempt, &mut controls).await {
            Ok(plan) => plan,
            Err(why) => {
                emergency(&why, &view, &console, &mut controls).await;
                root::unmount_sysroot();
                continue;
            }
        };

        // rd.break: stop until an operator says `continue`.
        if s.rd_break {
            log::info!("rd.break: the real root is mounted on /sysroot; `continue` boots it");
            view.set_stage(Stage::Break);
            console.set(Mode::Commands { can_continue: true });
            if next_control(&mut controls, Waiting::Break).await != Control::Continue {
                root::unmount_sysroot();
                continue;
            }
        }
        // Run on the supervisor itself, not in a task: a panic here must not unwind out
        // of PID 1's runtime.
        let checked = guarded("the checks before switch_root", || {
            test_hooks::checkpoint(s, "switch");
            switch_root::preflight(&plan)
        });
        if let Err(e) = checked {
            emergency(&format!("{e:#}"), &view, &console, &mut controls).await;
            root::unmount_sysroot();
            continue;
        }

        // No driver is left half-loaded for the real system (bounded: a stuck probe
        // must not hold the boot).
        let mut ready = ctx.drivers_ready.clone();
        let _ = tokio::time::timeout(Duration::from_secs(5), ready.wait_for(|r| *r)).await;

        // Teardown: SSH closed cleanly, the network down unless kept, keyfile mounts released.
        view.set_stage(Stage::SwitchingRoot);
        console.set(Mode::Idle);
        console_task::echo_on();
        if let Some(server) = ssh.take() {
            server.shutdown().await;
        }
        net.shutdown(s.net_keep).await;
        if s.net_keep {
            let root = std::path::Path::new(crate::rootfs::SYSROOT);
            if let Some(w) = crate::network::kept_interface_rename_warning(&s.cmdline_words, root) {
                log::warn!("{w}");
            }
        }
        if let Some(u) = &ctx.unlock {
            u.before_switch_root(s.keyring);
        }
        record_dm_devices_for_udev();
        timeline.mark("switch_root", Some(plan.init.clone()));
        log::info!("switching to the real root, exec {}", plan.init);
        kernelfs::restore_kmsg(devkmsg.as_deref());
        let err = match guarded::<()>("switch_root", || Err(switch_to(&plan, &timeline))) {
            Err(e) => e,
            Ok(()) => anyhow::anyhow!("switch_root returned without switching"),
        };

        // Only reached when the final step failed after the teardown.
        kernelfs::unlimit_kmsg();
        ssh = ssh::start(
            s,
            ctx.unlock.clone(),
            view.subscribe(),
            controls_tx.clone(),
            net.first_address.clone(),
            timeline.clone(),
        );
        emergency(
            &format!("switch_root failed: {err:#}"),
            &view,
            &console,
            &mut controls,
        )
        .await;
        root::unmount_sysroot();
    }
}

/// Runs `step` on the supervisor's own stack, turning a panic (already logged by the
/// panic hook as an internal error) into an error, so the emergency state takes it.
fn guarded<T>(what: &str, step: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(step))
        .unwrap_or_else(|_| Err(anyhow::anyhow!("internal error in {what} (see the log)")))
}

/// The work done once per boot: command line, config, modules, the volumes to open.
async fn prepare(timeline: Timeline) -> RootContext {
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
    test_hooks::checkpoint(&settings, "prepare");
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
    let (drivers_tx, drivers_ready) = tokio::sync::watch::channel(false);
    let loader = drivers::load_modules(&settings, uevents.as_ref(), &timeline, drivers_tx).await;
    let unlock = unlock::start(
        &settings,
        loader.clone(),
        uevents.as_ref(),
        timeline.clone(),
    );
    RootContext {
        settings,
        loader,
        uevents,
        timeline,
        unlock,
        drivers_ready,
    }
}

/// Waits for a boot attempt while answering controls: reboot and poweroff act at once,
/// the others are refused with the reason.
async fn attempt_or_control(
    mut attempt: tokio::task::JoinHandle<anyhow::Result<SwitchPlan>>,
    controls: &mut mpsc::Receiver<ControlMsg>,
) -> Result<SwitchPlan, String> {
    let waiting = async {
        loop {
            next_control(controls, Waiting::Booting).await;
        }
    };
    tokio::select! {
        done = &mut attempt => match done {
            Ok(Ok(plan)) => Ok(plan),
            Ok(Err(e)) => Err(format!("{e:#}")),
            Err(e) => Err(format!("internal error: {e}")),
        },
        never = waiting => never,
    }
}

/// Says what failed and what can be done, then waits for `retry` (returns) or
/// `reboot`/`poweroff` (which do not).
async fn emergency(
    why: &str,
    view: &View,
    console: &console_task::Console,
    controls: &mut mpsc::Receiver<ControlMsg>,
) {
    log::error!("the boot stopped: {why}");
    log::error!(
        "emergency: fix the cause (kernel command line, disk, config; unlock a forgotten \
         volume over SSH), then `retry`; or `reboot`, `poweroff`"
    );
    view.add_error(why.to_string());
    view.set_stage(Stage::Emergency {
        reason: why.to_string(),
    });
    console.set(Mode::Commands {
        can_continue: false,
    });
    next_control(controls, Waiting::Emergency).await;
    log::info!("retrying the boot");
}

/// Leaves the udev database records of the device-mapper devices this boot made, and
/// their `/dev/mapper` links as udev makes them, so the real root's udev treats them as
/// activated (see `sesame_storage::udev_db` and `mapper_nodes`).
fn record_dm_devices_for_udev() {
    use sesame_storage::{mapper_nodes, udev_db};
    let (devices, mut problems) = udev_db::dm_devices(std::path::Path::new("/sys/block"));
    let (written, more) = udev_db::write_records(&devices, std::path::Path::new("/run/udev/data"));
    problems.extend(more);
    let (_, more) = mapper_nodes::link_mapper_nodes(std::path::Path::new("/dev"), &devices);
    problems.extend(more);
    for p in problems {
        log::warn!("udev database: {p}; the real system may wait for this device");
    }
    if !written.is_empty() {
        log::info!("udev database records for {}", written.join(", "));
    }
}

/// The final step: switch_root, leaving `initramfs_freed` in the moved timeline.
/// Returns only the error.
fn switch_to(plan: &SwitchPlan, timeline: &Timeline) -> anyhow::Error {
    let timeline = timeline.clone();
    match switch_root::switch_root(plan, move |freed| {
        timeline.mark(
            "initramfs_freed",
            Some(format!("{} files, {} KiB", freed.files, freed.bytes / 1024)),
        )
    }) {
        Err(e) => e,
        Ok(never) => match never {},
    }
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
