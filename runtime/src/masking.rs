//! Masking what a decision allowed: the engine side of [`crate::mask`].
//!
//! [`Engine::mask`] masks one payload; a [`MaskSession`] applies one
//! decision's masks to many (a stream of documents, a batch) with one
//! masker, so compiled detector sets and tokenization ciphers are made once.

use serde_json::Value as Json;

use crate::decision::{Decision, Effect, EvalErrorOut, Mask, Masked, Reason};
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

/// One decision's masks, ready to apply to any number of payloads.
pub struct MaskSession<'k> {
    masks: Vec<Mask>,
    masker: Masker<'k>,
}

impl MaskSession<'_> {
    /// Masks one payload. An error means the masks cannot be applied: the
    /// payload must not be sent, and neither may any later one (the
    /// decision is a deny; see [`deny_for`]).
    pub fn mask(&self, payload: &mut Payload) -> Result<(), MaskError> {
        if self.masks.is_empty() {
            return Ok(());
        }
        match payload {
            Payload::Json(json) => self.masker.mask_json(&self.masks, json),
            Payload::Text(text) => {
                *text = self.masker.mask_text(&self.masks, text)?;
                Ok(())
            }
        }
    }

    /// What was masked since the last call: per mask and detector or
    /// path, how many values.
    pub fn take_masked(&self) -> Vec<Masked> {
        self.masker.take_masked(&self.masks)
    }
}

impl Engine {
    /// A session that applies `decision`'s masks; refused for a deny (its
    /// payloads must not be sent at all) and when the program's detectors
    /// did not compile.
    pub fn mask_session<'k>(&self, decision: &Decision, keys: &'k dyn Keys) -> Result<MaskSession<'k>, MaskError> {
        if decision.effect == Effect::Deny {
            return Err(MaskError {
                rule: String::new(),
                message: "the decision is a deny; nothing may be sent".to_string(),
            });
        }
        let rule = decision.masks.first().map_or_else(String::new, |m| m.rule.clone());
        let scanner = if decision.masks.is_empty() {
            // Nothing to mask: the program's detectors do not matter.
            std::sync::Arc::new(crate::detect::Scanner::new(&[]).map_err(|message| MaskError { rule, message })?)
        } else {
            self.loaded().scanner.clone().map_err(|message| MaskError { rule, message })?
        };
        // Every key a tokenize mask names must be there before anything is
        // masked: a stream must not be refused half-way for want of a key.
        for m in &decision.masks {
            if let ward_ir::MaskMethod::Tokenize { key } = &m.method
                && keys.key(key).is_none()
            {
                return Err(MaskError {
                    rule: m.rule.clone(),
                    message: format!(
                        "no tokenization key `{key}` (set {} or give a keys file)",
                        crate::keys::env_var(key)
                    ),
                });
            }
        }
        Ok(MaskSession { masks: decision.masks.clone(), masker: Masker::new(scanner, keys) })
    }

    /// Applies `decision`'s masks to `payload`, and adds what they masked
    /// to `decision.masked`. If a mask cannot be applied the decision
    /// becomes a deny that says why, and the payload must not be sent. A
    /// deny has nothing to mask: its payload must not be sent either.
    pub fn mask(&self, decision: &mut Decision, payload: &mut Payload, keys: &dyn Keys) -> Result<(), MaskError> {
        if decision.effect == Effect::Deny {
            return Err(MaskError {
                rule: String::new(),
                message: "the decision is a deny; nothing may be sent".to_string(),
            });
        }
        let result = self.mask_session(decision, keys).and_then(|session| {
            session.mask(payload)?;
            merge_masked(&mut decision.masked, session.take_masked());
            Ok(())
        });
        if let Err(e) = &result {
            deny_for(decision, e);
        }
        result
    }
}

/// Turns `decision` into the deny a mask that cannot be applied makes of it.
pub fn deny_for(decision: &mut Decision, e: &MaskError) {
    decision.effect = Effect::Deny;
    decision.reasons.clear();
    decision.masks.clear();
    decision.masked.clear();
    decision.obligations.clear();
    decision.reasons.push(Reason {
        rule: Some(e.rule.clone()),
        clause: format!("its mask could not be applied: {}", e.message),
        span: None,
        principal: None,
    });
    decision.errors.push(EvalErrorOut { rule: Some(e.rule.clone()), message: e.to_string() });
}

/// Adds `more` to `into`, summing the counts of the same mask and finder.
pub fn merge_masked(into: &mut Vec<Masked>, more: Vec<Masked>) {
    for m in more {
        match into.iter_mut().find(|x| x.rule == m.rule && x.by == m.by) {
            Some(x) => x.count += m.count,
            None => into.push(m),
        }
    }
    into.sort();
}
