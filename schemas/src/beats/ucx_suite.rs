//! UCX Suite beats: the suite's own internals.

use serde::{Deserialize, Serialize};

use crate::validation::{Validate, Violations};

/// UCX Suite / ACD: calls waiting and in consultation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UcxSuiteAcd {
    pub fifo_queued_calls: i64,
    pub camp_on_queued_calls: i64,
    pub active_consultation_calls: i64,
}

impl Validate for UcxSuiteAcd {
    fn validate(&self, violations: &mut Violations) {
        violations.check_non_negative("data.fifo_queued_calls", self.fifo_queued_calls);
        violations.check_non_negative("data.camp_on_queued_calls", self.camp_on_queued_calls);
        violations.check_non_negative(
            "data.active_consultation_calls",
            self.active_consultation_calls,
        );
    }
}
