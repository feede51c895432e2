//! Opening a wgpu device with the adapter's own limits and the optional features it offers.

use crate::error::{Error, Result};
use std::time::Duration;

/// Which adapter to use: an explicit backend and/or index into `adclr-wgpu info`'s list.
/// With neither, the best device type of every backend wins. (The command line fills a flag
/// left out from its variable, `WGPU_BACKEND` and `ADCLR_LIMITS`, before it gets here.)
#[derive(Clone, Debug, Default)]
pub struct AdapterChoice {
    pub backend: Option<Backend>,
    pub adapter: Option<usize>,
    /// None: the adapter's own.
    pub limits: Option<DeviceLimits>,
}

/// A wgpu backend, as `--backend`, config.toml and `WGPU_BACKEND` name it (any case; config.toml
/// is written with `name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum Backend {
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

impl TryFrom<String> for Backend {
    type Error = String;
    fn try_from(name: String) -> std::result::Result<Self, String> {
        Self::parse_flag(&name)
    }
}

impl From<Backend> for &'static str {
    fn from(b: Backend) -> Self {
        b.name()
    }
}

impl Backend {
    /// The backend called `name` (any case, with wgpu's aliases), or an error listing the names.
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "vulkan" | "vk" => Ok(Self::Vulkan),
            "metal" | "mtl" => Ok(Self::Metal),
            "dx12" | "d3d12" => Ok(Self::Dx12),
            "gl" | "gles" | "opengl" => Ok(Self::Gl),
            other => Err(Error::UnknownBackend(other.to_string())),
        }
    }

    /// `--backend`'s value parser.
    pub fn parse_flag(name: &str) -> std::result::Result<Self, String> {
        Self::parse(name).map_err(|e| e.to_string())
    }

    /// The name config.toml and the flag use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Vulkan => "vulkan",
            Self::Metal => "metal",
            Self::Dx12 => "dx12",
            Self::Gl => "gl",
        }
    }

    /// The backend wgpu calls `backend`, where this program knows it.
    pub fn of(backend: wgpu::Backend) -> Option<Self> {
        match backend {
            wgpu::Backend::Vulkan => Some(Self::Vulkan),
            wgpu::Backend::Metal => Some(Self::Metal),
            wgpu::Backend::Dx12 => Some(Self::Dx12),
            wgpu::Backend::Gl => Some(Self::Gl),
            _ => None,
        }
    }

    fn backends(self) -> wgpu::Backends {
        match self {
            Self::Vulkan => wgpu::Backends::VULKAN,
            Self::Metal => wgpu::Backends::METAL,
            Self::Dx12 => wgpu::Backends::DX12,
            Self::Gl => wgpu::Backends::GL,
        }
    }
}

/// The limits and features a device is opened with; config.toml and `--limits` name them
/// `adapter` and `minimal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceLimits {
    /// The adapter's own limits, with timestamps and subgroups where offered.
    Adapter,
    /// wgpu's defaults (WebGPU's: 8 storage buffers per stage, 16 KiB of workgroup memory,
    /// 128 MiB per binding) and no optional features: what the smallest device that runs
    /// this program offers, for testing that every kernel family has a path that fits.
    #[serde(alias = "min", alias = "default")]
    Minimal,
}

impl DeviceLimits {
    /// The limits called `name` (`--limits`' value), or an error listing the names.
    pub fn parse(name: &str) -> std::result::Result<Self, String> {
        match name.to_ascii_lowercase().as_str() {
            "adapter" => Ok(Self::Adapter),
            "minimal" | "min" | "default" => Ok(Self::Minimal),
            other => Err(format!("`{other}`: use adapter or minimal")),
        }
    }

    /// The limits a choice opens with: its own, else the adapter's.
    pub fn of(choice: &AdapterChoice) -> Self {
        choice.limits.unwrap_or(Self::Adapter)
    }
}

/// How long a blocking wait on the GPU may take before it is reported as a hang.
pub const GPU_WAIT_TIMEOUT: Duration = Duration::from_secs(600);

/// The backends a choice asks for: its backend, else all.
fn requested_backends(choice: &AdapterChoice) -> wgpu::Backends {
    choice.backend.map_or(wgpu::Backends::all(), Backend::backends)
}

async fn adapters_for(backends: wgpu::Backends) -> Vec<wgpu::Adapter> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends;
    let instance = wgpu::Instance::new(desc);
    instance.enumerate_adapters(backends).await
}

/// Every adapter wgpu sees for this choice's backends, in wgpu's order.
pub fn list_adapters(choice: &AdapterChoice) -> Result<Vec<wgpu::Adapter>> {
    Ok(pollster::block_on(adapters_for(requested_backends(choice))))
}

/// The adapters to choose from when opening a device: Vulkan/Metal/DX12 first; GL only
/// when none of those exists (or when asked for), which also keeps EGL's probing quiet.
async fn candidate_adapters(choice: &AdapterChoice) -> Result<Vec<wgpu::Adapter>> {
    let requested = requested_backends(choice);
    if choice.adapter.is_some() || requested == wgpu::Backends::GL {
        return Ok(adapters_for(requested).await);
    }
    let primary = adapters_for(requested & wgpu::Backends::PRIMARY).await;
    if !primary.is_empty() {
        return Ok(primary);
    }
    Ok(adapters_for(requested & wgpu::Backends::GL).await)
}

fn device_type_rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// The index the runtime picks: the explicit one, else the best device type
/// (discrete > integrated > virtual > CPU), preferring Vulkan/Metal/DX12 over GL on ties.
pub fn choose_adapter(adapters: &[wgpu::Adapter], choice: &AdapterChoice) -> Result<usize> {
    if adapters.is_empty() {
        let detail = match choice.backend {
            Some(b) => format!(" for backend `{}`", b.name()),
            None => String::new(),
        };
        return Err(Error::NoAdapter(detail));
    }
    if let Some(index) = choice.adapter {
        if index >= adapters.len() {
            return Err(Error::AdapterIndex { index, count: adapters.len() });
        }
        return Ok(index);
    }
    let key = |a: &wgpu::Adapter| {
        let info = a.get_info();
        (device_type_rank(info.device_type), u8::from(info.backend == wgpu::Backend::Gl))
    };
    let best = (0..adapters.len()).min_by_key(|&i| key(&adapters[i])).unwrap_or(0);
    Ok(best)
}

/// The choice of rank `local_rank` among the ranks on one machine (data parallelism): the
/// explicit `--adapter` when given, else the `local_rank mod n`-th of the n adapters of the
/// kind the runtime would pick (e.g. each of eight discrete GPUs in turn), named by backend
/// and index so that every rank opens exactly that one.
pub fn choice_for_rank(choice: &AdapterChoice, local_rank: usize) -> Result<AdapterChoice> {
    if choice.adapter.is_some() {
        return Ok(choice.clone());
    }
    let candidates = pollster::block_on(candidate_adapters(choice))?;
    let best = candidates[choose_adapter(&candidates, choice)?].get_info();
    let of_backend = pollster::block_on(adapters_for(best.backend.into()));
    let same_kind: Vec<usize> =
        (0..of_backend.len()).filter(|&i| of_backend[i].get_info().device_type == best.device_type).collect();
    let index = *same_kind
        .get(local_rank % same_kind.len().max(1))
        .ok_or_else(|| Error::NoAdapter(format!(" of kind {:?} on {:?}", best.device_type, best.backend)))?;
    let backend = Backend::of(best.backend)
        .ok_or_else(|| Error::NoAdapter(format!(" of a backend this program names ({:?})", best.backend)))?;
    Ok(AdapterChoice { backend: Some(backend), adapter: Some(index), ..choice.clone() })
}

/// An open device: everything a kernel launch needs.
pub struct GpuContext {
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    /// The limits the device was opened with (the adapter's own).
    pub limits: wgpu::Limits,
    /// The adapter's limits or wgpu's defaults (`DeviceLimits`).
    pub limits_choice: DeviceLimits,
    /// TIMESTAMP_QUERY was available and enabled.
    pub timestamps: bool,
    /// SUBGROUP was available and enabled (no kernel requires it).
    pub subgroups: bool,
    /// The device was opened with Features::SHADER_F16 (f16 in shaders).
    pub shader_f16: bool,
    /// Cooperative-matrix sizes S our kernels can run here: the adapter lists S x S x S with
    /// f16 x f16 -> f32, the device was opened with EXPERIMENTAL_COOPERATIVE_MATRIX, f16 and
    /// subgroups, and its subgroups fit (`coop_max_subgroups`). Empty elsewhere.
    pub coop_sizes: Vec<u32>,
}

/// The subgroups a 64-invocation cooperative-matrix workgroup may hold at matrix size S (the
/// MAX_SG of matmul_coop8.wgsl / matmul_coop16.wgsl): a device whose subgroups are smaller
/// than 64 / MAX_SG lanes does not run that file.
pub fn coop_max_subgroups(size: u32) -> u32 {
    if size <= 8 {
        8
    } else {
        4
    }
}

/// The sizes of `GpuContext::coop_sizes` from the adapter's list and subgroup sizes.
fn coop_sizes(adapter: &wgpu::Adapter, info: &wgpu::AdapterInfo, features: wgpu::Features) -> Vec<u32> {
    let needed =
        wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX | wgpu::Features::SHADER_F16 | wgpu::Features::SUBGROUP;
    if !features.contains(needed) {
        return Vec::new();
    }
    let f16 = wgpu::CooperativeScalarType::F16;
    let f32 = wgpu::CooperativeScalarType::F32;
    let mut sizes: Vec<u32> = adapter
        .cooperative_matrix_properties()
        .iter()
        .filter(|p| p.m_size == p.n_size && p.n_size == p.k_size && p.ab_type == f16 && p.cr_type == f32)
        .map(|p| p.m_size)
        .filter(|&s| s == 8 || s == 16)
        .filter(|&s| {
            let fewest_lanes = 64 / coop_max_subgroups(s);
            info.subgroup_min_size >= fewest_lanes && info.subgroup_max_size <= 64
        })
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

impl GpuContext {
    /// Opens the chosen adapter with its own limits and the optional features it offers
    /// (or, with `DeviceLimits::Minimal`, wgpu's default limits and no optional feature).
    pub fn open(choice: &AdapterChoice) -> Result<Self> {
        pollster::block_on(Self::open_async(choice))
    }

    /// `open` as a future (what a browser awaits).
    pub async fn open_async(choice: &AdapterChoice) -> Result<Self> {
        let limits_choice = DeviceLimits::of(choice);
        let mut adapters = candidate_adapters(choice).await?;
        let index = choose_adapter(&adapters, choice)?;
        let adapter = adapters.swap_remove(index);
        let info = adapter.get_info();
        let offered = adapter.features();
        let wanted = wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS
            | wgpu::Features::SUBGROUP
            | wgpu::Features::SHADER_F16
            | wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX;
        let (limits, features) = match limits_choice {
            DeviceLimits::Adapter => (adapter.limits(), offered & wanted),
            DeviceLimits::Minimal => (wgpu::Limits::default(), wgpu::Features::empty()),
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("adclr-wgpu"),
                required_features: features,
                required_limits: limits.clone(),
                // SAFETY: the one experimental feature asked for, cooperative matrices, is used only
                // by the matmul_coop and attention_coop files, with matrix types the adapter lists
                // (`coop_sizes`), and tested against the CPU reference where a driver offers it
                // (Mesa 26 lavapipe).
                experimental_features: if features.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
                    unsafe { wgpu::ExperimentalFeatures::enabled() }
                } else {
                    wgpu::ExperimentalFeatures::disabled()
                },
                ..Default::default()
            })
            .await
            .map_err(|e| Error::RequestDevice(e.to_string()))?;
        let coop_sizes = coop_sizes(&adapter, &info, features);
        Ok(Self {
            adapter,
            device,
            queue,
            info,
            limits,
            limits_choice,
            timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            subgroups: features.contains(wgpu::Features::SUBGROUP),
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            coop_sizes,
        })
    }

    /// Blocks until all submitted work is done, with a timeout so a hang is reported.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::Wait { submission_index: None, timeout: Some(GPU_WAIT_TIMEOUT) })
            .map(|_| ())
            .map_err(|e| match e {
                wgpu::PollError::Timeout => Error::Timeout(GPU_WAIT_TIMEOUT.as_secs()),
                other => Error::Gpu(other.to_string()),
            })
    }

    /// A short description: "name (backend, device type)".
    pub fn describe(&self) -> String {
        // A browser's WebGPU names no adapter.
        let name = if self.info.name.is_empty() { "unnamed adapter" } else { &self.info.name };
        format!("{name} ({:?}, {:?})", self.info.backend, self.info.device_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_adapter_error_says_what_to_install() {
        let msg = choose_adapter(&[], &AdapterChoice::default()).unwrap_err().to_string();
        assert!(msg.contains("mesa-vulkan-drivers") && msg.contains("driver"), "{msg}");
        let msg = choose_adapter(&[], &AdapterChoice { backend: Some(Backend::Metal), ..Default::default() })
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`metal`"), "{msg}");
    }

    #[test]
    fn backends_parse_and_unknown_ones_are_named() {
        assert_eq!(Backend::parse("Vulkan").unwrap(), Backend::Vulkan);
        assert_eq!(Backend::parse("d3d12").unwrap(), Backend::Dx12);
        for b in [Backend::Vulkan, Backend::Metal, Backend::Dx12, Backend::Gl] {
            assert_eq!(Backend::parse(b.name()).unwrap(), b);
            assert_eq!(
                Backend::of(match b {
                    Backend::Vulkan => wgpu::Backend::Vulkan,
                    Backend::Metal => wgpu::Backend::Metal,
                    Backend::Dx12 => wgpu::Backend::Dx12,
                    Backend::Gl => wgpu::Backend::Gl,
                }),
                Some(b)
            );
        }
        let msg = Backend::parse("cuda").unwrap_err().to_string();
        assert!(msg.contains("`cuda`") && msg.contains("vulkan"), "{msg}");
    }
}
