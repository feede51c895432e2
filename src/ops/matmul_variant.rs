//! Which matmul kernel one product runs: a variant chosen from the engine's `MatmulKernel`
//! and precision and the operands' layout. The entry point, the buffers it binds and the part
//! of C a workgroup computes all come from the variant (as `ops::attention`'s do), so the
//! launcher (`ops::matmul`) names no kernel itself.

use crate::gpu::entry;
use crate::gpu::{MatmulKernel, Precision};

/// Outputs per workgroup the grids below assume: 64 x 64 (matmul.wgsl), 128 x 128
/// (matmul_tiles.wgsl), 256 x 64 (matmul_subgroup.wgsl: 8 subgroups of 32 rows x 64 columns),
/// 64 x 32 (matmul_vec4.wgsl).
pub const TILE: u32 = 64;
pub const TILES_TILE: u32 = 128;
/// The narrow tiles' short side (matmul_tiles_wide.wgsl: 64 rows, matmul_tiles_tall.wgsl: 64 columns).
pub const NARROW_TILE: u32 = 64;
/// Workgroups below which 128 x 128 tiles leave a GPU idle and the narrow tiles (twice as
/// many workgroups) take the product: two per multiprocessor of a 132-SM H100 or H200.
pub const NARROW_BELOW_WORKGROUPS: u32 = 264;
pub const SUBGROUP_ROWS: u32 = 256;
pub const SUBGROUP_COLS: u32 = 64;
/// The register-blocked kernels (matmul_vec4.wgsl): 8 x 4 per invocation, 8 x 8 invocations.
pub const BLOCKED_ROWS: u32 = 64;
pub const BLOCKED_COLS: u32 = 32;

/// An operand: element (r, c) of batch b at b * bs + r * rs + c * cs.
#[derive(Clone, Copy, Debug)]
pub struct Strides {
    pub rs: usize,
    pub cs: usize,
    pub bs: usize,
}

/// The operand layouts the vec4 tiles and the subgroup kernels take: A along K with B along
/// K (nt) or along N (nn), A along M with B along N (tn).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Nt,
    Nn,
    Tn,
}

/// The register blocks' layouts (matmul_vec4.wgsl): both operands in tight rows along K
/// (nt); B in tight rows along N with A along K (nn_k4), along M (tn) or strided (nn).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockedLayout {
    Nt,
    NnK4,
    Tn,
    Nn,
}

/// The tiles' shapes: 128 x 128, 64 rows x 128 columns (wide), 128 rows x 64 columns (tall).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TileShape {
    Square,
    Wide,
    Tall,
}

/// What a kernel binds after the parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bindings {
    /// a, b, bias, c, aux (matmul.wgsl, the cooperative matrices).
    Plain,
    /// a, b, bias, c, a as vec4, aux.
    Vec4,
    /// As Vec4, then a and b as operand textures (the subgroup kernels).
    Textures,
}

/// One matmul kernel as launched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulVariant {
    /// 64 x 64 workgroup tiles over any strides (matmul.wgsl).
    Strided,
    /// Register blocks (matmul_vec4.wgsl).
    Blocked(BlockedLayout),
    /// f32 tiles (matmul_tiles*.wgsl).
    Tiles(TileShape, Layout),
    /// 128 x 128 tiles on operands rounded to f16 (matmul_tiles_f16.wgsl).
    TilesF16(Layout),
    /// Subgroup-shared register blocks from textures, f32 or f16 operands
    /// (matmul_subgroup.wgsl, matmul_subgroup_f16.wgsl).
    Subgroup { f16: bool, layout: Layout },
    /// Cooperative matrices of this size (matmul_coop8.wgsl, matmul_coop16.wgsl).
    Coop(u32),
}

impl MatmulVariant {
    /// The entry point.
    pub fn entry(self) -> &'static str {
        use Layout::{Nn, Nt, Tn};
        match self {
            Self::Strided => entry::MATMUL,
            Self::Blocked(l) => match l {
                BlockedLayout::Nt => entry::MATMUL_NT,
                BlockedLayout::NnK4 => entry::MATMUL_NN_K4,
                BlockedLayout::Tn => entry::MATMUL_TN,
                BlockedLayout::Nn => entry::MATMUL_NN,
            },
            Self::Tiles(TileShape::Square, l) => {
                [entry::MATMUL_TILES_NT, entry::MATMUL_TILES_NN, entry::MATMUL_TILES_TN][l as usize]
            }
            Self::Tiles(TileShape::Wide, l) => {
                [entry::MATMUL_TILES_WIDE_NT, entry::MATMUL_TILES_WIDE_NN, entry::MATMUL_TILES_WIDE_TN][l as usize]
            }
            Self::Tiles(TileShape::Tall, l) => {
                [entry::MATMUL_TILES_TALL_NT, entry::MATMUL_TILES_TALL_NN, entry::MATMUL_TILES_TALL_TN][l as usize]
            }
            Self::TilesF16(l) => {
                [entry::MATMUL_TILES_F16_NT, entry::MATMUL_TILES_F16_NN, entry::MATMUL_TILES_F16_TN][l as usize]
            }
            Self::Subgroup { f16: false, layout: l } => match l {
                Nt => entry::MATMUL_SG_NT,
                Nn => entry::MATMUL_SG_NN,
                Tn => entry::MATMUL_SG_TN,
            },
            Self::Subgroup { f16: true, layout: l } => match l {
                Nt => entry::MATMUL_SG_F16_NT,
                Nn => entry::MATMUL_SG_F16_NN,
                Tn => entry::MATMUL_SG_F16_TN,
            },
            Self::Coop(size) => match size {
                16 => entry::MATMUL_COOP16,
                _ => entry::MATMUL_COOP8,
            },
        }
    }

    /// What the kernel binds after its parameters.
    pub fn bindings(self) -> Bindings {
        match self {
            Self::Strided | Self::Coop(_) => Bindings::Plain,
            Self::Subgroup { .. } => Bindings::Textures,
            Self::Blocked(_) | Self::Tiles(..) | Self::TilesF16(_) => Bindings::Vec4,
        }
    }

    /// Columns and rows of C per workgroup (the cooperative matrices' grid depends on the
    /// adapter's subgroups: `ops::matmul`).
    pub fn block(self) -> [u32; 2] {
        match self {
            Self::Strided => [TILE, TILE],
            Self::Blocked(_) => [BLOCKED_COLS, BLOCKED_ROWS],
            Self::Tiles(TileShape::Square, _) | Self::TilesF16(_) => [TILES_TILE, TILES_TILE],
            Self::Tiles(TileShape::Wide, _) => [TILES_TILE, NARROW_TILE],
            Self::Tiles(TileShape::Tall, _) => [NARROW_TILE, TILES_TILE],
            Self::Subgroup { .. } => [SUBGROUP_COLS, SUBGROUP_ROWS],
            Self::Coop(size) => [2 * size, 2 * size],
        }
    }

    /// The variant for a product with `kernel` at `precision` and the operands' layout
    /// (`textures`: both operand tensors fit operand textures; `coop`: the cooperative-matrix
    /// size whose kernel compiled here, `Engine::coop_kernel`). f16-mixed runs the f16
    /// subgroup kernels where `Subgroup` takes the layout, else the f16 tiles for every layout
    /// they take, and f32 for the rest.
    pub fn choose(
        (kernel, precision): (MatmulKernel, Precision),
        xs: Strides,
        ys: Strides,
        (m, n, k, z): (usize, usize, usize, u32),
        (textures, coop): (bool, Option<u32>),
    ) -> Self {
        if let (MatmulKernel::Coop, Some(size)) = (kernel, coop) {
            return Self::Coop(size);
        }
        // vec4 loads need 16-byte aligned rows and batches along the operand's contiguous dimension.
        let aligned = |len: usize, other: usize, batch: usize| {
            len > 0 && len.is_multiple_of(4) && other.is_multiple_of(4) && batch.is_multiple_of(4)
        };
        let a_along_k = xs.cs == 1 && aligned(k, xs.rs, xs.bs);
        let a_along_m = xs.rs == 1 && aligned(m, xs.cs, xs.bs);
        let b_along_n = ys.cs == 1 && aligned(n, ys.rs, ys.bs);
        let b_along_k = ys.rs == 1 && aligned(k, ys.cs, ys.bs);
        let layout = match () {
            _ if a_along_k && b_along_k => Some(Layout::Nt),
            _ if a_along_k && b_along_n => Some(Layout::Nn),
            _ if a_along_m && b_along_n => Some(Layout::Tn),
            _ => None,
        };
        let f16 = precision == Precision::F16Mixed;
        if f16 && kernel != MatmulKernel::Subgroup {
            if let Some(l) = layout {
                return Self::TilesF16(l);
            }
        }
        match kernel {
            MatmulKernel::Strided => return Self::Strided,
            MatmulKernel::Tiles => return layout.map_or(Self::Strided, |l| Self::tiles_for(m, n, z, l)),
            // Coop without its kernel runs the f32 register blocks.
            MatmulKernel::Blocked | MatmulKernel::Subgroup | MatmulKernel::Coop => {}
        }
        // The register blocks also need tight rows where both run along K (nt) or B along N.
        let dense_k = a_along_k && b_along_k && xs.rs == k && ys.cs == k;
        let b_rows = b_along_n && ys.rs == n;
        if kernel == MatmulKernel::Subgroup && textures {
            match () {
                _ if dense_k => return Self::Subgroup { f16, layout: Layout::Nt },
                _ if b_rows && a_along_k => return Self::Subgroup { f16, layout: Layout::Nn },
                _ if b_rows && a_along_m => return Self::Subgroup { f16, layout: Layout::Tn },
                _ => {}
            }
        }
        if f16 {
            if let Some(l) = layout {
                return Self::TilesF16(l);
            }
        }
        match () {
            _ if dense_k => Self::Blocked(BlockedLayout::Nt),
            _ if b_rows && a_along_k => Self::Blocked(BlockedLayout::NnK4),
            _ if b_rows && a_along_m => Self::Blocked(BlockedLayout::Tn),
            _ if b_rows => Self::Blocked(BlockedLayout::Nn),
            _ => Self::Strided,
        }
    }

    /// The f32 tiles for `layout` of an m x n product over `z` batch workgroups: 128 x 128
    /// unless that grid has fewer than `NARROW_BELOW_WORKGROUPS` workgroups, else the narrow
    /// tiles that pad the product less (64 rows where both pad alike and the product has no
    /// more rows than columns).
    pub fn tiles_for(m: usize, n: usize, z: u32, layout: Layout) -> Self {
        let workgroups = (m as u32).div_ceil(TILES_TILE) * (n as u32).div_ceil(TILES_TILE) * z;
        if workgroups >= NARROW_BELOW_WORKGROUPS {
            return Self::Tiles(TileShape::Square, layout);
        }
        let padded = |rows: u32, cols: u32| m.next_multiple_of(rows as usize) * n.next_multiple_of(cols as usize);
        let (wide, tall) = (padded(NARROW_TILE, TILES_TILE), padded(TILES_TILE, NARROW_TILE));
        match wide < tall || (wide == tall && m <= n) {
            true => Self::Tiles(TileShape::Wide, layout),
            false => Self::Tiles(TileShape::Tall, layout),
        }
    }
}
