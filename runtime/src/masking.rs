//! Masking what a decision allowed: the engine side of [`crate::mask`].

use serde_json::Value as Json;

use crate::decision::{Decision, Effect, EvalErrorOut, Reason};
use crate::engine::Engine;
use crate::mask::{Keys, MaskError, Masker};

/// What an agent is about to receive.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Json(Json),
    Text(String),
}

impl Payload {
    /// JSON if the text parses as JSON, otherwise text.
    pub fn parse(text: &str) -> Payload {
        match serde_json::from_str(text) {
            Ok(json) => Payload::Json(json),
            Err(_) => Payload::Text(text.to_string()),
        }
    }

    pub fn render(&self) -> String {
        match self {
            Payload::Json(j) => serde_json::to_string_pretty(j).unwrap_or_default(),
            Payload::Text(t) => t.clone(),
        }
    }
}

impl Engine {
    /// Applies `decision`'s masks to `payload`. If a mask cannot be applied
    /// the decision becomes a deny that says why, and the payload must not
    /// be sent. A deny has nothing to mask: its payload must not be sent either.
    pub fn mask(&self, decision: &mut Decision, payload: &mut Payload, keys: &dyn Keys) -> Result<(), MaskError> {
        if decision.effect == Effect::Deny {
            return Err(MaskError {
                rule: String::new(),
                message: "the decision is a deny; nothing may be sent".to_string(),
            });
        }
        let result = self.try_mask(decision, payload, keys);
        if let Err(e) = &result {
            decision.effect = Effect::Deny;
            decision.reasons.clear();
            decision.masks.clear();
            decision.obligations.clear();
            decision.reasons.push(Reason {
                rule: Some(e.rule.clone()),
                clause: format!("its mask could not be applied: {}", e.message),
                span: None,
                principal: None,
            });
            decision.errors.push(EvalErrorOut { rule: Some(e.rule.clone()), message: e.to_string() });
        }
        result
    }

    fn try_mask(&self, decision: &Decision, payload: &mut Payload, keys: &dyn Keys) -> Result<(), MaskError> {
        if decision.masks.is_empty() {
            return Ok(());
        }
        let loaded = self.loaded();
        let scanner = loaded.scanner.clone().map_err(|message| MaskError { rule: String::new(), message })?;
        let masker = Masker::new(scanner, keys);
        match payload {
            Payload::Json(json) => masker.mask_json(&decision.masks, json),
            Payload::Text(text) => {
                *text = masker.mask_text(&decision.masks, text)?;
                Ok(())
            }
        }
    }
}
