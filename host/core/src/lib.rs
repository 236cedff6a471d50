//! ian-core
