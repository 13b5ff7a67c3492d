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

/// Seconds on a monotonic-enough clock (for rates and phase times): `performance`-free
/// `Date.now()` in the browser, `Instant` natively.
pub fn now() -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::Date::now() / 1000.0
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64()
    }
}

/// A flag to stop a long-running step between GPU dispatches; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Cancel(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// Asks the step to stop at its next check.
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once cancelled.
    pub fn check(&self) -> crate::Result<()> {
        if self.is_cancelled() { Err(crate::Error::Cancelled) } else { Ok(()) }
    }
}
