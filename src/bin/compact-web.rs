//! `compact-web`: the browser app's entry point (built for wasm32 by Trunk); it only
//! mounts [`compact::app::App`].

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(compact::app::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("compact-web is the browser app: build and serve it with `make demo`.");
    std::process::exit(2);
}
