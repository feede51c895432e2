// Rounding to the nearest f16 value, ties to even, kept in f32: IEEE's f32 -> f16 conversion
// whatever the driver does (WGSL lets a conversion round either way, and lavapipe's vector
// conversion truncates). Normal values drop 13 mantissa bits with round-half-even; values
// below f16's smallest normal (2^-14) round to a multiple of its subnormal step 2^-24; past
// f16's largest finite value (65504) the result is infinite, as the conversion's overflow.
// NaN stays NaN.

fn f16_round(x: vec4<f32>) -> vec4<f32> {
    let b = bitcast<vec4<u32>>(x);
    let half_even = vec4<u32>(0x0fffu) + ((b >> vec4<u32>(13u)) & vec4<u32>(1u));
    let normal = bitcast<vec4<f32>>((b + half_even) & vec4<u32>(0xffffe000u));
    let subnormal = round(x * 16777216.0) / 16777216.0;
    let rounded = select(normal, subnormal, abs(x) < vec4<f32>(6.103515625e-5));
    let inf = vec4<f32>(bitcast<f32>(0x7f800000u));
    return select(rounded, select(-inf, inf, x > vec4<f32>(0.0)), abs(rounded) > vec4<f32>(65504.0));
}
