//! The bounded queue between a run (and its sampler) and the writer thread.
//!
//! A channel would wake the writer for every point it sends while the writer keeps up; here
//! producers append under a mutex and wake the writer only when a batch is full or a message
//! needs an answer, and the writer otherwise sleeps until the oldest point's flush deadline
//! (or its heartbeat). The writer takes the whole queue at once, so a point costs the logging
//! thread one uncontended lock and a push.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::writer::Msg;

struct State {
    items: Vec<Msg>,
    /// When the oldest queued message arrived.
    oldest: Option<Instant>,
    /// A queued message someone waits on (flush, artifact, finish).
    urgent: bool,
    /// The writer has stopped: pushes fail.
    closed: bool,
}

/// A multi-producer, single-consumer batch queue with a capacity.
pub(crate) struct Queue {
    state: Mutex<State>,
    writer_wake: Condvar,
    producers_wake: Condvar,
    capacity: usize,
    batch: usize,
}

/// The writer stopped; nothing can be queued any more.
#[derive(Debug)]
pub(crate) struct Closed;

impl Queue {
    /// A queue that holds up to `capacity` messages and wakes the writer at `batch`.
    pub(crate) fn new(capacity: usize, batch: usize) -> Queue {
        let capacity = capacity.max(1);
        Queue {
            state: Mutex::new(State { items: Vec::new(), oldest: None, urgent: false, closed: false }),
            writer_wake: Condvar::new(),
            producers_wake: Condvar::new(),
            capacity,
            batch: batch.clamp(1, capacity),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves the queue consistent (pushes are atomic).
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends `msgs`, waiting while the queue is full.
    pub(crate) fn push(&self, msgs: impl IntoIterator<Item = Msg>) -> Result<(), Closed> {
        let mut state = self.lock();
        for msg in msgs {
            while state.items.len() >= self.capacity && !state.closed {
                self.writer_wake.notify_one();
                state = self.producers_wake.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            if state.closed {
                return Err(Closed);
            }
            let urgent = matches!(msg, Msg::Flush(_) | Msg::Artifact(..) | Msg::Finish(_));
            if state.items.is_empty() {
                state.oldest = Some(Instant::now());
            }
            state.items.push(msg);
            if urgent || state.items.len() == self.batch {
                state.urgent |= urgent;
                self.writer_wake.notify_one();
            }
        }
        Ok(())
    }

    /// Waits until a batch is full, an urgent message is queued, the oldest message has waited
    /// `flush`, or `heartbeat_due` passes; then swaps the queued messages into `out` (which
    /// must be empty) and returns.
    pub(crate) fn take(&self, out: &mut Vec<Msg>, flush: Duration, heartbeat_due: Instant) {
        let mut state = self.lock();
        loop {
            if state.urgent || state.items.len() >= self.batch {
                break;
            }
            let deadline = match state.oldest {
                Some(oldest) => heartbeat_due.min(oldest + flush),
                None => heartbeat_due,
            };
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .writer_wake
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        std::mem::swap(&mut state.items, out);
        state.oldest = None;
        state.urgent = false;
        drop(state);
        self.producers_wake.notify_all();
    }

    /// Marks the queue closed (the writer stopped) and wakes everyone waiting on it. Returns
    /// what was still queued, so that the caller can answer those waiting on it.
    pub(crate) fn close(&self) -> Vec<Msg> {
        let mut state = self.lock();
        state.closed = true;
        let left = std::mem::take(&mut state.items);
        drop(state);
        self.producers_wake.notify_all();
        left
    }
}
