//! SIGINT and SIGTERM. The first stops the command where it is, as a crash would, but tidily: a
//! thread of its own runs what `install` was given (which waits for the state writes in progress,
//! lets no other start, and releases the remote lock), then the tool exits with 128 + the signal
//! (130, 143). Whatever was being created is already recorded as being created, so the next run
//! finds it. A second signal ends the process at once. Child processes (OpenSSH) keep the default
//! dispositions: a Ctrl-C reaches them too.

use std::io::{PipeWriter, Read, Write};
use std::os::fd::{AsRawFd, IntoRawFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The first signal received; 0 before.
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// The pipe's write end: the handler wakes the thread through it.
static WAKE: AtomicI32 = AtomicI32::new(-1);

/// Said by the handler of a second signal, which can only write(2) before it exits.
const AT_ONCE: &[u8] = b"\ncfcr-aws: stopped at once, without releasing its lock: a lock in S3 stays until `cfcr-aws --state s3://BUCKET/PREFIX force-unlock ID --env ENV` removes it (the next command names it)\n";

extern "C" fn on_signal(signal: libc::c_int) {
    // Only async-signal-safe calls here: an atomic swap, write(2), _exit(2).
    if RECEIVED.swap(signal, Ordering::SeqCst) != 0 {
        // SAFETY: write(2) and _exit(2) are async-signal-safe; the buffer is static.
        unsafe {
            libc::write(2, AT_ONCE.as_ptr().cast(), AT_ONCE.len());
            libc::_exit(128 + signal);
        }
    }
    let byte = [0u8];
    // SAFETY: as above; the descriptor is the pipe's, open for the life of the process.
    unsafe {
        libc::write(WAKE.load(Ordering::SeqCst), byte.as_ptr().cast(), 1);
    }
}

/// The signal's name, for messages.
fn name(signal: libc::c_int) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        _ => "SIGTERM",
    }
}

/// Handles SIGINT and SIGTERM from now on: at the first, `stop` runs (given the signal's name) on
/// a thread of its own, and the process exits when it returns.
pub fn install(stop: impl FnOnce(&'static str) + Send + 'static) -> std::io::Result<()> {
    let (mut woken, wake): (_, PipeWriter) = std::io::pipe()?;
    WAKE.store(wake.as_raw_fd(), Ordering::SeqCst);
    // Open for the life of the process: the handler may write to it at any time.
    let _ = wake.into_raw_fd();
    std::thread::Builder::new()
        .name("interrupt".into())
        .spawn(move || {
            let mut byte = [0u8];
            if woken.read_exact(&mut byte).is_ok() {
                let signal = RECEIVED.load(Ordering::SeqCst);
                stop(name(signal));
                let _ = std::io::stderr().flush();
                std::process::exit(128 + signal);
            }
        })?;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid; the handler only makes async-signal-safe calls.
        let installed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if installed != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
