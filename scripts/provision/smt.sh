# An SMT solver for `ward diff`, `ward analyze` and the asserts `ward test`
# checks (crate ward-analyze): Debian's z3, and cvc5 for the tests that run
# both. Exports WARD_SMT_SOLVER (the solver the tests use by default) and
# WARD_SMT_CVC5.
missing=()
command -v z3 >/dev/null 2>&1 || missing+=(z3)
command -v cvc5 >/dev/null 2>&1 || missing+=(cvc5)
if [ "${#missing[@]}" -gt 0 ]; then
  ward_apt_install "${missing[@]}"
fi
WARD_SMT_SOLVER="${WARD_SMT_SOLVER:-$(command -v z3)}"
WARD_SMT_CVC5="${WARD_SMT_CVC5:-$(command -v cvc5)}"
export WARD_SMT_SOLVER WARD_SMT_CVC5
