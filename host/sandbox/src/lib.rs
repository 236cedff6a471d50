//! ian-sandbox
