//! Raft RPCs between controllers over TCP: [`client`] implements openraft's
//! `RaftNetwork` (one connection per peer, re-resolved and reconnected after
//! any error, since a restarted container comes back with a new IP), and
//! [`server`] answers them on the controller listener. Both speak [`wire`].

mod client;
mod forward;
mod server;
pub(super) mod wire;

pub(super) use client::PeerNetwork;
pub(super) use forward::HandlerSlot;
pub use forward::{ForwardError, ForwardHandler, forward};
pub(super) use server::RaftServer;
pub(super) use wire::MAX_BATCH_BYTES;
