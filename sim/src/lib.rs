//! The simulated world on madsim: nodes with their own clocks and crash-durable disks, ranges
//! with replicas and leaseholders, a replicated log per range, MVCC garbage collection, the
//! network, fault injection and the trace.
//!
//! `sim` implements `model`'s KV API ([`kv_client::SimKv`]) for a simulated deployment so that
//! the real `backup` code runs in it unchanged. It must never be used outside madsim: every
//! wait is simulated time and every random choice comes from the seed.

pub mod addr;
pub mod clock;
pub mod cloud;
pub mod command;
pub mod config;
pub mod credential;
pub mod directory;
pub mod disk;
pub mod dress;
pub mod event;
pub mod faults;
pub mod host;
pub mod kv_client;
pub mod messages;
pub mod node;
pub mod planted;
pub mod replica;
pub mod run_file;
pub mod seed_tree;
pub mod storage;
pub mod trace;
pub mod world;

pub use config::WorldConfig;
pub use kv_client::SimKv;
pub use seed_tree::SeedTree;
pub use trace::Trace;
pub use world::{ClientMachine, NodeLife, World};
