//! `fetchTimeout`: one deadline over a whole poll (ref advertisement and fetch), which a
//! server that sends a byte every few seconds cannot stretch. The source's `timeout` stays
//! what it was, the limit of each network step; every read and write here waits at most
//! that long and never past the deadline.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When a poll must have ended.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    /// The whole limit, for messages.
    pub limit: Duration,
}

impl Deadline {
    /// A deadline `limit` from now.
    pub fn after(limit: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + limit,
            limit,
        }
    }

    /// The time left, zero once passed.
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether it has passed.
    pub fn passed(&self) -> bool {
        self.remaining().is_zero()
    }

    /// The error of I/O attempted past the deadline.
    pub fn error(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("fetchTimeout ({}s) passed", self.limit.as_secs()),
        )
    }

    /// How long the next step may wait: `step`, or less when the deadline comes first;
    /// an error once it has passed.
    pub fn next_wait(&self, step: Duration) -> io::Result<Duration> {
        match self.remaining() {
            left if left.is_zero() => Err(self.error()),
            left => Ok(step.min(left)),
        }
    }
}

/// A git:// socket whose reads and writes end at the deadline.
pub struct DeadlineStream {
    stream: TcpStream,
    deadline: Deadline,
    step: Duration,
}

impl DeadlineStream {
    /// `stream`, each read and write waiting at most `step` and never past `deadline`.
    pub fn new(stream: TcpStream, deadline: Deadline, step: Duration) -> DeadlineStream {
        DeadlineStream {
            stream,
            deadline,
            step,
        }
    }

    /// The same socket, for the other direction.
    pub fn try_clone(&self) -> io::Result<DeadlineStream> {
        Ok(DeadlineStream {
            stream: self.stream.try_clone()?,
            ..*self
        })
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let wait = self.deadline.next_wait(self.step)?;
        self.stream.set_read_timeout(Some(wait))?;
        self.stream.read(buf)
    }
}

impl Write for DeadlineStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let wait = self.deadline.next_wait(self.step)?;
        self.stream.set_write_timeout(Some(wait))?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Raises gix's interrupt flag when the deadline passes, unless dropped first.
pub struct Interrupter {
    done: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Interrupter {
    /// A timer for `deadline` over `flag`.
    pub fn at(deadline: Deadline, flag: Arc<AtomicBool>) -> Interrupter {
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("fetch-deadline".into())
            .spawn(move || {
                if let Err(RecvTimeoutError::Timeout) = wait.recv_timeout(deadline.remaining()) {
                    flag.store(true, Ordering::Relaxed);
                }
            })
            .ok();
        Interrupter {
            done: Some(done),
            thread,
        }
    }
}

impl Drop for Interrupter {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_waits_its_timeout_or_what_is_left_and_fails_once_the_deadline_passed() {
        let deadline = Deadline::after(Duration::from_secs(60));
        let wait = deadline.next_wait(Duration::from_secs(10)).unwrap();
        assert_eq!(wait, Duration::from_secs(10));
        let wait = deadline.next_wait(Duration::from_secs(600)).unwrap();
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        let passed = Deadline::after(Duration::ZERO);
        assert!(passed.passed());
        let err = passed.next_wait(Duration::from_secs(10)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(err.to_string(), "fetchTimeout (0s) passed");
    }

    #[test]
    fn the_interrupter_raises_the_flag_at_the_deadline_and_not_once_dropped() {
        let flag = Arc::new(AtomicBool::new(false));
        drop(Interrupter::at(
            Deadline::after(Duration::from_secs(60)),
            flag.clone(),
        ));
        assert!(!flag.load(Ordering::Relaxed));
        let timer = Interrupter::at(Deadline::after(Duration::from_millis(10)), flag.clone());
        let waited = Instant::now();
        while !flag.load(Ordering::Relaxed) {
            assert!(waited.elapsed() < Duration::from_secs(30), "never raised");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(timer);
    }
}
