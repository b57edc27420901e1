//! Talking to systemd (`Type=notify`): `READY=1` once every school is open and the
//! listener accepts, `STOPPING=1` when SIGTERM arrives, and `WATCHDOG=1` only while
//! every hosted school's writer still commits a heartbeat. Without `NOTIFY_SOCKET`
//! (not started by systemd) every call does nothing.

use sd_notify::NotifyState;
use std::time::Duration;

/// Sends states to systemd; a failure is logged, never fatal.
pub fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "telling systemd failed");
    }
}

/// How often to feed the watchdog: half of `WatchdogSec=`, or `None` when the unit has
/// no watchdog.
pub fn watchdog_period() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|limit| limit / 2)
}

/// Every `period`: a heartbeat write through every school's writer; `WATCHDOG=1` only
/// if all of them committed. A writer that died or hangs starves the watchdog, and
/// systemd restarts the server. Runs until the process ends.
pub async fn feed_watchdog(control: doorplate_server::Control, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        match control.writers_alive().await {
            Ok(()) => {
                if failing {
                    tracing::info!("watchdog: every store writes again");
                    failing = false;
                }
                notify(&[NotifyState::Watchdog]);
            }
            Err(problem) => {
                // Logged once per failure spell, not every period.
                if !failing {
                    tracing::error!(%problem, "watchdog: not fed, systemd will restart the server if this lasts");
                    failing = true;
                }
                notify(&[NotifyState::Status(&format!("unhealthy: {problem}"))]);
            }
        }
    }
}
