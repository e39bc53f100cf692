//! Waiting for the device a `DeviceSpec` names: rescans when the kernel announces a
//! block device (uevent), never sleeps a fixed time, and on timeout reports every device
//! that was seen so the operator knows what to fix.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sesame_crypt::device::DeviceSpec;
use tokio::sync::broadcast;

use crate::scan::{find, scan, BlockDevice};

/// An event from the kernel (a uevent, as the caller reads them) that may tell of block
/// devices: on one, the wait rescans.
pub trait DeviceEvent: Send + Sync {
    /// True when what block devices hold may have changed (a block uevent, or an
    /// overflow that may have hidden one).
    fn may_change_block_devices(&self) -> bool;
}

/// How often "still waiting" is logged.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// The device never appeared.
#[derive(Debug, thiserror::Error)]
#[error("{spec} did not appear within {waited:.0?}; devices seen: {}", seen_list(.seen))]
pub struct NotFound {
    pub spec: DeviceSpec,
    pub waited: Duration,
    pub seen: Vec<String>,
}

fn seen_list(seen: &[String]) -> String {
    if seen.is_empty() {
        "none (is the disk driver in the image? `sesame check` tells)".into()
    } else {
        seen.join("; ")
    }
}

/// Scans the system's block devices (blocking I/O, run off the async threads).
pub async fn scan_now() -> Vec<BlockDevice> {
    tokio::task::spawn_blocking(|| {
        scan(
            std::path::Path::new("/sys/class/block"),
            std::path::Path::new("/dev"),
        )
    })
    .await
    .unwrap_or_default()
}

/// Waits until `spec` names a device, or `timeout` passes (None: forever).
pub async fn wait_for<E: DeviceEvent>(
    spec: &DeviceSpec,
    mut events: broadcast::Receiver<Arc<E>>,
    timeout: Option<Duration>,
) -> Result<BlockDevice, NotFound> {
    let start = Instant::now();
    let mut next_progress = start + PROGRESS_EVERY;
    loop {
        let devices = scan_now().await;
        let matches = find(&devices, spec);
        if let Some(first) = matches.first() {
            if matches.len() > 1 {
                let names: Vec<&str> = matches.iter().map(|d| d.name.as_str()).collect();
                log::warn!(
                    "{spec} names {} devices ({}); using {}",
                    matches.len(),
                    names.join(", "),
                    first.name
                );
            }
            return Ok((*first).clone());
        }
        let now = Instant::now();
        if timeout.is_some_and(|t| now.duration_since(start) >= t) {
            return Err(NotFound {
                spec: spec.clone(),
                waited: now.duration_since(start),
                seen: devices.iter().map(BlockDevice::describe).collect(),
            });
        }
        if now >= next_progress {
            log::info!(
                "still waiting for {spec} ({:.0?}); devices seen: {}",
                now.duration_since(start),
                seen_list(
                    &devices
                        .iter()
                        .map(BlockDevice::describe)
                        .collect::<Vec<_>>()
                )
            );
            next_progress = now + PROGRESS_EVERY;
        }
        let until_deadline = timeout
            .map(|t| (start + t).saturating_duration_since(now))
            .unwrap_or(Duration::MAX);
        let wake = until_deadline.min(next_progress.saturating_duration_since(now));
        let _ = tokio::time::timeout(wake, next_block_event(&mut events)).await;
    }
}

/// Returns on the next event that may change what block devices hold.
async fn next_block_event<E: DeviceEvent>(events: &mut broadcast::Receiver<Arc<E>>) {
    loop {
        match events.recv().await {
            Ok(ev) if ev.may_change_block_devices() => return,
            Ok(_) => {}
            // Missed events: rescan to be safe.
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            // No more events will come: fall back to the timeout alone.
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}
