//! Policy tests (`test` blocks) as the compiler lowers them and the runtime
//! runs them: requests in Cedar's JSON shapes, clock steps and expectations.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// A `test` block, ready to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestCase {
    pub name: String,
    /// `file:line:col`.
    pub location: String,
    pub steps: Vec<TestStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TestStep {
    /// Set the clock (milliseconds since the epoch).
    At(i64),
    Advance(i64),
    /// Entities in Cedar's JSON format (from fixtures and `entities` blocks).
    Entities(Json),
    /// A link of a template (Cedar's template-linked JSON), for the rest of the test.
    Link {
        link: Json,
        location: String,
    },
    Request {
        request: Json,
        /// The action's result (`returns VALUE`), reported after an allow.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<Json>,
        expectations: Vec<Expectation>,
        location: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    /// `allow`, `deny`, `approval_required` or `error`.
    pub outcome: String,
    pub by: Vec<String>,
    pub obligations: Vec<String>,
    pub masks: Vec<String>,
    pub errors: Vec<String>,
    pub remaining: Option<u64>,
    pub location: String,
}
