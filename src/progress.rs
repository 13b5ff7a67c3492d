//! Progress as events: the library reports `{stage, done, total}` and knows nothing of
//! progress bars or signals; the CLI (indicatif) and the web UI (a signal) listen.

/// One progress event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// What is happening ("reading headers", "layer 3/30", …).
    pub stage: String,
    /// Units done so far.
    pub done: u64,
    /// Units in all (0 when unknown).
    pub total: u64,
}

/// Where progress events go.
pub trait ProgressSink {
    /// Receives one event.
    fn report(&mut self, event: Progress);
}

impl<F: FnMut(Progress)> ProgressSink for F {
    fn report(&mut self, event: Progress) {
        self(event)
    }
}

/// A sink that drops every event.
pub struct Silent;

impl ProgressSink for Silent {
    fn report(&mut self, _: Progress) {}
}
