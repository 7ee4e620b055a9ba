//! The request to stop: Ctrl-C, `SIGTERM` (what `systemctl stop`, `docker stop` and
//! Kubernetes send) or `SIGHUP` (the terminal went away). Every long-running command (`watch`,
//! `serve`, `simulate`) stops the same graceful way on any of them: it finishes what it is
//! recording, prints its summary and exits 0.

/// Completes when the process is asked to stop, with the signal's name. A signal whose handler
/// cannot be installed is not waited for (the others still are).
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let wait = |kind: SignalKind, name: &'static str| async move {
            match signal(kind) {
                Ok(mut s) => {
                    s.recv().await;
                    name
                }
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            name = async {
                match tokio::signal::ctrl_c().await {
                    Ok(()) => "interrupt",
                    Err(_) => std::future::pending().await,
                }
            } => name,
            name = wait(SignalKind::terminate(), "terminate") => name,
            name = wait(SignalKind::hangup(), "hangup") => name,
        }
    }
    #[cfg(not(unix))]
    {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "interrupt",
            Err(_) => std::future::pending().await,
        }
    }
}
