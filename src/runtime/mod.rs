pub(crate) mod controller;
pub(crate) mod members;
pub(crate) mod queue;
mod reload;
pub(crate) mod shutdown;
