//! The wgpu runtime: opening a device, tensors, compiled kernels and recorded dispatches.

pub mod alloc;
pub mod choice;
pub mod context;
pub mod dispatch;
pub mod engine;
pub mod entry;
pub mod kernels;
pub mod params;
pub mod plan;
pub mod profiler;
pub mod readback;
pub mod request;
pub mod shipped;
pub mod tensor;
pub mod texture;
pub mod tune;

pub use alloc::Alloc;
pub use choice::Overrides;
pub use choice::{AttentionKernel, ChoiceSource, KernelChoice, MatmulKernel, Precision, RowKernels};
pub use context::{AdapterChoice, Backend, GpuContext};
pub use dispatch::{grid_1d, grid_rows, record, Dispatch};
pub use engine::{bits, Engine};
pub use kernels::Kernels;
pub use params::ShaderParams;
pub use plan::MemoryPlan;
pub use request::{EngineRequest, KernelRequest, NativeDefaults};
pub use tensor::{GpuTensor, Staging};
