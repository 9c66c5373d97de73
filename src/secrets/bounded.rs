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
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("keychain".into())
        .spawn(move || {
            // The receiver may be gone after a timeout; nothing to do then.
            let _ = tx.send(op());
        })
        .map_err(|e| SecretStoreError::Platform(format!("could not start a thread: {e}")))?;
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(SecretStoreError::Timeout(timeout)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(SecretStoreError::Platform(
            "the keychain call ended without an answer".into(),
        )),
    }
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
}
