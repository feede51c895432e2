//! `adclr-wgpu train`: configuration, schedules, batches from worker threads, the loop with
//! progress, metrics, checkpoints and resume; and a session stepped by its caller (a browser's
//! event loop) with its data (embedded or handed over in memory), record and feature map.

pub mod batcher;
pub mod config;
pub mod data_parallel;
pub mod lock;
mod metrics_line;
pub mod micro_batch;
pub mod monitor;
pub mod resume;
pub mod run;
pub mod run_dir;
mod saver;
pub mod schedule;
pub mod session;
pub mod session_data;
pub mod session_map;
pub mod session_record;
pub mod step_loop;
pub mod step_once;
pub mod turn;
