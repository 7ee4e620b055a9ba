//! The request to stop: Ctrl-C, `SIGTERM` (what `systemctl stop`, `docker stop` and
//! Kubernetes send) or `SIGHUP` (the terminal went away). Every long-running command (`watch`,
//! `serve`, `simulate`) stops the same graceful way on any of them: it finishes what it is
//! recording, prints its summary and exits 0.

use std::future::Future;

/// Installs the handlers now and returns what completes when the process is asked to stop,
/// with the signal's name. Call it before telling anyone the command is ready: a signal that
/// arrives between that message and the handlers would otherwise take the default action and
/// kill the process without its summary. A signal whose handler cannot be installed is not
/// waited for (the others still are). Must be called inside a Tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = &'static str> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        async fn wait(handler: Option<Signal>, name: &'static str) -> &'static str {
            match handler {
                Some(mut s) => {
                    s.recv().await;
                    name
                }
                None => std::future::pending().await,
            }
        }
        let interrupt = signal(SignalKind::interrupt()).ok();
        let terminate = signal(SignalKind::terminate()).ok();
        let hangup = signal(SignalKind::hangup()).ok();
        async move {
            tokio::select! {
                name = wait(interrupt, "interrupt") => name,
                name = wait(terminate, "terminate") => name,
                name = wait(hangup, "hangup") => name,
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            match tokio::signal::ctrl_c().await {
                Ok(()) => "interrupt",
                Err(_) => std::future::pending().await,
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// The handler is in place as soon as the call returns, before the future is polled: a
    /// hangup sent then is caught, not fatal.
    #[tokio::test]
    async fn a_signal_sent_right_after_the_call_is_caught() {
        let stop = shutdown_signal();
        raise_hangup();
        let name = tokio::time::timeout(std::time::Duration::from_secs(10), stop)
            .await
            .expect("the hangup was not seen");
        assert_eq!(name, "hangup");
    }

    fn raise_hangup() {
        let status = std::process::Command::new("kill")
            .arg("-HUP")
            .arg(std::process::id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}
