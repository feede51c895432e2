//! Every kernel entry point of `shaders/`, by name: the one place an entry point is spelled.
//! The table of shader files (`kernels::SHADER_FILES`) lists each under its file, and every
//! launcher names the kernel it dispatches by one of these, so a misspelt or removed kernel
//! is a compile error, not a run-time "no kernel named".

// matmul.wgsl
pub const MATMUL: &str = "matmul";

// matmul_tiles.wgsl
pub const MATMUL_TILES_NT: &str = "matmul_tiles_nt";
pub const MATMUL_TILES_NN: &str = "matmul_tiles_nn";
pub const MATMUL_TILES_TN: &str = "matmul_tiles_tn";

// matmul_tiles_wide.wgsl
pub const MATMUL_TILES_WIDE_NT: &str = "matmul_tiles_wide_nt";
pub const MATMUL_TILES_WIDE_NN: &str = "matmul_tiles_wide_nn";
pub const MATMUL_TILES_WIDE_TN: &str = "matmul_tiles_wide_tn";

// matmul_tiles_tall.wgsl
pub const MATMUL_TILES_TALL_NT: &str = "matmul_tiles_tall_nt";
pub const MATMUL_TILES_TALL_NN: &str = "matmul_tiles_tall_nn";
pub const MATMUL_TILES_TALL_TN: &str = "matmul_tiles_tall_tn";

// matmul_tiles_f16.wgsl
pub const MATMUL_TILES_F16_NT: &str = "matmul_tiles_f16_nt";
pub const MATMUL_TILES_F16_NN: &str = "matmul_tiles_f16_nn";
pub const MATMUL_TILES_F16_TN: &str = "matmul_tiles_f16_tn";

// matmul_vec4.wgsl
pub const MATMUL_NT: &str = "matmul_nt";
pub const MATMUL_NN: &str = "matmul_nn";
pub const MATMUL_NN_K4: &str = "matmul_nn_k4";
pub const MATMUL_TN: &str = "matmul_tn";

// matmul_subgroup.wgsl
pub const MATMUL_SG_NT: &str = "matmul_sg_nt";
pub const MATMUL_SG_NN: &str = "matmul_sg_nn";
pub const MATMUL_SG_TN: &str = "matmul_sg_tn";

// matmul_subgroup_f16.wgsl
pub const MATMUL_SG_F16_NT: &str = "matmul_sg_f16_nt";
pub const MATMUL_SG_F16_NN: &str = "matmul_sg_f16_nn";
pub const MATMUL_SG_F16_TN: &str = "matmul_sg_f16_tn";

// matmul_coop8.wgsl
pub const MATMUL_COOP8: &str = "matmul_coop8";

// matmul_coop16.wgsl
pub const MATMUL_COOP16: &str = "matmul_coop16";

// reduce.wgsl
pub const COLUMN_SUM: &str = "column_sum";
pub const COLUMN_SUM_CHUNKS: &str = "column_sum_chunks";

// elementwise.wgsl
pub const ADD_SCALED: &str = "add_scaled";
pub const SCALE: &str = "scale";
pub const FILL: &str = "fill";

// layernorm_forward.wgsl
pub const LAYERNORM_FORWARD: &str = "layernorm_forward";
pub const LAYERNORM_FORWARD_ROWWISE: &str = "layernorm_forward_rowwise";

// layernorm_backward.wgsl
pub const LAYERNORM_BACKWARD_INPUT: &str = "layernorm_backward_input";
pub const LAYERNORM_BACKWARD_PARAMS: &str = "layernorm_backward_params";
pub const LAYERNORM_BACKWARD_PARAMS_CHUNKS: &str = "layernorm_backward_params_chunks";
pub const LAYERNORM_BACKWARD_INPUT_ROWWISE: &str = "layernorm_backward_input_rowwise";

// softmax_forward.wgsl
pub const SOFTMAX_FORWARD: &str = "softmax_forward";

// softmax_backward.wgsl
pub const SOFTMAX_BACKWARD: &str = "softmax_backward";

// gelu_forward.wgsl
pub const GELU_FORWARD: &str = "gelu_forward";

// gelu_backward.wgsl
pub const GELU_BACKWARD: &str = "gelu_backward";

// attention_forward.wgsl
pub const ATTENTION_FORWARD: &str = "attention_forward";

// attention_backward.wgsl
pub const ATTENTION_BACKWARD_QUERY: &str = "attention_backward_query";
pub const ATTENTION_BACKWARD_KEY_VALUE: &str = "attention_backward_key_value";

// attention_tiled_forward.wgsl
pub const ATTENTION_FORWARD_TILED: &str = "attention_forward_tiled";

// attention_tiled_backward.wgsl
pub const ATTENTION_BACKWARD_QUERY_TILED: &str = "attention_backward_query_tiled";
pub const ATTENTION_BACKWARD_KEY_VALUE_TILED: &str = "attention_backward_key_value_tiled";

// attention_quad_forward.wgsl
pub const ATTENTION_FORWARD_QUAD: &str = "attention_forward_quad";

// attention_quad_backward.wgsl
pub const ATTENTION_BACKWARD_QUERY_QUAD: &str = "attention_backward_query_quad";
pub const ATTENTION_BACKWARD_KEY_VALUE_QUAD: &str = "attention_backward_key_value_quad";

// attention_quad_forward_f16.wgsl
pub const ATTENTION_FORWARD_QUAD_F16: &str = "attention_forward_quad_f16";

// attention_quad_backward_f16.wgsl
pub const ATTENTION_BACKWARD_QUERY_QUAD_F16: &str = "attention_backward_query_quad_f16";
pub const ATTENTION_BACKWARD_KEY_VALUE_QUAD_F16: &str = "attention_backward_key_value_quad_f16";

// attention_coop8_forward.wgsl
pub const ATTENTION_FORWARD_COOP8: &str = "attention_forward_coop8";

// attention_coop8_backward.wgsl
pub const ATTENTION_BACKWARD_QUERY_COOP8: &str = "attention_backward_query_coop8";
pub const ATTENTION_BACKWARD_KEY_VALUE_COOP8: &str = "attention_backward_key_value_coop8";

// attention_coop16_forward.wgsl
pub const ATTENTION_FORWARD_COOP16: &str = "attention_forward_coop16";

// attention_coop16_backward.wgsl
pub const ATTENTION_BACKWARD_QUERY_COOP16: &str = "attention_backward_query_coop16";
pub const ATTENTION_BACKWARD_KEY_VALUE_COOP16: &str = "attention_backward_key_value_coop16";

// attention_subgroup_forward.wgsl
pub const ATTENTION_FORWARD_SG: &str = "attention_forward_sg";

// attention_subgroup_backward.wgsl
pub const ATTENTION_BACKWARD_QUERY_SG: &str = "attention_backward_query_sg";
pub const ATTENTION_BACKWARD_KEY_VALUE_SG: &str = "attention_backward_key_value_sg";

// l2norm_forward.wgsl
pub const L2NORM_FORWARD: &str = "l2norm_forward";

// l2norm_backward.wgsl
pub const L2NORM_BACKWARD: &str = "l2norm_backward";

// weight_norm_forward.wgsl
pub const WEIGHT_NORM_FORWARD: &str = "weight_norm_forward";
pub const WEIGHT_NORM_FORWARD_ROWWISE: &str = "weight_norm_forward_rowwise";

// weight_norm_backward.wgsl
pub const WEIGHT_NORM_BACKWARD: &str = "weight_norm_backward";
pub const WEIGHT_NORM_BACKWARD_ROWWISE: &str = "weight_norm_backward_rowwise";

// dino_loss_forward.wgsl
pub const DINO_TEACHER_PROBS: &str = "dino_teacher_probs";
pub const DINO_STUDENT_LOSS_GRAD: &str = "dino_student_loss_grad";
pub const DINO_LOSS_MEAN: &str = "dino_loss_mean";

// dino_center.wgsl
pub const DINO_CENTER_UPDATE: &str = "dino_center_update";

// optim_grad_clip.wgsl
pub const GRAD_BLOCK_SUMSQ: &str = "grad_block_sumsq";
pub const GRAD_BLOCK_SUMSQ_ROWWISE: &str = "grad_block_sumsq_rowwise";
pub const GRAD_CLIP_SCALE: &str = "grad_clip_scale";

// optim_adamw.wgsl
pub const ADAMW_STEP: &str = "adamw_step";

// optim_ema.wgsl
pub const EMA_UPDATE: &str = "ema_update";

// health.wgsl
pub const HEALTH_CHECK: &str = "health_check";

// loss_scale.wgsl
pub const LOSS_SCALE_APPLY: &str = "loss_scale_apply";
pub const LOSS_SCALE_COUNT_SKIPS: &str = "loss_scale_count_skips";
pub const LOSS_SCALE_UPDATE: &str = "loss_scale_update";

// tokens.wgsl
pub const TOKENS_ASSEMBLE: &str = "tokens_assemble";
pub const TOKENS_SPLIT_GRAD: &str = "tokens_split_grad";
pub const TOKENS_POSITION_GRAD: &str = "tokens_position_grad";

// rows.wgsl
pub const GATHER_ROWS: &str = "gather_rows";
pub const SCATTER_ROWS: &str = "scatter_rows";

// residual.wgsl
pub const RESIDUAL_ADD: &str = "residual_add";
pub const RESIDUAL_BRANCH_GRAD: &str = "residual_branch_grad";

// residual_layernorm.wgsl
pub const RESIDUAL_LAYERNORM: &str = "residual_layernorm";
pub const RESIDUAL_LAYERNORM_ROWWISE: &str = "residual_layernorm_rowwise";
