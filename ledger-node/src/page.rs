//! The public transparency page (`GET /` and its embedded assets).

use crate::node::Node;
use axum::Router;
use std::sync::Arc;

/// Routes of the page; merged into the API router.
pub fn routes() -> Router<Arc<Node>> {
    Router::new()
}
