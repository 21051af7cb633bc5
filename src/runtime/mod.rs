//! The daemon: the keyed work queue, the controller that starts its parts,
//! the workers, the timers and policy reload, the drift ledger, and the
//! shutdown signal.

pub(crate) mod controller;
mod ledger;
mod members;
mod queue;
mod reload;
pub(crate) mod shutdown;
mod timers;
mod workers;
