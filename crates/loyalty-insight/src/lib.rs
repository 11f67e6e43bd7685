//! Member analytics (placeholder, being written).
