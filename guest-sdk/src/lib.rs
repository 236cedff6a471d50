//! ian-guest-sdk
