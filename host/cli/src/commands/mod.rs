//! One module per command: its `Args` (clap) and its `run`.

pub mod check;
pub mod completions;
pub mod dev;
pub mod errors;
pub mod expect;
pub mod new;
pub mod publish;
pub mod request;
pub mod run;
pub mod status;
pub mod store;
pub mod tap;
pub mod test;
pub mod token;
