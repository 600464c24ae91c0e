//! Policy analyses: findings about rules that check fine but are probably
//! wrong (unreachable, shadowed, risky), reported as warnings.

use crate::check::RawDiag;
use crate::db::Project;

/// Project-wide analyses.
#[salsa::tracked(returns(ref))]
pub fn analyse(db: &dyn salsa::Database, project: Project) -> Vec<RawDiag> {
    let _ = (db, project);
    Vec::new()
}
