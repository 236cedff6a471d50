//! ian-store
