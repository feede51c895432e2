//! Model presets and the ADCLR step's settings, validated before any work starts.

/// Which keys a query token QP_i attends to (ADCLR.md `query-attends`); config.toml and
/// `--query-attends` name them as below.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum QueryAttends {
    /// CLS, raw patches and itself (default).
    #[default]
    #[serde(rename = "cls+patches+self")]
    ClsPatchesSelf = 0,
    /// CLS and raw patches (Eq. 5).
    #[serde(rename = "cls+patches")]
    ClsPatches = 1,
    /// Raw patches only (the paper's pseudocode).
    #[serde(rename = "patches")]
    Patches = 2,
    /// CLS, raw patches and every query (PQCL code).
    #[serde(rename = "all")]
    All = 3,
}

impl QueryAttends {
    pub const ALL_MODES: [QueryAttends; 4] = [Self::ClsPatchesSelf, Self::ClsPatches, Self::Patches, Self::All];

    /// The name config.toml and the flag use.
    pub fn name(self) -> &'static str {
        match self {
            Self::ClsPatchesSelf => "cls+patches+self",
            Self::ClsPatches => "cls+patches",
            Self::Patches => "patches",
            Self::All => "all",
        }
    }

    /// The mode called `name`, or an error listing the names.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL_MODES
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| format!("`{name}`: use cls+patches+self, cls+patches, patches or all"))
    }
}

/// Largest head dimension the attention kernels take (their per-invocation arrays).
pub const MAX_HEAD_DIM: usize = 128;

/// A ViT backbone and its DINO head.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub preset: String,
    /// Global view side S (pixels).
    pub image_size: usize,
    pub patch_size: usize,
    pub channels: usize,
    pub dim: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp_ratio: usize,
    /// K: prototypes of the head's last layer.
    pub out_dim: usize,
    pub head_hidden: usize,
    pub head_bottleneck: usize,
    /// Local crop side.
    pub local_size: usize,
    pub ln_eps: f64,
}

impl ModelConfig {
    pub fn preset(name: &str) -> Result<Self, String> {
        let base = |image, patch, dim, depth, heads, k, local| ModelConfig {
            preset: name.to_string(),
            image_size: image,
            patch_size: patch,
            channels: 3,
            dim,
            depth,
            heads,
            mlp_ratio: 4,
            out_dim: k,
            head_hidden: 2048,
            head_bottleneck: 256,
            local_size: local,
            ln_eps: 1e-6,
        };
        match name {
            "tiny" => Ok(base(32, 4, 192, 6, 3, 4096, 16)),
            "vit-s16" => Ok(base(224, 16, 384, 12, 6, 65536, 96)),
            "vit-b16" => Ok(base(224, 16, 768, 12, 12, 65536, 96)),
            other => Err(format!("unknown preset `{other}`: use tiny, vit-s16 or vit-b16")),
        }
    }

    /// The sizes in a line: "32 px, patch 4, D 192, depth 6, 3 heads, K 4096, local 16 px".
    pub fn summary(&self) -> String {
        format!(
            "{} px, patch {}, D {}, depth {}, {} heads, K {}, local {} px",
            self.image_size, self.patch_size, self.dim, self.depth, self.heads, self.out_dim, self.local_size
        )
    }

    pub fn grid(&self, side: usize) -> usize {
        side / self.patch_size
    }
    pub fn patches(&self, side: usize) -> usize {
        self.grid(side) * self.grid(side)
    }
    /// Values per flattened patch: C * P * P (the conv weight's [C, P, P] order).
    pub fn patch_len(&self) -> usize {
        self.channels * self.patch_size * self.patch_size
    }
    pub fn head_dim(&self) -> usize {
        self.dim / self.heads
    }
    pub fn hidden(&self) -> usize {
        self.dim * self.mlp_ratio
    }

    /// Every impossible value, named.
    pub fn validate(&self) -> Result<(), String> {
        let p = self.patch_size;
        if p == 0 {
            return Err("--patch-size must be at least 1".into());
        }
        if self.image_size == 0 || !self.image_size.is_multiple_of(p) {
            return Err(format!("--image-size {} is not a multiple of the patch size {p}", self.image_size));
        }
        if self.local_size == 0 || !self.local_size.is_multiple_of(p) {
            return Err(format!("--local-size {} is not a multiple of the patch size {p}", self.local_size));
        }
        if self.dim == 0 || self.heads == 0 || !self.dim.is_multiple_of(self.heads) {
            return Err(format!("--dim {} must be a positive multiple of --heads {}", self.dim, self.heads));
        }
        if self.head_dim() > MAX_HEAD_DIM {
            return Err(format!("head dim {} exceeds {}", self.head_dim(), MAX_HEAD_DIM));
        }
        if self.depth == 0 {
            return Err("--depth must be at least 1".into());
        }
        if self.out_dim == 0 || !self.out_dim.is_multiple_of(64) {
            return Err(format!("--out-dim {} must be a positive multiple of 64", self.out_dim));
        }
        if self.head_hidden == 0 || self.head_bottleneck == 0 || self.channels == 0 {
            return Err("head sizes and channels must be positive".into());
        }
        // Upper bounds, so that no size product below can overflow (the values also come
        // from checkpoint metadata, which a user may hand over damaged).
        let bounds = [
            ("--image-size", self.image_size, MAX_SIDE),
            ("--local-size", self.local_size, MAX_SIDE),
            ("--dim", self.dim, MAX_WIDTH),
            ("--depth", self.depth, MAX_DEPTH),
            ("--out-dim", self.out_dim, MAX_WIDTH * 64),
            ("--head-hidden", self.head_hidden, MAX_WIDTH),
            ("--head-bottleneck", self.head_bottleneck, MAX_WIDTH),
            ("channels", self.channels, 4),
            ("mlp ratio", self.mlp_ratio, 16),
        ];
        for (name, value, max) in bounds {
            if value > max {
                return Err(format!("{name} {value} must be at most {max}"));
            }
        }
        Ok(())
    }
}

/// The presets `ModelConfig::preset` knows.
pub const PRESETS: [&str; 3] = ["tiny", "vit-s16", "vit-b16"];

/// Largest image side, token width and depth a model may have (far beyond any ViT).
pub const MAX_SIDE: usize = 8192;
pub const MAX_WIDTH: usize = 1 << 16;
pub const MAX_DEPTH: usize = 1024;

/// The ADCLR step around the model (ADCLR.md).
#[derive(Clone, Debug, PartialEq)]
pub struct AdclrConfig {
    pub model: ModelConfig,
    /// Images per step (B).
    pub batch: usize,
    /// Query tokens per image (Q).
    pub queries: usize,
    /// Local crops per image (L).
    pub local_crops: usize,
    /// Weight of the query term (lambda).
    pub lambda: f64,
    pub query_attends: QueryAttends,
    pub bidirectional: bool,
    pub student_temp: f64,
    pub centre_momentum: f64,
    /// Per-tensor gradient clipping (0 = off).
    pub clip_grad: f64,
    /// Drop-path rate of the last block; earlier blocks get less (`drop_path_rates`).
    pub drop_path: f64,
    pub adam_beta1: f64,
    pub adam_beta2: f64,
    pub adam_eps: f64,
}

/// Bounds that keep every size product far from overflow and every plan describable; far
/// beyond what any device holds (the memory plan then says what does not fit).
pub const MAX_BATCH: usize = 1 << 16;
pub const MAX_QUERIES: usize = 1024;
pub const MAX_LOCAL_CROPS: usize = 64;
pub const MAX_QUERY_TOKENS: usize = 1 << 20;

impl AdclrConfig {
    /// Drop-path rate of each block, rising linearly from 0 at the first block to `drop_path`
    /// at the last (DINO's `linspace(0, rate, depth)`).
    pub fn drop_path_rates(&self) -> Vec<f64> {
        let depth = self.model.depth;
        (0..depth).map(|l| if depth > 1 { self.drop_path * l as f64 / (depth - 1) as f64 } else { 0.0 }).collect()
    }

    pub fn new(model: ModelConfig, batch: usize) -> Self {
        Self {
            model,
            batch,
            queries: 10,
            local_crops: 0,
            lambda: 0.5,
            query_attends: QueryAttends::ClsPatchesSelf,
            bidirectional: false,
            student_temp: 0.1,
            centre_momentum: 0.9,
            clip_grad: 3.0,
            drop_path: 0.0,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_eps: 1e-8,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        self.model.validate()?;
        if !(1..=MAX_BATCH).contains(&self.batch) {
            return Err(format!("--batch {} must be in 1..={MAX_BATCH}", self.batch));
        }
        if self.queries > MAX_QUERIES {
            return Err(format!("--queries {} must be at most {MAX_QUERIES} (the paper uses 10)", self.queries));
        }
        if self.local_crops > MAX_LOCAL_CROPS {
            return Err(format!("--local-crops {} must be at most {MAX_LOCAL_CROPS}", self.local_crops));
        }
        // The host builds index lists of B x Q entries before anything is sized, even in a dry run.
        if self.batch * self.queries > MAX_QUERY_TOKENS {
            return Err(format!(
                "--batch {} x --queries {} = {} query tokens per step, more than {MAX_QUERY_TOKENS}: lower either",
                self.batch,
                self.queries,
                self.batch * self.queries
            ));
        }
        if !(self.lambda >= 0.0 && self.lambda.is_finite()) {
            return Err(format!("--lambda {} must be a finite number >= 0", self.lambda));
        }
        if self.queries == 0 && self.lambda > 0.0 {
            return Err("--queries 0 with --lambda > 0: the query loss needs query tokens (set --lambda 0)".into());
        }
        if !(0.0..1.0).contains(&self.drop_path) {
            return Err(format!("--drop-path {} must be in [0, 1)", self.drop_path));
        }
        if self.student_temp <= 0.0 {
            return Err(format!("--student-temp {} must be > 0", self.student_temp));
        }
        Ok(())
    }

    /// Tokens of a global view: CLS + patches + queries.
    pub fn global_tokens(&self) -> usize {
        1 + self.model.patches(self.model.image_size) + self.queries
    }
    pub fn local_tokens(&self) -> usize {
        1 + self.model.patches(self.model.local_size)
    }
    /// Student head rows: CLS of every crop, then the queries of the global views.
    pub fn student_head_rows(&self) -> usize {
        (2 + self.local_crops) * self.batch + 2 * self.batch * self.queries
    }
    pub fn teacher_head_rows(&self) -> usize {
        2 * self.batch + 2 * self.batch * self.queries
    }

    /// DINO multi-crop pairs (teacher row, student row): crop-major rows (crop * B + image);
    /// each student crop against each teacher global crop but the same view.
    pub fn global_pairs(&self) -> Vec<(usize, usize)> {
        let b = self.batch;
        let mut pairs = Vec::new();
        for tv in 0..2 {
            for sv in 0..2 + self.local_crops {
                if sv != tv {
                    pairs.extend((0..b).map(|img| (tv * b + img, sv * b + img)));
                }
            }
        }
        pairs
    }

    /// Query pairs: query i of view v (student) against query i of the other view (teacher),
    /// rows (view * B + image) * Q + i.
    pub fn query_pairs(&self) -> Vec<(usize, usize)> {
        let n = self.batch * self.queries;
        (0..2 * n).map(|r| ((r + n) % (2 * n), r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(batch: usize, queries: usize, local_crops: usize) -> AdclrConfig {
        let mut c = AdclrConfig::new(ModelConfig::preset("tiny").expect("preset"), batch);
        c.queries = queries;
        c.local_crops = local_crops;
        c
    }

    #[test]
    fn drop_path_rises_linearly_over_depth() {
        let mut c = AdclrConfig::new(ModelConfig::preset("tiny").expect("preset"), 4);
        c.drop_path = 0.1;
        let rates = c.drop_path_rates();
        assert_eq!(rates.len(), 6);
        for (l, r) in rates.iter().enumerate() {
            assert!((r - 0.02 * l as f64).abs() < 1e-12, "block {l}: {r}");
        }
        c.model.depth = 1;
        assert_eq!(c.drop_path_rates(), vec![0.0]);
    }

    #[test]
    fn multicrop_pairs_skip_the_same_view() {
        // B = 1, L = 1: rows are global 0, global 1, local 0.
        let mut p = cfg(1, 2, 1).global_pairs();
        p.sort();
        assert_eq!(p, vec![(0, 1), (0, 2), (1, 0), (1, 2)]);
        assert_eq!(cfg(3, 2, 2).global_pairs().len(), 2 * (2 + 2 - 1) * 3);
    }

    #[test]
    fn query_pairs_match_the_same_query_across_views() {
        // B = 1, Q = 2: student rows 0, 1 (view 0) and 2, 3 (view 1).
        assert_eq!(cfg(1, 2, 0).query_pairs(), vec![(2, 0), (3, 1), (0, 2), (1, 3)]);
    }

    #[test]
    fn impossible_settings_are_named() {
        let mut c = cfg(2, 0, 0);
        assert!(c.validate().unwrap_err().contains("--lambda"));
        c.lambda = 0.0;
        assert!(c.validate().is_ok());
        c.batch = 0;
        assert!(c.validate().unwrap_err().contains("--batch"));
        // Sizes whose products overflow or whose plan alone fills the host (were a capacity
        // overflow panic and an OOM kill of `plan`).
        c.batch = 4_611_686_018_427_387_904;
        assert!(c.validate().unwrap_err().contains("--batch"));
        c.batch = 2;
        c.queries = 100_000_000;
        assert!(c.validate().unwrap_err().contains("--queries"));
        c.queries = 10;
        c.local_crops = 1 << 40;
        assert!(c.validate().unwrap_err().contains("--local-crops"));
        c.local_crops = 2;
        (c.batch, c.queries) = (MAX_BATCH, MAX_QUERIES);
        assert!(c.validate().unwrap_err().contains("query tokens per step"));
        let mut m = ModelConfig::preset("tiny").expect("preset");
        m.image_size = 30;
        assert!(m.validate().unwrap_err().contains("--image-size"));
        // Sizes from damaged checkpoint metadata: bounded before any product is formed.
        m.image_size = 1 << 40;
        assert!(m.validate().unwrap_err().contains("--image-size 1099511627776 must be at most"));
        m = ModelConfig::preset("tiny").expect("preset");
        (m.dim, m.heads) = (1 << 50, 1 << 44);
        assert!(m.validate().unwrap_err().contains("--dim"));
        assert!(ModelConfig::preset("vit-h14").unwrap_err().contains("vit-h14"));
    }
}
