//! Runs a blocking keychain call on its own thread and stops waiting after a deadline. Some
//! backends block forever (a stopped Secret Service daemon, an unlock prompt nobody answers); a
//! CLI must not. An abandoned call's thread ends with the process.

use std::sync::mpsc;
use std::time::Duration;

use super::{Result, SecretStoreError};

pub fn call<T, F>(timeout: Duration, op: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    call_patiently(timeout, timeout, op, || None)
}

/// Like [`call`], but when `op` has not answered after `patience`, asks `extend` whether a
/// person is being asked (a Secret Service prompt); if so, waits up to the limit it returns,
/// counted from the start, instead of `timeout`.
pub fn call_patiently<T, F, E>(timeout: Duration, patience: Duration, op: F, extend: E) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
    E: FnOnce() -> Option<Duration>,
{
    let started = std::time::Instant::now();
    let rx = spawn(op)?;
    match rx.recv_timeout(patience.min(timeout)) {
        Ok(result) => return result,
        Err(mpsc::RecvTimeoutError::Timeout) => {}
        Err(mpsc::RecvTimeoutError::Disconnected) => return Err(ended()),
    }
    let limit = extend().unwrap_or(timeout);
    match rx.recv_timeout(limit.saturating_sub(started.elapsed())) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(SecretStoreError::Timeout(limit)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(ended()),
    }
}

fn ended() -> SecretStoreError {
    SecretStoreError::Platform("the keychain call ended without an answer".into())
}

fn spawn<T, F>(op: F) -> Result<mpsc::Receiver<Result<T>>>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("keychain".into())
        .spawn(move || {
            // The receiver may be gone after a timeout; nothing to do then.
            let _ = tx.send(op());
        })
        .map_err(|e| SecretStoreError::Platform(format!("could not start a thread: {e}")))?;
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn returns_the_answer() {
        assert_eq!(call(Duration::from_secs(1), || Ok(7)).unwrap(), 7);
    }

    #[test]
    fn gives_up_on_a_call_that_never_returns() {
        let start = Instant::now();
        let r: Result<()> = call(Duration::from_millis(100), || {
            std::thread::sleep(Duration::from_secs(3600));
            Ok(())
        });
        assert!(matches!(r, Err(SecretStoreError::Timeout(_))));
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn waits_longer_while_a_person_is_asked() {
        let start = Instant::now();
        let r = call_patiently(
            Duration::from_millis(100),
            Duration::from_millis(50),
            || {
                std::thread::sleep(Duration::from_millis(400));
                Ok(7)
            },
            || Some(Duration::from_secs(5)),
        );
        assert_eq!(r.unwrap(), 7);
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn without_a_person_asked_keeps_the_normal_bound() {
        let start = Instant::now();
        let r: Result<()> = call_patiently(
            Duration::from_millis(100),
            Duration::from_millis(50),
            || {
                std::thread::sleep(Duration::from_secs(3600));
                Ok(())
            },
            || None,
        );
        assert!(matches!(r, Err(SecretStoreError::Timeout(_))));
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
