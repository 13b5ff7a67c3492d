//! CPU work spread over every core: threads natively, Web Workers in the browser.
//!
//! The work is cut into parts that are independent and whose results are joined in
//! order, so the bytes never depend on how many cores ran them.
//!
//! In the browser the parts go to a pool of dedicated workers (`compact-worker`, a
//! second wasm binary Trunk builds beside the app: the library's own code, so a worker
//! computes exactly what the page would). The page copies each part's rows into a
//! transferable buffer, a worker answers with the bytes, and the page goes on reading
//! the next rows meanwhile ([`RowQuantizer::submit`] returns before the work is done).
//! Where workers cannot start (no worker script, a sandboxed page) the page does the
//! work itself, as before; `?workers=N` in the page's address caps the pool (the
//! benchmark's one-thread baseline is `?workers=1`).
//!
//! The CPU device's calibration goes to the same workers: each group of windows
//! ([`importance_on_workers`]) is one message with the model's folder as
//! [`crate::io::ModelFolder::share`] describes it (picked files travel as `File`
//! handles, never copied; a server folder as its address), so a worker reads the
//! weights itself and answers with each window's importance sums, which the page adds
//! window by window — the same bytes as the page alone.
//!
//! Messages (plain JS objects, buffers transferred, never copied twice); a worker runs
//! its messages one at a time, in the order they came:
//! - worker → page once started: `{ready: true}`;
//! - page → worker: `{id, kind: "quantize", ty, rowLen, rows: Float32Array}` (`ty` a
//!   ggml type id), or `{id, kind: "importance", folder, t, tokens: Uint32Array,
//!   weights: Float32Array}`, or `{kind: "cancel"}` (every message not yet answered
//!   stops and answers with an error);
//! - worker → page: `{id, bytes: Uint8Array, memory}` (for importance the f64 sums,
//!   little-endian, layer after layer, each layer's windows one after the other;
//!   `memory` the worker's wasm memory in bytes, for the benchmark) or `{id, error}`.

use crate::error::{Error, Result};
use crate::gguf::GgmlType;
use crate::gguf::quantize::quantize_row;

/// Threads this machine's CPU work may use natively (1 in wasm, where one call runs on
/// the calling thread); inside a job of [`in_order_on_threads`], its share of them.
pub fn threads() -> usize {
    if cfg!(target_arch = "wasm32") {
        1
    } else {
        SHARE.get().unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

/// `Sync` natively, where the CPU path's threads share one opened checkpoint; nothing
/// in the browser, whose files are JS handles that one thread reads.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSync: Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Sync + ?Sized> MaybeSync for T {}
/// `Sync` natively, where the CPU path's threads share one opened checkpoint; nothing
/// in the browser, whose files are JS handles that one thread reads.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSync for T {}

/// [`in_order_on_threads`] for jobs that are futures (the CPU path's forward passes):
/// natively each runs to completion on its thread; in the browser, where a page has
/// one thread, they run one after the other.
pub async fn jobs_in_order<T: Send, F: std::future::Future<Output = Result<T>>>(
    jobs: usize,
    job: impl Fn(usize) -> F + MaybeSync,
    done: impl FnMut(usize, T) -> Result<()>,
) -> Result<()> {
    #[cfg(not(target_arch = "wasm32"))]
    return in_order_on_threads(jobs, |i| pollster::block_on(job(i)), done);
    #[cfg(target_arch = "wasm32")]
    {
        let mut done = done;
        for i in 0..jobs {
            done(i, job(i).await?)?;
        }
        Ok(())
    }
}

thread_local! {
    /// Threads a step may use on this thread, where that is not the whole machine: set
    /// on the threads of [`in_order_on_threads`], whose jobs share the cores.
    static SHARE: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Runs `job(0)`, …, `job(jobs − 1)` on the machine's threads, each job on one thread
/// (its own steps share what is left: [`threads`] inside a job is the cores divided
/// among the jobs running at once), and hands every result to `done` on the calling
/// thread in the order of the jobs, however they finish. Whole jobs on separate
/// cores keep every core busy through the steps a split product leaves on one (norms,
/// attention, reading and packing weights). The first error, of a job or of `done`,
/// starts no further job and is returned once the running ones end.
#[cfg(not(target_arch = "wasm32"))]
fn in_order_on_threads<T: Send, E: Send>(
    jobs: usize,
    job: impl Fn(usize) -> std::result::Result<T, E> + Sync,
    mut done: impl FnMut(usize, T) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
    let cores = threads();
    let runners = cores.min(jobs);
    if runners <= 1 {
        return (0..jobs).try_for_each(|i| done(i, job(i)?));
    }
    let share = (cores / runners).max(1);
    let (next, stop) = (AtomicUsize::new(0), AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..runners {
            let (tx, next, stop, job) = (tx.clone(), &next, &stop, &job);
            s.spawn(move || {
                SHARE.set(Some(share));
                while !stop.load(Relaxed) {
                    let i = next.fetch_add(1, Relaxed);
                    if i >= jobs {
                        break;
                    }
                    let result = job(i);
                    let failed = result.is_err();
                    if failed {
                        stop.store(true, Relaxed);
                    }
                    if tx.send((i, result)).is_err() || failed {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut ready = std::collections::BTreeMap::new();
        let mut want = 0;
        let result = rx.iter().try_for_each(|(i, result)| {
            ready.insert(i, result?);
            while let Some(value) = ready.remove(&want) {
                done(want, value)?;
                want += 1;
            }
            Ok(())
        });
        if result.is_err() {
            stop.store(true, Relaxed);
        }
        result
    })
}

/// How many Web Workers share the browser's CPU work (starting the page's pool on
/// first call); 1 natively, where [`threads`] split the work inside each step instead.
pub async fn workers() -> usize {
    #[cfg(target_arch = "wasm32")]
    {
        web::Pool::shared().await.map_or(1, |p| p.len())
    }
    #[cfg(not(target_arch = "wasm32"))]
    1
}

/// Runs `f(first_row, rows)` on contiguous runs of `row_len`-long rows of `data`, one
/// run per thread ([`threads`]), the runs cut where `cost(row)` — each row's share of
/// the work — splits evenly. Each row is written by exactly one call, so results do not
/// depend on the thread count.
pub fn for_rows<T: Send>(data: &mut [T], row_len: usize, cost: impl Fn(usize) -> f64, f: impl Fn(usize, &mut [T]) + Sync) {
    let rows = data.len() / row_len.max(1);
    let parts = threads().min(rows);
    if parts <= 1 {
        f(0, data);
        return;
    }
    let total: f64 = (0..rows).map(&cost).sum();
    let mut cuts = vec![0];
    let mut acc = 0.0;
    for r in 0..rows {
        acc += cost(r);
        if acc >= total * cuts.len() as f64 / parts as f64 && cuts.len() < parts && r + 1 < rows {
            cuts.push(r + 1);
        }
    }
    cuts.push(rows);
    let f = &f;
    std::thread::scope(|s| {
        let mut rest = data;
        for w in cuts.windows(2) {
            let (part, tail) = std::mem::take(&mut rest).split_at_mut((w[1] - w[0]) * row_len);
            rest = tail;
            let first = w[0];
            s.spawn(move || f(first, part));
        }
    });
}

/// Quantizes rows of f32 into a ggml type on every core.
pub struct RowQuantizer {
    #[cfg(target_arch = "wasm32")]
    pool: Option<std::rc::Rc<web::Pool>>,
    /// Threads or workers that can share the work (1: the calling thread alone).
    workers: usize,
    /// The most threads or workers one submit has used so far.
    used: std::cell::Cell<usize>,
}

/// A submitted part: the quantized bytes, ready or on their way from the workers.
pub struct Ticket {
    #[cfg(target_arch = "wasm32")]
    parts: Vec<web::Reply>,
    done: Vec<u8>,
}

/// Types worth splitting (the plain float types are a copy, cheaper than a message).
fn splits(ty: GgmlType) -> bool {
    matches!(ty, GgmlType::Q4K | GgmlType::Q5K | GgmlType::Q6K | GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q8_0)
}

/// `rows` quantized as `ty` on this thread.
fn quantize_here(ty: GgmlType, rows: &[f32], row_len: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(ty.block().map_or(rows.len() * 4, |(b, bytes)| rows.len() / b as usize * bytes as usize));
    match rows.chunks_exact(row_len).all(|r| quantize_row(ty, r, &mut out)) {
        true => Ok(out),
        false => Err(Error::Internal(format!("{ty} rows of {row_len} cannot be written"))),
    }
}

impl RowQuantizer {
    /// A quantizer using every core: threads natively; in the browser a pool of
    /// workers, started on first use (and kept for the page's life).
    pub async fn new() -> Self {
        #[cfg(target_arch = "wasm32")]
        {
            let pool = web::Pool::shared().await;
            let workers = pool.as_ref().map_or(1, |p| p.len());
            RowQuantizer { pool, workers, used: std::cell::Cell::new(1) }
        }
        #[cfg(not(target_arch = "wasm32"))]
        RowQuantizer { workers: std::thread::available_parallelism().map_or(1, |n| n.get()), used: std::cell::Cell::new(1) }
    }

    /// The most threads or workers that have shared one submit's work so far (1: the
    /// calling thread alone; plain float types are never split).
    pub fn used(&self) -> usize {
        self.used.get()
    }

    /// Starts quantizing `rows` (`row_len` values each) as `ty`; the bytes, in row
    /// order, come from [`Ticket::bytes`].
    pub fn submit(&self, ty: GgmlType, rows: Vec<f32>, row_len: usize) -> Result<Ticket> {
        let n_rows = rows.len() / row_len;
        let workers = self.workers.min(n_rows);
        if workers < 2 || !splits(ty) {
            return Ok(Ticket::ready(quantize_here(ty, &rows, row_len)?));
        }
        let per = n_rows.div_ceil(workers) * row_len;
        self.used.set(self.used.get().max(n_rows.div_ceil(per / row_len)));
        #[cfg(target_arch = "wasm32")]
        {
            let pool = self.pool.as_ref().expect("workers > 1 only with a pool");
            let parts = rows.chunks(per).map(|part| pool.send(ty, part, row_len)).collect::<Result<_>>()?;
            Ok(Ticket { parts, done: Vec::new() })
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let parts: Vec<Result<Vec<u8>>> = std::thread::scope(|s| {
                let handles: Vec<_> = rows.chunks(per).map(|part| s.spawn(move || quantize_here(ty, part, row_len))).collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(Error::Internal("a quantizing thread panicked".into()))))
                    .collect()
            });
            let mut done = Vec::new();
            for p in parts {
                done.extend_from_slice(&p?);
            }
            Ok(Ticket::ready(done))
        }
    }
}

impl Ticket {
    fn ready(done: Vec<u8>) -> Self {
        Ticket {
            #[cfg(target_arch = "wasm32")]
            parts: Vec::new(),
            done,
        }
    }

    /// The quantized bytes, once every part is back.
    pub async fn bytes(self) -> Result<Vec<u8>> {
        #[cfg(target_arch = "wasm32")]
        {
            let mut out = self.done;
            for part in self.parts {
                out.extend_from_slice(&part.wait().await?);
            }
            Ok(out)
        }
        #[cfg(not(target_arch = "wasm32"))]
        Ok(self.done)
    }
}

/// Channel importance of groups of calibration windows (`t` tokens each, with their
/// act² weights) on the page's Web Workers, which open the model's `folder` themselves;
/// `add` gets each group's sums per layer and window (`shape` = layers × channels; see
/// [`crate::engine::cpu::add_windows`]) and its window count, in group order.
/// `Ok(false)` where there is no pool of workers (one core, `?workers=1`, no worker
/// script): then the caller runs the groups itself. On an error or a cancel the workers
/// drop the groups they still hold.
#[cfg(target_arch = "wasm32")]
pub async fn importance_on_workers(
    folder: &wasm_bindgen::JsValue,
    groups: &[(&[u32], &[f32])],
    t: usize,
    shape: (usize, usize),
    add: &mut dyn FnMut(Vec<Vec<f64>>, usize),
    cancel: &crate::progress::Cancel,
) -> Result<bool> {
    let Some(pool) = web::Pool::shared().await else { return Ok(false) };
    let all = async {
        let replies: Vec<web::Reply> =
            groups.iter().map(|&(tokens, weights)| pool.send_importance(folder, tokens, t, weights)).collect::<Result<_>>()?;
        for (reply, &(tokens, _)) in replies.into_iter().zip(groups) {
            let bytes = pool.wait(reply, cancel).await?;
            let ((layers, channels), windows) = (shape, tokens.len() / t.max(1));
            let per_layer = windows * channels;
            if bytes.len() != layers * per_layer * 8 {
                return Err(Error::Worker(format!(
                    "{} bytes of importance for {windows} windows of {layers} layers × {channels} channels",
                    bytes.len()
                )));
            }
            let values: Vec<f64> = bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))).collect();
            add(values.chunks_exact(per_layer.max(1)).map(<[f64]>::to_vec).collect(), windows);
        }
        Ok(true)
    };
    let done = all.await;
    if done.is_err() {
        pool.cancel();
    }
    done
}

/// The worker binary's whole job: answer the page's messages until closed.
#[cfg(target_arch = "wasm32")]
pub fn serve_worker() {
    web::serve();
}

/// The largest wasm memory any worker has reported (bytes), for the benchmark.
#[cfg(target_arch = "wasm32")]
pub fn worker_memory() -> u64 {
    web::PEAK.with(|p| p.get())
}

#[cfg(target_arch = "wasm32")]
mod web {
    use std::cell::{Cell, RefCell};
    use std::collections::{HashMap, VecDeque};
    use std::rc::Rc;

    use futures_channel::oneshot;
    use js_sys::{Array, Float32Array, Reflect, Uint8Array, Uint32Array};
    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::*;
    use web_sys::{DedicatedWorkerGlobalScope, MessageEvent, Worker};

    use super::{GgmlType, quantize_here};
    use crate::engine::cpu;
    use crate::error::{Error, Result};
    use crate::io::web::{WebFolder, field, object};
    use crate::model::{Checkpoint, ModelInfo};
    use crate::progress::Cancel;

    /// The worker script Trunk writes beside the app (`data-loader-shim`).
    const SCRIPT: &str = "./compact-worker_loader.js";
    /// At most this many workers (more cores than this rarely pay for the copies).
    const MAX_WORKERS: usize = 8;
    /// How long a worker may take to start before the page works alone.
    const START_MS: i32 = 20_000;

    thread_local! {
        static SHARED: RefCell<Option<Option<Rc<Pool>>>> = const { RefCell::new(None) };
        pub(super) static PEAK: Cell<u64> = const { Cell::new(0) };
    }

    type Waiting = Rc<RefCell<HashMap<u32, oneshot::Sender<std::result::Result<Vec<u8>, String>>>>>;

    /// Started workers and the replies they owe.
    pub(super) struct Pool {
        workers: Vec<Worker>,
        waiting: Waiting,
        next: Cell<u32>,
        // Kept alive as long as the workers may call them.
        _on_message: Vec<Closure<dyn FnMut(MessageEvent)>>,
        _on_error: Vec<Closure<dyn FnMut(JsValue)>>,
    }

    /// A reply on its way.
    pub(super) struct Reply(oneshot::Receiver<std::result::Result<Vec<u8>, String>>);

    impl Reply {
        pub(super) async fn wait(self) -> Result<Vec<u8>> {
            match self.0.await {
                Ok(Ok(bytes)) => Ok(bytes),
                Ok(Err(e)) => Err(Error::Worker(e)),
                Err(_) => Err(Error::Worker("it stopped before answering".into())),
            }
        }
    }

    /// How often a page waiting on a worker looks at its Cancel.
    const CANCEL_POLL_MS: i32 = 100;

    impl Pool {
        /// The page's pool, started on first call; `None` where workers cannot run or
        /// there is one core.
        pub(super) async fn shared() -> Option<Rc<Pool>> {
            if let Some(p) = SHARED.with(|s| s.borrow().clone()) {
                return p;
            }
            let pool = Pool::start().await.map(Rc::new);
            SHARED.with(|s| *s.borrow_mut() = Some(pool.clone()));
            pool
        }

        pub(super) fn len(&self) -> usize {
            self.workers.len()
        }

        async fn start() -> Option<Pool> {
            let window = web_sys::window()?;
            let cores = window.navigator().hardware_concurrency() as usize;
            // `?workers=N` in the page's address caps the pool (1: the page alone).
            let cap = window
                .location()
                .search()
                .ok()
                .and_then(|q| q.trim_start_matches('?').split('&').find_map(|kv| kv.strip_prefix("workers=")?.parse::<usize>().ok()));
            let n = cores.min(cap.unwrap_or(MAX_WORKERS)).clamp(1, MAX_WORKERS);
            if n < 2 {
                return None;
            }
            let waiting: Waiting = Rc::default();
            let (mut workers, mut started) = (Vec::new(), Vec::new());
            let (mut on_message, mut on_error) = (Vec::new(), Vec::new());
            for _ in 0..n {
                let worker = Worker::new(SCRIPT).ok()?;
                let (ready, is_ready) = oneshot::channel::<bool>();
                let ready = Rc::new(RefCell::new(Some(ready)));
                let onmessage = {
                    let (waiting, ready) = (waiting.clone(), ready.clone());
                    Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                        let data = ev.data();
                        if field(&data, "ready").is_truthy() {
                            if let Some(tx) = ready.borrow_mut().take() {
                                let _ = tx.send(true);
                            }
                            return;
                        }
                        let Some(id) = field(&data, "id").as_f64() else { return };
                        let Some(tx) = waiting.borrow_mut().remove(&(id as u32)) else { return };
                        if let Some(m) = field(&data, "memory").as_f64() {
                            PEAK.with(|p| p.set(p.get().max(m as u64)));
                        }
                        let bytes = field(&data, "bytes");
                        let reply = match bytes.dyn_ref::<Uint8Array>() {
                            Some(b) => Ok(b.to_vec()),
                            None => Err(field(&data, "error").as_string().unwrap_or_else(|| "no answer".into())),
                        };
                        let _ = tx.send(reply);
                    })
                };
                worker.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
                // A script that cannot load or a worker that dies: whoever waits hears why.
                let onerror = {
                    let (waiting, ready) = (waiting.clone(), ready.clone());
                    Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
                        let why = field(&ev, "message").as_string().unwrap_or_else(|| "the worker script did not load".into());
                        if let Some(tx) = ready.borrow_mut().take() {
                            let _ = tx.send(false);
                        }
                        for (_, tx) in waiting.borrow_mut().drain() {
                            let _ = tx.send(Err(why.clone()));
                        }
                    })
                };
                worker.set_onerror(Some(onerror.as_ref().unchecked_ref()));
                workers.push(worker);
                on_message.push(onmessage);
                on_error.push(onerror);
                started.push(is_ready);
            }
            let all_ready = async {
                for s in started {
                    if s.await != Ok(true) {
                        return false;
                    }
                }
                true
            };
            if within(std::pin::pin!(all_ready), START_MS).await != Some(true) {
                web_sys::console::warn_1(&"compact: Web Workers did not start; the page does the work itself".into());
                workers.iter().for_each(Worker::terminate);
                return None;
            }
            Some(Pool { workers, waiting, next: Cell::new(0), _on_message: on_message, _on_error: on_error })
        }

        /// Sends `rows` to the next worker in turn, to be quantized as `ty`.
        pub(super) fn send(&self, ty: GgmlType, rows: &[f32], row_len: usize) -> Result<Reply> {
            let array = Float32Array::from(rows);
            let fields =
                [("kind", "quantize".into()), ("ty", ty.id().into()), ("rowLen", (row_len as u32).into()), ("rows", array.clone().into())];
            self.post(&fields, &[array.buffer().into()])
        }

        /// Sends one group of calibration windows to the next worker in turn.
        pub(super) fn send_importance(&self, folder: &JsValue, tokens: &[u32], t: usize, weights: &[f32]) -> Result<Reply> {
            let (tokens, weights) = (Uint32Array::from(tokens), Float32Array::from(weights));
            let fields = [
                ("kind", "importance".into()),
                ("folder", folder.clone()),
                ("t", (t as u32).into()),
                ("tokens", tokens.clone().into()),
                ("weights", weights.clone().into()),
            ];
            self.post(&fields, &[tokens.buffer().into(), weights.buffer().into()])
        }

        /// Posts a message of `fields` and an id to the next worker in turn, moving the
        /// `transfer` buffers.
        fn post(&self, fields: &[(&str, JsValue)], transfer: &[JsValue]) -> Result<Reply> {
            let id = self.next.get();
            self.next.set(id.wrapping_add(1));
            let worker = &self.workers[id as usize % self.workers.len()];
            let message = object(fields);
            let _ = Reflect::set(&message, &JsValue::from_str("id"), &id.into());
            let (tx, rx) = oneshot::channel();
            self.waiting.borrow_mut().insert(id, tx);
            worker
                .post_message_with_transfer(&message, &transfer.iter().collect::<Array>())
                .map_err(|e| Error::Worker(format!("it refused a message: {e:?}")))?;
            Ok(Reply(rx))
        }

        /// The reply's bytes, or `Err(Cancelled)` as soon as `cancel` is (looked at
        /// every [`CANCEL_POLL_MS`]).
        pub(super) async fn wait(&self, reply: Reply, cancel: &Cancel) -> Result<Vec<u8>> {
            let mut reply = std::pin::pin!(reply.wait());
            loop {
                cancel.check()?;
                if let Some(done) = within(reply.as_mut(), CANCEL_POLL_MS).await {
                    return done;
                }
            }
        }

        /// Tells every worker to stop what it was sent (each answers with an error).
        pub(super) fn cancel(&self) {
            for w in &self.workers {
                let _ = w.post_message(&object(&[("kind", "cancel".into())]));
            }
        }
    }

    /// Resolves after `ms` milliseconds.
    async fn sleep(ms: i32) {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            if let Some(w) = web_sys::window() {
                let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
            }
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }

    /// `fut`'s output, unless `ms` milliseconds pass first (then `None`; `fut` stays
    /// where it was, to be awaited again).
    async fn within<T>(mut fut: std::pin::Pin<&mut impl std::future::Future<Output = T>>, ms: i32) -> Option<T> {
        let mut timeout = std::pin::pin!(sleep(ms));
        std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(out) = fut.as_mut().poll(cx) {
                return std::task::Poll::Ready(Some(out));
            }
            timeout.as_mut().poll(cx).map(|()| None)
        })
        .await
    }

    thread_local! {
        /// The worker's messages not yet answered, oldest first, each with its Cancel;
        /// while it holds any, a task is answering them.
        static QUEUE: RefCell<VecDeque<(JsValue, Cancel)>> = const { RefCell::new(VecDeque::new()) };
    }

    /// The worker side: one message at a time, in order, each answered with its bytes.
    pub(super) fn serve() {
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let data = ev.data();
            if field(&data, "kind").as_string().as_deref() == Some("cancel") {
                QUEUE.with(|q| q.borrow().iter().for_each(|(_, c)| c.cancel()));
                return;
            }
            let idle = QUEUE.with(|q| {
                let mut q = q.borrow_mut();
                q.push_back((data, Cancel::default()));
                q.len() == 1
            });
            if idle {
                wasm_bindgen_futures::spawn_local(answer_queue());
            }
        });
        scope.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        onmessage.forget();
        let _ = scope.post_message(&object(&[("ready", true.into())]));
    }

    /// Answers the queued messages until none is left. A message stays in the queue
    /// while it runs, so that a cancel reaches it; it leaves only once answered, and
    /// nothing awaits between that and the look at the next, so an empty queue always
    /// means no task is running.
    async fn answer_queue() {
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        while let Some((data, cancel)) = QUEUE.with(|q| q.borrow().front().cloned()) {
            let result = answer(&data, &cancel).await.map_err(|e| e.to_string());
            QUEUE.with(|q| q.borrow_mut().pop_front());
            let (id, memory) = (field(&data, "id"), crate::io::web::wasm_memory() as f64);
            let sent = match result {
                Ok(bytes) => {
                    let array = Uint8Array::from(&bytes[..]);
                    let message = object(&[("id", id), ("bytes", array.clone().into()), ("memory", memory.into())]);
                    scope.post_message_with_transfer(&message, &Array::of1(&array.buffer()))
                }
                Err(e) => scope.post_message(&object(&[("id", id), ("error", e.into())])),
            };
            if let Err(e) = sent {
                web_sys::console::error_1(&e);
            }
        }
    }

    /// The bytes one message asks for.
    async fn answer(data: &JsValue, cancel: &Cancel) -> Result<Vec<u8>> {
        cancel.check()?;
        let malformed = || Error::Worker("a malformed message".into());
        match field(data, "kind").as_string().as_deref() {
            Some("quantize") => {
                let ty = GgmlType::from_id(field(data, "ty").as_f64().unwrap_or(-1.0) as u32);
                let row_len = field(data, "rowLen").as_f64().unwrap_or(0.0) as usize;
                let rows = field(data, "rows").dyn_into::<Float32Array>().map_err(|_| malformed())?.to_vec();
                if row_len == 0 || rows.len() % row_len != 0 {
                    return Err(malformed());
                }
                quantize_here(ty, &rows, row_len)
            }
            Some("importance") => {
                let folder = WebFolder::from_shared(&field(data, "folder")).ok_or_else(malformed)?;
                let t = field(data, "t").as_f64().unwrap_or(0.0) as usize;
                let tokens = field(data, "tokens").dyn_into::<Uint32Array>().map_err(|_| malformed())?.to_vec();
                let weights = field(data, "weights").dyn_into::<Float32Array>().map_err(|_| malformed())?.to_vec();
                if t == 0 || tokens.len() % t != 0 || weights.len() != tokens.len() {
                    return Err(malformed());
                }
                let info = ModelInfo::load(&folder).await?;
                let ck = Checkpoint::open(&folder, &info).await?;
                let importance = cpu::group_importance(&info.config, &ck, &tokens, t, &weights, cancel).await?;
                Ok(importance.iter().flatten().flat_map(|v| v.to_le_bytes()).collect())
            }
            _ => Err(malformed()),
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn jobs_come_back_in_order_whatever_order_they_finish_in() {
        let mut seen = Vec::new();
        let result: std::result::Result<(), ()> = in_order_on_threads(
            9,
            |i| {
                // Early jobs finish last.
                std::thread::sleep(std::time::Duration::from_millis(3 * (9 - i as u64)));
                Ok((i * i, threads()))
            },
            |i, (square, share)| {
                seen.push((i, square));
                assert!(share >= 1 && share <= std::thread::available_parallelism().map_or(1, |n| n.get()));
                Ok(())
            },
        );
        assert_eq!(result, Ok(()));
        assert_eq!(seen, (0..9).map(|i| (i, i * i)).collect::<Vec<_>>());
        assert_eq!(SHARE.get(), None, "the calling thread keeps every core");
    }

    #[test]
    fn a_failed_job_stops_the_rest_and_its_error_comes_back() {
        let started = std::sync::atomic::AtomicUsize::new(0);
        let mut done = Vec::new();
        let result = in_order_on_threads(
            100,
            |i| {
                started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i > 3 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                if i == 3 { Err(format!("job {i}")) } else { Ok(i) }
            },
            |i, _| {
                done.push(i);
                Ok(())
            },
        );
        assert_eq!(result, Err("job 3".to_string()));
        assert!(done.iter().all(|&i| i < 3), "nothing after the failed job is handed on: {done:?}");
        assert!(started.into_inner() < 100, "jobs after the failure were not started");
    }
}
