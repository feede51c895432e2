//! The memory plan: every buffer a model or benchmark allocates, with its size, known before
//! the first step so the total can be reported and nothing is allocated during training.

/// A named list of planned allocations.
#[derive(Clone, Debug, Default)]
pub struct MemoryPlan {
    pub entries: Vec<(String, u64)>,
}

impl MemoryPlan {
    pub fn add(&mut self, name: &str, elements: usize) {
        self.entries.push((name.to_string(), (elements.max(1) * 4) as u64));
    }

    pub fn total_bytes(&self) -> u64 {
        self.entries.iter().map(|(_, b)| b).sum()
    }

    /// The largest single allocation (what the binding limit is checked against).
    pub fn largest(&self) -> Option<&(String, u64)> {
        self.entries.iter().max_by_key(|(_, b)| *b)
    }

    pub fn summary(&self) -> String {
        let total = self.total_bytes() as f64 / (1u64 << 20) as f64;
        match self.largest() {
            Some((name, b)) => format!(
                "{} buffers, {total:.1} MiB in total, largest `{name}` {:.1} MiB",
                self.entries.len(),
                *b as f64 / (1u64 << 20) as f64
            ),
            None => "no buffers".to_string(),
        }
    }
}
