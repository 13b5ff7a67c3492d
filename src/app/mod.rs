//! The web app (placeholder while the engine lands).
use leptos::prelude::*;

/// The root component.
#[component]
pub fn App() -> impl IntoView {
    view! { <h1>"compact"</h1> }
}
