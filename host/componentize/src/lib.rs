//! ian-componentize
