//! `compact-worker`: the browser app's Web Worker (built for wasm32 by Trunk beside
//! `compact-web`); it only answers the page's messages with
//! [`compact::parallel::serve_worker`].

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    compact::parallel::serve_worker();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("compact-worker is the browser app's Web Worker: build and serve the app with `make demo`.");
    std::process::exit(2);
}
