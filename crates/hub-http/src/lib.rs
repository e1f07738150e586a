//! The only code that talks to clients over HTTP and chooses status codes: the route table,
//! authentication, the inference request path, the admin API and the server-rendered admin UI.

pub mod admin;
pub mod aigne;
pub mod config;
pub mod connection;
pub mod context;
pub mod error;
pub mod files;
pub mod inference;
mod keyed;
pub mod monitor;
pub mod ops;
pub mod routes;
pub mod server;
pub mod state;
pub mod ui;

pub use config::HttpConfig;
pub use state::{AppState, Inner};
