//! The whole training state as host tensors by timm name: what a checkpoint holds.

use std::collections::BTreeMap;

/// Host tensors by timm name.
pub type Named = BTreeMap<String, Vec<f32>>;

/// Everything needed to continue training exactly.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainingState {
    pub student: Named,
    pub teacher: Named,
    pub exp_avg: Named,
    pub exp_avg_sq: Named,
    /// Optimizer steps each tensor has taken (parameter order).
    pub tensor_steps: Vec<u64>,
    pub centre_cls: Vec<f32>,
    pub centre_query: Vec<f32>,
    pub step: u64,
    pub rng: u64,
}

impl TrainingState {
    /// The first tensor holding NaN or infinity ("student.blocks.0.attn.qkv.weight", ...), if
    /// any: such a state is never written, so the file on disk stays the last healthy one.
    pub fn first_non_finite(&self) -> Option<String> {
        let groups = [
            ("student", &self.student),
            ("teacher", &self.teacher),
            ("exp_avg", &self.exp_avg),
            ("exp_avg_sq", &self.exp_avg_sq),
        ];
        for (group, tensors) in groups {
            if let Some((name, _)) = tensors.iter().find(|(_, v)| v.iter().any(|x| !x.is_finite())) {
                return Some(format!("{group}.{name}"));
            }
        }
        for (name, v) in [("centre.cls", &self.centre_cls), ("centre.query", &self.centre_query)] {
            if v.iter().any(|x| !x.is_finite()) {
                return Some(name.to_string());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::TrainingState;

    #[test]
    fn non_finite_tensors_are_named() {
        let mut s = TrainingState::default();
        s.student.insert("cls_token".into(), vec![0.0, 1.0]);
        s.teacher.insert("cls_token".into(), vec![0.0, 1.0]);
        s.centre_cls = vec![0.5; 4];
        assert_eq!(s.first_non_finite(), None);
        s.teacher.insert("blocks.0.norm1.weight".into(), vec![1.0, f32::INFINITY]);
        assert_eq!(s.first_non_finite().as_deref(), Some("teacher.blocks.0.norm1.weight"));
        s.student.insert("pos_embed".into(), vec![f32::NAN]);
        assert_eq!(s.first_non_finite().as_deref(), Some("student.pos_embed"));
        let mut c = TrainingState { centre_query: vec![f32::NAN], ..Default::default() };
        assert_eq!(c.first_non_finite().as_deref(), Some("centre.query"));
        c.centre_query.clear();
        assert_eq!(c.first_non_finite(), None);
    }
}
