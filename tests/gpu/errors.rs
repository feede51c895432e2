use crate::common::*;
use adclr_wgpu::gpu::entry;
use adclr_wgpu::gpu::GpuTensor;
use adclr_wgpu::ops::{elementwise, matmul};
use adclr_wgpu::Error;

#[test]
fn tensor_beyond_the_binding_limit_is_an_error_naming_it() {
    let e = engine();
    let limit = e.ctx.limits.max_storage_buffer_binding_size;
    let elements = (limit / 4 + 1) as usize;
    if (elements * 4) as u64 > e.ctx.limits.max_buffer_size {
        // Such a device cannot even hold the tensor; allocation must fail cleanly instead.
        let err = GpuTensor::zeros(&e.ctx, "too big", &[elements]).unwrap_err();
        assert!(matches!(err, Error::BufferTooLarge { .. }));
        return;
    }
    let big = GpuTensor::zeros(&e.ctx, "activations.big", &[elements]).unwrap();
    match elementwise::fill(e, &big, 0.0) {
        Err(Error::BindingTooLarge { name, bytes, limit: l }) => {
            assert_eq!(name, "activations.big");
            assert_eq!(bytes, elements as u64 * 4);
            assert_eq!(l, limit);
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a tensor past the binding limit was bound"),
    }
}

#[test]
fn mismatched_shapes_are_rejected_before_dispatch() {
    let e = engine();
    let s = matmul::MatmulShape::new(1, 4, 5, 6);
    let a = zeros("a", 24);
    let b = zeros("b", 29);
    let c = zeros("c", 20);
    let err = matmul::forward(e, &s, &a, &b, None, &c, 1.0, false).err().expect("must fail");
    let msg = err.to_string();
    assert!(msg.contains("`b`") && msg.contains("30"), "{msg}");
}

/// A launcher that passes another shader's parameter block gets an error naming both; a
/// rewrite of a recorded dispatch's block is checked the same way.
#[test]
fn a_parameter_block_of_another_shader_is_refused() {
    use adclr_wgpu::ops::gelu::GeluForwardParams;
    use adclr_wgpu::ops::softmax::SoftmaxParams;
    let e = engine();
    let (x, y) = (zeros("x", 8), zeros("y", 8));
    let wrong = SoftmaxParams { rows: 1, cols: 8, inv_temp: 1.0, _pad: 0 };
    let err = e.dispatch(entry::GELU_FORWARD, &wrong, &[&x, &y], [1, 1, 1]).err().expect("refused");
    let text = err.to_string();
    assert!(text.contains("gelu_forward") && text.contains("SoftmaxParams"), "{text}");
    let right = GeluForwardParams { n: 8, ..Default::default() };
    let d = e.dispatch(entry::GELU_FORWARD, &right, &[&x, &y], [1, 1, 1]).unwrap();
    assert!(d.set_params(&e.ctx, &right).is_ok());
    assert!(d.set_params(&e.ctx, &wrong).is_err());
}
