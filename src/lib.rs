#![forbid(unsafe_code)]
//! mailwire
