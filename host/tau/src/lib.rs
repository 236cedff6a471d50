//! ian-tau
