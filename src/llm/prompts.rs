//! Prompts (placeholder).
