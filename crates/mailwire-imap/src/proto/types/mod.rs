//! The typed values of the protocol, for both directions.

pub mod body;
pub mod capability;
pub mod command;
pub mod core;
pub mod datetime;
pub mod fetch;
pub mod flag;
pub mod mailbox;
pub mod response;
pub mod search;
pub mod sequence;
