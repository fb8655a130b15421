//! Usage (placeholder).
