//! Errors a user can cause or meet: each names the bad input and what to do.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error(
        "no GPU adapter found{0}. Install your GPU's Vulkan/Metal/DX12 driver; on a machine \
         without a GPU install Mesa's software Vulkan (Debian/Ubuntu: `apt-get install -y mesa-vulkan-drivers`)"
    )]
    NoAdapter(String),
    #[error("adapter index {index} does not exist: {count} adapter(s) found (see `adclr-wgpu info`)")]
    AdapterIndex { index: usize, count: usize },
    #[error("unknown backend `{0}`: use vulkan, metal, dx12 or gl")]
    UnknownBackend(String),
    #[error("could not open the GPU device: {0}")]
    RequestDevice(String),
    #[error(
        "tensor `{name}` needs {bytes} bytes in one storage binding, but this device allows at most \
         {limit} bytes per binding: use a smaller batch or model"
    )]
    BindingTooLarge { name: String, bytes: u64, limit: u64 },
    #[error(
        "tensor `{name}` needs a {bytes}-byte buffer, but this device allows at most {limit} bytes \
         per buffer: use a smaller batch or model"
    )]
    BufferTooLarge { name: String, bytes: u64, limit: u64 },
    #[error("kernel `{kernel}`: {message}")]
    Shape { kernel: &'static str, message: String },
    #[error("dispatch of `{kernel}` needs {groups} workgroups, more than this device's {limit} per dimension")]
    TooManyWorkgroups { kernel: &'static str, groups: u64, limit: u32 },
    #[error("GPU error: {0}")]
    Gpu(String),
    /// `kept` says where the last finite state is (in memory, or which file on disk).
    #[error("step {step}: {term} is NaN or infinite; training stopped. {kept}")]
    NonFinite { step: u64, term: String, kept: String },
    #[error("{0}")]
    Data(String),
    #[error("checkpoint {0}")]
    Checkpoint(String),
    /// A file the program writes (config, metrics, figures, features): "PATH: cannot write: ...".
    #[error("{0}")]
    Output(String),
    #[error("timed out after {0} s waiting for the GPU")]
    Timeout(u64),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shorthand for a shape error raised by a launcher.
pub fn shape_error(kernel: &'static str, message: impl Into<String>) -> Error {
    Error::Shape { kernel, message: message.into() }
}
