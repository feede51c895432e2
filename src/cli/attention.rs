//! `adclr-wgpu attention`: the attention figure of one image.

use super::device_args::DeviceArgs;
use super::engine_request;
use crate::error::{Error, Result};
use crate::gpu::Engine;
use std::path::PathBuf;

pub fn run(
    device: DeviceArgs,
    checkpoint: PathBuf,
    image: PathBuf,
    out: PathBuf,
    queries: usize,
    seed: u64,
    cell: u32,
) -> Result<()> {
    let e = Engine::open(&engine_request(&device)?)?;
    let backbone = crate::eval::features::Backbone::load(&checkpoint)?;
    let img = crate::data::image_io::load_rgb(&image).map_err(Error::Data)?;
    let fig = crate::eval::attention_map::render(&e, &backbone, &img, queries, seed, cell)?;
    let mut png = Vec::new();
    fig.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Error::Data(e.to_string()))?;
    crate::checkpoint::write_atomic(&out, &png)?;
    println!(
        "wrote {} ({}x{}: rows CLS and {queries} queries; columns image, head mean, each head)",
        out.display(),
        fig.width(),
        fig.height()
    );
    Ok(())
}
