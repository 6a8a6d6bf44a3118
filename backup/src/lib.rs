//! The real BACKUP / RESTORE / SHOW BACKUP implementation (CockroachDB's `backupccl`, in
//! Rust): statements, planning, the job, the per-range export, the manifest, restore, and the
//! storage URLs and backends.
//!
//! What it must never do: import `sim` or know it is being simulated. It reaches the database
//! only through `model`'s KV API (`model::kv::ClusterKv`) and storage only through its own
//! `ExternalStorage` trait, so the very same code runs in the simulated cluster and against real
//! storage.

pub mod backup_job;
pub mod chain;
pub mod collection;
pub mod crypto;
pub mod encryption;
pub mod env;
pub mod error;
pub mod event;
pub mod exec;
pub mod format;
pub mod job_run;
pub mod jobs;
pub mod locality;
pub mod location;
pub mod lock;
pub mod partitioned;
pub mod plan;
pub mod planted;
pub mod restore;
pub mod retry;
pub mod schedule;
pub mod settings;
pub mod show;
pub mod statement;
pub mod storage;
pub mod targets;
#[cfg(feature = "real-storage")]
pub mod tokio_runtime;
