//! One engine per kernel choice for the whole test run (opened once: a browser compiles every
//! pipeline again for each): those of the shared cases' `BROWSER_ENGINES`.

use crate::cases::support::BROWSER_ENGINES;
use adclr_wgpu::gpu::{AdapterChoice, Engine, EngineRequest, KernelChoice};
use std::cell::RefCell;
use std::rc::Rc;

type Opened = (KernelChoice, &'static str, Rc<Engine>);

thread_local! {
    static ENGINES: RefCell<Vec<Opened>> = const { RefCell::new(Vec::new()) };
}

/// The engine of `choice` under `limits` on the browser's adapter, opened once.
pub async fn engine_with(choice: KernelChoice, limits: &'static str) -> Rc<Engine> {
    let found = |v: &Vec<Opened>| v.iter().find(|(c, l, _)| *c == choice && *l == limits).map(|(_, _, e)| e.clone());
    if let Some(e) = ENGINES.with_borrow(found) {
        return e;
    }
    let named = adclr_wgpu::gpu::context::DeviceLimits::parse(limits).unwrap_or_else(|e| panic!("limits {e}"));
    let adapter = AdapterChoice { limits: Some(named), ..AdapterChoice::default() };
    let e = Engine::open_async(&EngineRequest::exact(adapter.clone(), choice))
        .await
        .unwrap_or_else(|err| panic!("opening WebGPU with {choice:?} under {limits} limits: {err}"));
    let e = Rc::new(e);
    ENGINES.with_borrow_mut(|v| v.push((choice, limits, e.clone())));
    e
}

/// Both browser engines.
pub async fn engines() -> Vec<Rc<Engine>> {
    let mut out = Vec::new();
    for (choice, limits) in BROWSER_ENGINES {
        out.push(engine_with(choice, limits).await);
    }
    out
}

/// The portable engine under WebGPU's default limits (families with one variant, training).
pub async fn engine() -> Rc<Engine> {
    let (choice, limits) = BROWSER_ENGINES[0];
    engine_with(choice, limits).await
}
