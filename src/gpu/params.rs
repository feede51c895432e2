//! Uniform parameter blocks. Each kernel's `@binding(0)` is a WGSL `struct Params`; its Rust
//! mirror is a `#[repr(C)]` Pod struct declared with `shader_params!`, which also records
//! the shader files it belongs to and its fields. `Dispatch::new` refuses a block declared
//! for other files, and tests/shaders_validate.rs compares every block with the WGSL through
//! naga (names, types, offsets, size).

/// A Rust mirror of the `Params` struct of some shader files.
pub trait ShaderParams: bytemuck::Pod {
    /// The type's name (for messages).
    const NAME: &'static str;
    /// The shader files (stems in `shaders/`) whose `Params` this mirrors.
    const SHADERS: &'static [&'static str];
    /// Field names and types (`u32` or `f32`), in order.
    const FIELDS: &'static [(&'static str, &'static str)];
}

/// One parameter block's description, for the test that compares it with the WGSL.
#[derive(Clone, Copy, Debug)]
pub struct ParamsLayout {
    pub name: &'static str,
    pub shaders: &'static [&'static str],
    pub fields: &'static [(&'static str, &'static str)],
    pub size: usize,
}

impl ParamsLayout {
    pub fn of<P: ShaderParams>() -> Self {
        Self { name: P::NAME, shaders: P::SHADERS, fields: P::FIELDS, size: std::mem::size_of::<P>() }
    }
}

/// Declares a parameter block: `shader_params! { /// doc  pub struct NameParams for
/// ["file", ..] { field: u32, other: f32, _pad: u32 } }`.
macro_rules! shader_params {
    ($(#[$meta:meta])* $vis:vis struct $name:ident for [$($file:literal),+ $(,)?] { $($field:ident : $ty:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
        $vis struct $name {
            $(pub $field: $ty),+
        }

        impl $crate::gpu::params::ShaderParams for $name {
            const NAME: &'static str = stringify!($name);
            const SHADERS: &'static [&'static str] = &[$($file),+];
            const FIELDS: &'static [(&'static str, &'static str)] = &[$((stringify!($field), stringify!($ty))),+];
        }
    };
}
pub(crate) use shader_params;
