//! What the model and the step are, without a GPU: configurations and their validation, the
//! step's inputs and hyper-parameters, the parameter list (timm names, shapes, init) and the
//! flat buffers it is packed into. The CPU reference and every layer above build on these.

pub mod batch;
pub mod config;
pub mod flat;
pub mod params;
pub mod schedule;
