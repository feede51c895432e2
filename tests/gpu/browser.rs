//! The browser's kernel cases (tests/cases/kernels.rs, which web/tests/browser runs in headless
//! Chromium) natively, on the same two kernel choices under the same limits: one list of cases
//! for both, each blocked on here and awaited there.

use crate::cases::kernels as case;
use crate::cases::support::BROWSER_ENGINES;
use crate::common::adapter;
use adclr_wgpu::gpu::context::DeviceLimits;
use adclr_wgpu::gpu::{AdapterChoice, Engine, EngineRequest};
use std::sync::OnceLock;

/// The browser's engines on this machine's adapter, opened once for the binary.
fn browser_engines() -> Vec<&'static Engine> {
    static ENGINES: OnceLock<Vec<Engine>> = OnceLock::new();
    let opened = ENGINES.get_or_init(|| {
        BROWSER_ENGINES
            .iter()
            .map(|&(choice, limits)| {
                let limits = DeviceLimits::parse(limits).unwrap_or_else(|e| panic!("limits {e}"));
                let adapter = AdapterChoice { limits: Some(limits), ..adapter() };
                Engine::open(&EngineRequest::exact(adapter, choice))
                    .unwrap_or_else(|e| panic!("opening {choice:?} under {limits:?} limits: {e}"))
            })
            .collect()
    });
    opened.iter().collect()
}

/// Runs one shared case, natively, on the browser's engines.
macro_rules! natively {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            pollster::block_on(case::$name(&browser_engines()));
        }
    )*};
}

crate::cases::every_kernel_case!(natively);
