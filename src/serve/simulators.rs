//! The simulators panel of the console (`/simulators`): start a reference actor for a
//! partner, see its exchanges and their validation live. Filled by the `console` work; the
//! skeleton mounts an empty router.

use super::AppState;
use axum::Router;

/// The panel's routes, merged into the console's by [`super::app`].
pub fn routes() -> Router<AppState> {
    Router::new()
}
