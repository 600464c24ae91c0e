//! The Cranelift JIT: every rule of a program compiled to a native function.
//!
//! A compiled rule evaluates its conditions in order and returns an outcome
//! code: `0` fired, `1 << 32 | i` condition `i` did not hold, `2 << 32 | i`
//! condition `i` could not be evaluated. The common cases are native code —
//! constants, variables, attribute reads from the flattened entity store and
//! the context, presence tests, boolean logic with short-circuit,
//! comparisons of scalars, membership in entities the policy names (one bit
//! test) and in entities computed at run time (a rank, then a bit of the
//! entity's ancestor row), checked arithmetic. Anything else (strings patterns, sets, IP
//! ranges, flows, …) calls back into the reference interpreter for that
//! sub-expression, so the two backends cannot drift apart semantically; the
//! agreement tests check it on generated programs.
//!
//! Where codegen lives: in the runtime, over the serialized IR, so that a
//! bundle is portable and compiled for the machine that loads it.

mod abi;

use std::collections::HashMap;

use cranelift::codegen::ir::{BlockArg, FuncRef, MemFlagsData, StackSlotData, StackSlotKind, UserFuncName};
use cranelift::prelude::*;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, default_libcall_names};
use ward_ir::{CmpOp, Const, Expr, ExprKind, Method, Rule, Ty, Var};

use crate::interp::{Eval, Outcome, Prepared};
use crate::request::LOCAL_ENTITY;
use crate::store::Store;
pub use abi::JitCtx;
use abi::{CodeMemory, RuleFn};

/// Every rule index of `program` once, in the order its native code is laid
/// out: code is placed in the order it is compiled, and a request runs the
/// rules of one bucket, and within it of one index group (`in`-scoped,
/// pinned), so those are compiled next to each other. At 100,000 rules the
/// code spans tens of MiB; in rule order, the eight rules of one
/// `(team, folder)` group of the scaling set sat 12,500 rules apart, each
/// call an instruction-cache and TLB miss.
fn code_order(program: &ward_ir::Program) -> Vec<usize> {
    let mut placed = vec![false; program.rules.len()];
    let mut order = Vec::with_capacity(program.rules.len());
    let mut place = |r: u32, order: &mut Vec<usize>| {
        if let Some(p) = placed.get_mut(r as usize)
            && !*p
        {
            *p = true;
            order.push(r as usize);
        }
    };
    for b in &program.buckets {
        for g in &b.in_scoped {
            g.rules.iter().for_each(|r| place(*r, &mut order));
        }
        for (_, rules) in b.by_principal.iter().chain(&b.by_resource) {
            rules.iter().for_each(|r| place(*r, &mut order));
        }
        b.rules.iter().chain(&b.templates).for_each(|r| place(*r, &mut order));
    }
    (0..program.rules.len() as u32).for_each(|r| place(r, &mut order));
    order
}

pub(crate) fn new_module() -> Result<JITModule, String> {
    let mut flags = settings::builder();
    flags.set("opt_level", "speed").map_err(|e| e.to_string())?;
    flags.set("use_colocated_libcalls", "false").map_err(|e| e.to_string())?;
    flags.set("is_pic", "false").map_err(|e| e.to_string())?;
    // The IR verifier costs about as much as code generation itself; debug
    // builds (and so every test) keep it on to catch codegen bugs.
    let verify = if cfg!(debug_assertions) { "true" } else { "false" };
    flags.set("enable_verifier", verify).map_err(|e| e.to_string())?;
    let isa = cranelift_native::builder()
        .map_err(|e| format!("this machine is not supported by Cranelift: {e}"))?
        .finish(settings::Flags::new(flags))
        .map_err(|e| e.to_string())?;
    let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
    builder.symbol("ward_eval", abi::ward_eval as *const u8);
    builder.symbol("ward_contains", abi::ward_contains as *const u8);
    builder.symbol("ward_entity_in", abi::ward_entity_in as *const u8);
    builder.symbol("ward_entity_in_set", abi::ward_entity_in_set as *const u8);
    Ok(JITModule::new(builder))
}

/// A program's rules as native code. The code depends on the program
/// alone: entity stores are paired with it per call ([`Jit::calls`]), so new
/// or patched entities reuse it without compiling.
pub struct Jit {
    /// In [`code_order`], as the code itself is laid out.
    functions: Vec<RuleFn>,
    /// Rule index → its entry of `functions`.
    positions: Vec<u32>,
    /// Per action: context field name id → slot (`u32::MAX` when absent).
    context_tables: Vec<Vec<u32>>,
    /// What the code assumes of a store, checked in O(1) per call: the
    /// program's entity literal count (invariants 3 and 5) and the largest
    /// attribute region of its entity types (invariant 2).
    literal_count: usize,
    region: usize,
    /// Per action, its context field count (invariant 4).
    context_fields: Vec<usize>,
    /// Keeps the code mapped; dropped last.
    _code: CodeMemory,
}

impl Jit {
    /// Rule index → its entry of the code table ([`Calls::code_at`]).
    pub fn positions(&self) -> &[u32] {
        &self.positions
    }

    /// Compiles every rule of `prepared`. Nothing of an entity store is
    /// compiled in; a store is checked when it is paired with the code
    /// ([`check_layout`]) and on every call ([`Jit::calls`]).
    pub fn compile(prepared: &Prepared) -> Result<Jit, String> {
        // Native code trusts the program's indexes (the invariants of
        // `JitCtx`): a program that breaks them gets no native code.
        ward_ir::validate(&prepared.program).map_err(|e| format!("the program is not valid IR: {e}"))?;
        let mut module = new_module()?;
        let ptr = module.target_config().pointer_type();
        let mut eval_sig = module.make_signature();
        eval_sig.params.extend([AbiParam::new(ptr), AbiParam::new(types::I64), AbiParam::new(ptr)]);
        eval_sig.returns.push(AbiParam::new(types::I64));
        let eval_id = module.declare_function("ward_eval", Linkage::Import, &eval_sig).map_err(|e| e.to_string())?;
        let mut contains_sig = module.make_signature();
        contains_sig.params.extend([AbiParam::new(ptr), AbiParam::new(types::I64), AbiParam::new(types::I64)]);
        contains_sig.returns.push(AbiParam::new(types::I64));
        // Helpers taking the context and two value words, returning one.
        let mut helper_ids = Vec::new();
        for name in ["ward_contains", "ward_entity_in", "ward_entity_in_set"] {
            helper_ids.push(module.declare_function(name, Linkage::Import, &contains_sig).map_err(|e| e.to_string())?);
        }
        let mut sig = module.make_signature();
        sig.params.push(AbiParam::new(ptr));
        sig.returns.push(AbiParam::new(types::I64));
        let mut ctx = module.make_context();
        let mut fctx = FunctionBuilderContext::new();
        let rules = &prepared.program.rules;
        let order = code_order(&prepared.program);
        let mut ids: Vec<FuncId> = Vec::with_capacity(order.len());
        for &i in &order {
            let Some(rule) = rules.get(i) else { continue };
            let id = module.declare_function(&format!("rule_{i}"), Linkage::Local, &sig).map_err(|e| e.to_string())?;
            ctx.func.signature = sig.clone();
            ctx.func.name = UserFuncName::user(0, id.as_u32());
            {
                let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
                let eval_ref = module.declare_func_in_func(eval_id, b.func);
                let mut helpers = helper_ids.iter().map(|id| module.declare_func_in_func(*id, b.func));
                let (Some(contains), Some(entity_in), Some(entity_in_set)) =
                    (helpers.next(), helpers.next(), helpers.next())
                else {
                    return Err("helper functions could not be declared".into());
                };
                let helpers = Helpers { contains, entity_in, entity_in_set };
                let mut cg =
                    Codegen { b: &mut b, prepared, rule, ptr, eval_ref, helpers, ctx_ptr: None, cache: HashMap::new() };
                cg.rule();
                b.seal_all_blocks();
                b.finalize(module.target_config());
            }
            module.define_function(id, &mut ctx).map_err(|e| format!("rule `{}`: {e}", rule.id))?;
            module.clear_context(&mut ctx);
            ids.push(id);
        }
        module.finalize_definitions().map_err(|e| e.to_string())?;
        let functions: Vec<RuleFn> =
            ids.iter().map(|id| RuleFn::from_finalized(module.get_finalized_function(*id))).collect();
        // Rule index → its entry of `functions`: the engine's rule lists
        // carry it, so a group's rules read adjacent entries of the table.
        let mut positions = vec![u32::MAX; rules.len()];
        for (at, &rule) in order.iter().enumerate() {
            if let Some(p) = positions.get_mut(rule) {
                *p = at as u32;
            }
        }
        if functions.len() != rules.len() || positions.iter().any(|p| *p as usize >= functions.len()) {
            return Err("a rule was left without native code".into());
        }
        let strings = prepared.program.strings.len();
        let context_tables = (0..prepared.program.actions.len())
            .map(|a| {
                let mut table = vec![u32::MAX; strings];
                let fields = prepared.program.actions.get(a).map_or(0, |x| x.context.len());
                for ((action, name), slot) in &prepared.context_slots {
                    // Invariant 4: every slot is one of the action's context fields.
                    if *action == a as u32
                        && (*slot as usize) < fields
                        && let Some(t) = table.get_mut(*name as usize)
                    {
                        *t = *slot;
                    }
                }
                table
            })
            .collect();
        let program = &prepared.program;
        Ok(Jit {
            functions,
            positions,
            context_tables,
            literal_count: program.entity_literals.len(),
            region: attribute_region(program),
            context_fields: program.actions.iter().map(|a| a.context.len()).collect(),
            _code: CodeMemory(module),
        })
    }

    /// Whether `store` has what this code reads (the invariants of
    /// [`JitCtx`] that depend on the store), in O(1): the rest of the layout
    /// holds for every store by construction ([`Store::load`]) and is checked
    /// in full when a store is paired with the code ([`check_layout`]).
    fn fits(&self, store: &Store) -> bool {
        store.literals.len() == self.literal_count
            && store.bits_words.saturating_mul(64) >= self.literal_count
            && store.padding >= self.region
            && store.entities.len() < LOCAL_ENTITY as usize
            && ancestry_fits(store)
    }

    /// Runs rule `index` natively for `eval`'s frame and link. `None` if the
    /// rule has no native code.
    pub fn rule(&self, index: u32, eval: &Eval<'_>) -> Option<Outcome> {
        self.calls(eval).rule(index)
    }

    /// Prepares native calls for `eval`'s frame and link: the context native
    /// code reads is built once per decision, not once per rule.
    pub fn calls<'j, 'e>(&'j self, eval: &'e Eval<'e>) -> Calls<'j, 'e> {
        let frame = eval.frame;
        let store = eval.store;
        let fields = self.context_fields.get(frame.action as usize).copied();
        let table = self.context_tables.get(frame.action as usize);
        // Invariant 4: native code reads the context only through a table
        // for this action and a record with exactly the action's fields.
        let context = eval
            .view
            .record(frame.context)
            .filter(|r| fields.is_some_and(|n| r.slots.len() == n && r.present.len() == n.div_ceil(64)));
        // Invariants 1, 2, 3 and 5: the store paired with the code for this call.
        let native = context.is_some() && table.is_some() && self.fits(store);
        let (context_slots, context_present) = match context {
            Some(r) => (r.slots.as_ptr(), r.present.as_ptr()),
            None => (std::ptr::null(), std::ptr::null()),
        };
        debug_assert!(check_layout(&eval.prepared.program, store).is_ok(), "the store's layout changed");
        let ctx = JitCtx {
            principal: u64::from(eval.principal),
            resource: u64::from(frame.resource),
            action: u64::from(frame.action),
            now: frame.now,
            context_slots,
            context_present,
            context_slot_table: table.map_or(std::ptr::null(), |t| t.as_ptr()),
            flat: store.flat.as_ptr(),
            offsets: store.offsets.as_ptr(),
            bits: store.bits.as_ptr(),
            bits_words: store.bits_words as u64,
            eval: (eval as *const Eval<'_>).cast(),
            rule: 0,
            entity_count: store.entities.len() as u64,
            literals: store.literals.as_ptr(),
            ranks: store.ancestry.rank.as_ptr(),
            ancestor_bits: store.ancestry.rows.as_ptr(),
            ancestor_words: store.ancestry.words as u64,
        };
        Calls { jit: self, ctx, eval, native }
    }
}

/// Native calls for one frame and link (see [`Jit::calls`]).
pub struct Calls<'j, 'e> {
    jit: &'j Jit,
    ctx: JitCtx,
    eval: &'e Eval<'e>,
    /// Whether `ctx` holds the invariants native code needs (else every rule
    /// runs in the interpreter).
    native: bool,
}

/// A rule's outcome as native code reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Fired,
    NotApplicable,
    /// An evaluation error: ask the interpreter what it was.
    Error,
}

impl Calls<'_, '_> {
    /// Runs rule `index`: `None` if it has no native code.
    #[inline]
    pub fn code(&mut self, index: u32) -> Option<Code> {
        let at = *self.jit.positions.get(index as usize)?;
        self.code_at(at, index)
    }

    /// Runs rule `index`, whose code is entry `at` of the table: its entry
    /// of [`Jit::positions`], which the engine's rule lists carry so that
    /// the rules of one list read adjacent entries. `None` if it has no
    /// native code.
    #[inline]
    pub fn code_at(&mut self, at: u32, index: u32) -> Option<Code> {
        if !self.native {
            return None;
        }
        let f = *self.jit.functions.get(at as usize)?;
        self.ctx.rule = u64::from(index);
        Some(match f.call(&self.ctx) >> 32 {
            0 => Code::Fired,
            1 => Code::NotApplicable,
            _ => Code::Error,
        })
    }

    /// Runs rule `index`, with the condition that failed and, for an error,
    /// what went wrong (from the interpreter).
    pub fn rule(&mut self, index: u32) -> Option<Outcome> {
        if !self.native {
            return None;
        }
        let at = *self.jit.positions.get(index as usize)?;
        let f = *self.jit.functions.get(at as usize)?;
        self.ctx.rule = u64::from(index);
        let code = f.call(&self.ctx);
        let condition = (code & 0xffff_ffff) as usize;
        Some(match code >> 32 {
            0 => Outcome::Fired,
            1 => Outcome::NotApplicable { failed: condition },
            // The interpreter says precisely what went wrong.
            _ => {
                let rule = self.eval.prepared.program.rules.get(index as usize)?;
                self.eval.rule(rule)
            }
        })
    }
}

/// Runtime helpers native code calls with two value words.
struct Helpers {
    contains: FuncRef,
    entity_in: FuncRef,
    entity_in_set: FuncRef,
}

/// Compiles one rule.
struct Codegen<'a, 'b, 'f> {
    b: &'b mut FunctionBuilder<'f>,
    prepared: &'a Prepared,
    rule: &'a Rule,
    ptr: Type,
    eval_ref: FuncRef,
    helpers: Helpers,
    ctx_ptr: Option<Value>,
    /// Values of expressions already computed in the current block chain
    /// (only variables and constants, which never change).
    cache: HashMap<u32, Value>,
}

impl Codegen<'_, '_, '_> {
    fn ctx(&self) -> Value {
        self.ctx_ptr.unwrap_or_else(unreachable_value)
    }

    fn load(&mut self, ty: Type, base: Value, offset: i32) -> Value {
        self.b.ins().load(ty, MemFlagsData::trusted(), base, offset)
    }

    fn rule(&mut self) {
        let entry = self.b.create_block();
        self.b.append_block_params_for_function_params(entry);
        self.b.switch_to_block(entry);
        self.ctx_ptr = self.b.block_params(entry).first().copied();
        for (i, c) in self.rule.conditions.iter().enumerate() {
            let failed = self.b.create_block();
            let error = self.b.create_block();
            let next = self.b.create_block();
            let v = self.value(c.expr, error);
            let truth = self.b.ins().icmp_imm_s(IntCC::NotEqual, v, 0);
            if c.when {
                self.b.ins().brif(truth, next, &[], failed, &[]);
            } else {
                self.b.ins().brif(truth, failed, &[], next, &[]);
            }
            self.b.switch_to_block(failed);
            let code = self.b.ins().iconst(types::I64, (1i64 << 32) | i as i64);
            self.b.ins().return_(&[code]);
            self.b.switch_to_block(error);
            let code = self.b.ins().iconst(types::I64, (2i64 << 32) | i as i64);
            self.b.ins().return_(&[code]);
            self.b.switch_to_block(next);
            // Values computed under one condition are not reused by the next
            // (its block is reached from a branch).
            self.cache.clear();
        }
        let fired = self.b.ins().iconst(types::I64, 0);
        self.b.ins().return_(&[fired]);
    }

    fn node(&self, id: u32) -> Option<&Expr> {
        self.rule.exprs.get(id as usize)
    }

    /// The interpreter computes expression `id`; errors branch to `error`.
    fn fallback(&mut self, id: u32, error: Block) -> Value {
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 8, 3));
        let out = self.b.ins().stack_addr(self.ptr, slot, 0);
        let ctx = self.ctx();
        let expr = self.b.ins().iconst(types::I64, i64::from(id));
        let call = self.b.ins().call(self.eval_ref, &[ctx, expr, out]);
        let status = self.b.inst_results(call).first().copied().unwrap_or_else(unreachable_value);
        let ok = self.b.create_block();
        self.b.ins().brif(status, error, &[], ok, &[]);
        self.b.switch_to_block(ok);
        self.b.ins().stack_load(self.ptr, types::I64, slot, 0)
    }

    /// Compiles expression `id` to an i64 value; evaluation errors jump to `error`.
    fn value(&mut self, id: u32, error: Block) -> Value {
        if let Some(v) = self.cache.get(&id) {
            return *v;
        }
        let Some(e) = self.node(id) else { return self.fallback(id, error) };
        let kind = e.kind.clone();
        let ty = e.ty.clone();
        let v = match kind {
            ExprKind::Const(c) => match c {
                Const::Bool(b) => self.b.ins().iconst(types::I64, i64::from(b)),
                Const::Int(i) => self.b.ins().iconst(types::I64, i),
                Const::Str(s) => self.b.ins().iconst(types::I64, i64::from(s)),
                Const::Enum(_, v) => self.b.ins().iconst(types::I64, i64::from(v)),
                Const::Action(a) => self.b.ins().iconst(types::I64, i64::from(a)),
                // Invariant 5: the store's index of the literal, read at run
                // time (the store is not compiled in); the interpreter's
                // value for a literal the program does not have.
                Const::Entity(k) if (k as usize) < self.prepared.program.entity_literals.len() => {
                    let Ok(offset) = i32::try_from(u64::from(k) * 4) else { return self.fallback(id, error) };
                    let ctx = self.ctx();
                    let literals = self.load(self.ptr, ctx, abi::JitCtx::LITERALS);
                    let index = self.load(types::I32, literals, offset);
                    self.b.ins().uextend(types::I64, index)
                }
                Const::Entity(_) => self.b.ins().iconst(types::I64, i64::from(u32::MAX)),
                Const::Ip(_) | Const::Cidr(_) => return self.fallback(id, error),
            },
            ExprKind::Var(Var::Principal) => self.field(abi::JitCtx::PRINCIPAL),
            ExprKind::Var(Var::Resource) => self.field(abi::JitCtx::RESOURCE),
            ExprKind::Var(Var::Action) => self.field(abi::JitCtx::ACTION),
            ExprKind::Var(Var::Now) => self.field(abi::JitCtx::NOW),
            ExprKind::Attr { base, name } => return self.attribute(id, base, name, error, false),
            ExprKind::Has { base, name } => return self.attribute(id, base, name, error, true),
            ExprKind::Not(x) => {
                let v = self.value(x, error);
                let is_zero = self.b.ins().icmp_imm_s(IntCC::Equal, v, 0);
                return self.b.ins().uextend(types::I64, is_zero);
            }
            ExprKind::And(a, b) => return self.short_circuit(true, a, b, error),
            ExprKind::Or(a, b) => return self.short_circuit(false, a, b, error),
            ExprKind::Cmp { op, lhs, rhs } => {
                let scalar = self.node(lhs).is_some_and(|l| is_scalar(&l.ty));
                if !scalar && !matches!(op, CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge) {
                    return self.fallback(id, error);
                }
                let a = self.value(lhs, error);
                let b = self.value(rhs, error);
                let c = self.b.ins().icmp(int_cc(op), a, b);
                self.b.ins().uextend(types::I64, c)
            }
            ExprKind::In { lhs, rhs } => return self.in_test(id, lhs, rhs, error),
            // A set of scalars: the operands natively, the search in one helper call.
            ExprKind::Method { method: Method::Contains, recv, ref args }
                if matches!(&ty, Ty::Bool)
                    && self.node(recv).is_some_and(|r| matches!(&r.ty, Ty::Set(e) if is_scalar(e)))
                    && args.len() == 1 =>
            {
                let arg = args.first().copied().unwrap_or(u32::MAX);
                let set = self.value(recv, error);
                let v = self.value(arg, error);
                self.helper(self.helpers.contains, set, v)
            }
            ExprKind::Add(a, b) | ExprKind::Sub(a, b) => {
                let is_add = matches!(self.node(id).map(|e| &e.kind), Some(ExprKind::Add(..)));
                let x = self.value(a, error);
                let y = self.value(b, error);
                let (r, overflow) =
                    if is_add { self.b.ins().sadd_overflow(x, y) } else { self.b.ins().ssub_overflow(x, y) };
                self.error_if(overflow, error);
                r
            }
            ExprKind::Neg(x) => {
                let v = self.value(x, error);
                let zero = self.b.ins().iconst(types::I64, 0);
                let (r, overflow) = self.b.ins().ssub_overflow(zero, v);
                self.error_if(overflow, error);
                r
            }
            _ => return self.fallback(id, error),
        };
        let _ = ty;
        if matches!(self.node(id).map(|e| &e.kind), Some(ExprKind::Const(_) | ExprKind::Var(_))) {
            self.cache.insert(id, v);
        }
        v
    }

    /// `a && b` (`is_and`) or `a || b`: `b` is evaluated only when `a` does
    /// not decide; the result is 0 or 1.
    fn short_circuit(&mut self, is_and: bool, a: u32, b: u32, error: Block) -> Value {
        let va = self.value(a, error);
        let rhs = self.b.create_block();
        let done = self.b.create_block();
        self.b.append_block_param(done, types::I64);
        let short = self.b.ins().iconst(types::I64, i64::from(!is_and));
        let saved = self.cache.clone();
        if is_and {
            self.b.ins().brif(va, rhs, &[], done, &[BlockArg::Value(short)]);
        } else {
            self.b.ins().brif(va, done, &[BlockArg::Value(short)], rhs, &[]);
        }
        self.b.switch_to_block(rhs);
        let vb = self.value(b, error);
        let nonzero = self.b.ins().icmp_imm_s(IntCC::NotEqual, vb, 0);
        let vb = self.b.ins().uextend(types::I64, nonzero);
        self.b.ins().jump(done, &[BlockArg::Value(vb)]);
        self.b.switch_to_block(done);
        // Values computed only on the right-hand path are not available here.
        self.cache = saved;
        self.param(done)
    }

    /// `lhs in rhs` for an entity: one bit test for a literal, a rank and a
    /// bit test for an ancestor computed at run time, a helper call for a
    /// set of them; anything else in the interpreter.
    fn in_test(&mut self, id: u32, lhs: u32, rhs: u32, error: Block) -> Value {
        // Invariant 3: only a literal of the program (every store of it has its bit).
        let literal_count = self.prepared.program.entity_literals.len();
        let literal = match self.node(rhs).map(|r| (&r.kind, &r.ty)) {
            Some((ExprKind::Const(Const::Entity(k)), Ty::Entity(_))) if (*k as usize) < literal_count => Some(*k),
            _ => None,
        };
        let entity_lhs = self.node(lhs).is_some_and(|l| matches!(l.ty, Ty::Entity(_)));
        let rhs_ty = self.node(rhs).map(|r| r.ty.clone());
        match (literal, entity_lhs, rhs_ty) {
            (Some(k), true, _) => {
                let entity = self.value(lhs, error);
                self.in_literal(id, entity, k, error)
            }
            // An ancestor computed at run time: natively, but for
            // entities the store does not have.
            (None, true, Some(Ty::Entity(_))) => {
                let entity = self.value(lhs, error);
                let ancestor = self.value(rhs, error);
                self.in_entity(entity, ancestor)
            }
            // A set of them: the operands natively, the test in a helper
            // (which tests bits too).
            (None, true, Some(Ty::Set(element))) if matches!(*element, Ty::Entity(_)) => {
                let entity = self.value(lhs, error);
                let set = self.value(rhs, error);
                self.helper(self.helpers.entity_in_set, entity, set)
            }
            _ => self.fallback(id, error),
        }
    }

    /// Continues in a new block when `condition` is zero; jumps to `error` otherwise.
    fn error_if(&mut self, condition: Value, error: Block) {
        let ok = self.b.create_block();
        self.b.ins().brif(condition, error, &[], ok, &[]);
        self.b.switch_to_block(ok);
    }

    /// The value a join block receives.
    fn param(&self, block: Block) -> Value {
        self.b.block_params(block).first().copied().unwrap_or_else(unreachable_value)
    }

    /// Calls a helper with the context and two value words.
    fn helper(&mut self, f: FuncRef, a: Value, b: Value) -> Value {
        let ctx = self.ctx();
        let call = self.b.ins().call(f, &[ctx, a, b]);
        self.b.inst_results(call).first().copied().unwrap_or_else(unreachable_value)
    }

    fn field(&mut self, offset: i32) -> Value {
        let ctx = self.ctx();
        self.load(types::I64, ctx, offset)
    }

    /// `base.name` (or `base has name` when `test`): native for a store
    /// entity of one known type and for the request's context; otherwise the
    /// interpreter.
    fn attribute(&mut self, id: u32, base: u32, name: u32, error: Block, test: bool) -> Value {
        let Some(base_node) = self.node(base) else { return self.fallback(id, error) };
        match (&base_node.kind, &base_node.ty) {
            // Invariant 4: the table has one entry per string of the program.
            (ExprKind::Var(Var::Context), _) if (name as usize) < self.prepared.program.strings.len() => {
                self.context_attribute(name, error, test)
            }
            (_, Ty::Entity(types)) if types.len() == 1 => {
                let t = types.first().copied().unwrap_or(0);
                let attrs = self.prepared.program.entity_types.get(t as usize).map_or(0, |e| e.attrs.len());
                // Invariant 2: only one of the type's own slots.
                let Some(slot) = self.prepared.attr_slots.get(&(t, name)).copied().filter(|s| (*s as usize) < attrs)
                else {
                    return self.fallback(id, error);
                };
                let presence_words = attrs.div_ceil(64);
                let entity = self.value(base, error);
                self.entity_attribute(id, entity, slot, presence_words as i64, error, test)
            }
            _ => self.fallback(id, error),
        }
    }

    fn entity_attribute(
        &mut self,
        id: u32,
        entity: Value,
        slot: u32,
        presence_words: i64,
        error: Block,
        test: bool,
    ) -> Value {
        self.store_entity_or_fallback(id, entity, error, |jit, done| {
            let ctx = jit.ctx();
            let offsets = jit.load(jit.ptr, ctx, abi::JitCtx::OFFSETS);
            let index4 = jit.b.ins().imul_imm_u(entity, 4);
            let at = jit.b.ins().iadd(offsets, index4);
            let off32 = jit.load(types::I32, at, 0);
            let off = jit.b.ins().uextend(types::I64, off32);
            let flat = jit.load(jit.ptr, ctx, abi::JitCtx::FLAT);
            let base_bytes = jit.b.ins().imul_imm_u(off, 8);
            let entity_base = jit.b.ins().iadd(flat, base_bytes);
            let word = jit.load(types::I64, entity_base, (slot / 64 * 8) as i32);
            let bit = jit.b.ins().ushr_imm_u(word, i64::from(slot % 64));
            let present = jit.b.ins().band_imm_u(bit, 1);
            jit.present_or_read(present, test, done, error, |jit| {
                jit.load(types::I64, entity_base, ((presence_words + i64::from(slot)) * 8) as i32)
            });
        })
    }

    /// Runs `native` for an entity of the store (it jumps to the join block
    /// it is given with the value), the interpreter for one the request added.
    fn store_entity_or_fallback(
        &mut self,
        id: u32,
        entity: Value,
        error: Block,
        native: impl FnOnce(&mut Self, Block),
    ) -> Value {
        let fast = self.b.create_block();
        let slow = self.b.create_block();
        let done = self.b.create_block();
        self.b.append_block_param(done, types::I64);
        // Invariant 1: only store entities are read natively; the request's
        // own (indexes from LOCAL_ENTITY up) and any out-of-range word take the slow path.
        let outside = self.outside_store(entity);
        self.b.ins().brif(outside, slow, &[], fast, &[]);

        self.b.switch_to_block(fast);
        native(self, done);

        self.b.switch_to_block(slow);
        let v = self.fallback(id, error);
        self.b.ins().jump(done, &[BlockArg::Value(v)]);

        self.b.switch_to_block(done);
        self.param(done)
    }

    /// For `has` (`test`) the presence bit is the value; for a read an
    /// absent value is an error, a present one what `read` loads.
    fn present_or_read(
        &mut self,
        present: Value,
        test: bool,
        done: Block,
        error: Block,
        read: impl FnOnce(&mut Self) -> Value,
    ) {
        if test {
            self.b.ins().jump(done, &[BlockArg::Value(present)]);
        } else {
            let block = self.b.create_block();
            self.b.ins().brif(present, block, &[], error, &[]);
            self.b.switch_to_block(block);
            let value = read(self);
            self.b.ins().jump(done, &[BlockArg::Value(value)]);
        }
    }

    fn context_attribute(&mut self, name: u32, error: Block, test: bool) -> Value {
        let ctx = self.ctx();
        let table = self.load(self.ptr, ctx, abi::JitCtx::CONTEXT_SLOT_TABLE);
        let slot32 = self.load(types::I32, table, (name * 4) as i32);
        let slot = self.b.ins().uextend(types::I64, slot32);
        let known = self.b.create_block();
        let done = self.b.create_block();
        self.b.append_block_param(done, types::I64);
        let absent = self.b.ins().icmp_imm_s(IntCC::Equal, slot32, i64::from(u32::MAX as i32));
        if test {
            let zero = self.b.ins().iconst(types::I64, 0);
            self.b.ins().brif(absent, done, &[BlockArg::Value(zero)], known, &[]);
        } else {
            self.b.ins().brif(absent, error, &[], known, &[]);
        }
        self.b.switch_to_block(known);
        let present_ptr = self.load(self.ptr, ctx, abi::JitCtx::CONTEXT_PRESENT);
        let word_index = self.b.ins().ushr_imm_u(slot, 6);
        let word_bytes = self.b.ins().imul_imm_u(word_index, 8);
        let word_at = self.b.ins().iadd(present_ptr, word_bytes);
        let word = self.load(types::I64, word_at, 0);
        let shift = self.b.ins().band_imm_u(slot, 63);
        let bit = self.b.ins().ushr(word, shift);
        let present = self.b.ins().band_imm_u(bit, 1);
        self.present_or_read(present, test, done, error, |jit| {
            let slots = jit.load(jit.ptr, ctx, abi::JitCtx::CONTEXT_SLOTS);
            let slot_bytes = jit.b.ins().imul_imm_u(slot, 8);
            let at = jit.b.ins().iadd(slots, slot_bytes);
            jit.load(types::I64, at, 0)
        });
        self.b.switch_to_block(done);
        self.param(done)
    }

    /// Whether an entity word is not an index of the store (`>= entity_count`,
    /// which covers the request's own entities from [`LOCAL_ENTITY`] up).
    fn outside_store(&mut self, entity: Value) -> Value {
        let ctx = self.ctx();
        let count = self.load(types::I64, ctx, abi::JitCtx::ENTITY_COUNT);
        self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, entity, count)
    }

    /// `entity in ancestor` for an ancestor computed at run time: equal, or
    /// else, for two entities of the store, the ancestor's rank and then its
    /// bit in the entity's row (invariant 6); a rank past the rows (the
    /// store keeps none) and entities the store does not have go to the
    /// helper, which searches the ancestor list.
    fn in_entity(&mut self, entity: Value, ancestor: Value) -> Value {
        let done = self.b.create_block();
        self.b.append_block_param(done, types::I64);
        let differ = self.b.create_block();
        let stored = self.b.create_block();
        let unrowed = self.b.create_block();
        let fast = self.b.create_block();
        let slow = self.b.create_block();
        let one = self.b.ins().iconst(types::I64, 1);
        let same = self.b.ins().icmp(IntCC::Equal, entity, ancestor);
        self.b.ins().brif(same, done, &[BlockArg::Value(one)], differ, &[]);

        // Invariant 6: ranks and rows are read only for store entities.
        self.b.switch_to_block(differ);
        let entity_outside = self.outside_store(entity);
        let ancestor_outside = self.outside_store(ancestor);
        let outside = self.b.ins().bor(entity_outside, ancestor_outside);
        self.b.ins().brif(outside, slow, &[], stored, &[]);

        self.b.switch_to_block(stored);
        let ctx = self.ctx();
        let ranks = self.load(self.ptr, ctx, abi::JitCtx::RANKS);
        let ancestor4 = self.b.ins().imul_imm_u(ancestor, 4);
        let rank_at = self.b.ins().iadd(ranks, ancestor4);
        let rank32 = self.load(types::I32, rank_at, 0);
        let rank = self.b.ins().uextend(types::I64, rank32);
        let words = self.load(types::I64, ctx, abi::JitCtx::ANCESTOR_WORDS);
        let limit = self.b.ins().imul_imm_u(words, 64);
        let in_rows = self.b.ins().icmp(IntCC::UnsignedLessThan, rank, limit);
        self.b.ins().brif(in_rows, fast, &[], unrowed, &[]);

        // Past the rows: nobody's ancestor (no rank) is an answer, any
        // other rank is the helper's.
        self.b.switch_to_block(unrowed);
        let no_rank = self.b.ins().icmp_imm_s(IntCC::Equal, rank32, i64::from(crate::store::NO_RANK as i32));
        let zero = self.b.ins().iconst(types::I64, 0);
        self.b.ins().brif(no_rank, done, &[BlockArg::Value(zero)], slow, &[]);

        self.b.switch_to_block(fast);
        let row = self.b.ins().imul(entity, words);
        let word_index = self.b.ins().ushr_imm_u(rank, 6);
        let index = self.b.ins().iadd(row, word_index);
        let bytes = self.b.ins().imul_imm_u(index, 8);
        let bits = self.load(self.ptr, ctx, abi::JitCtx::ANCESTOR_BITS);
        let at = self.b.ins().iadd(bits, bytes);
        let word = self.load(types::I64, at, 0);
        let shift = self.b.ins().band_imm_u(rank, 63);
        let shifted = self.b.ins().ushr(word, shift);
        let bit = self.b.ins().band_imm_u(shifted, 1);
        self.b.ins().jump(done, &[BlockArg::Value(bit)]);

        self.b.switch_to_block(slow);
        let v = self.helper(self.helpers.entity_in, entity, ancestor);
        self.b.ins().jump(done, &[BlockArg::Value(v)]);

        self.b.switch_to_block(done);
        self.param(done)
    }

    /// `entity in Literal` as one bit test (store entities) or the interpreter.
    fn in_literal(&mut self, id: u32, entity: Value, k: u32, error: Block) -> Value {
        self.store_entity_or_fallback(id, entity, error, |jit, done| {
            let ctx = jit.ctx();
            let bits = jit.load(jit.ptr, ctx, abi::JitCtx::BITS);
            let words = jit.load(types::I64, ctx, abi::JitCtx::BITS_WORDS);
            let row = jit.b.ins().imul(entity, words);
            let word_index = jit.b.ins().iadd_imm_u(row, i64::from(k / 64));
            let bytes = jit.b.ins().imul_imm_u(word_index, 8);
            let at = jit.b.ins().iadd(bits, bytes);
            let word = jit.load(types::I64, at, 0);
            let shifted = jit.b.ins().ushr_imm_u(word, i64::from(k % 64));
            let bit = jit.b.ins().band_imm_u(shifted, 1);
            jit.b.ins().jump(done, &[BlockArg::Value(bit)]);
        })
    }
}

/// The integer comparison of a comparison operator (values are compared as
/// signed words).
fn int_cc(op: CmpOp) -> IntCC {
    match op {
        CmpOp::Eq => IntCC::Equal,
        CmpOp::Ne => IntCC::NotEqual,
        CmpOp::Lt => IntCC::SignedLessThan,
        CmpOp::Le => IntCC::SignedLessThanOrEqual,
        CmpOp::Gt => IntCC::SignedGreaterThan,
        CmpOp::Ge => IntCC::SignedGreaterThanOrEqual,
    }
}

/// Checks the store's layout against what native code assumes (the
/// invariants of [`JitCtx`]): one offset and `bits_words` words of literal
/// bits per entity, a bit for every entity literal, and `flat` padded so
/// that any type's attribute words at any entity's offset are inside it.
pub(crate) fn check_layout(program: &ward_ir::Program, store: &Store) -> Result<(), String> {
    let n = store.entities.len();
    let region = attribute_region(program);
    let last = store.offsets.iter().map(|o| *o as usize).max().unwrap_or(0);
    let problem = if store.offsets.len() != n {
        "one attribute offset per entity"
    } else if store.bits_words < program.entity_literals.len().div_ceil(64) || store.bits_words == 0 {
        "a literal bit per entity literal"
    } else if store.bits.len() != n.saturating_mul(store.bits_words) {
        "the literal bits of every entity"
    } else if store.literals.len() != program.entity_literals.len() {
        "an entity for every entity literal"
    } else if n > 0 && last.saturating_add(region) > store.flat.len() {
        "attribute words padded past the last entity"
    } else if n >= LOCAL_ENTITY as usize {
        "fewer entities than the first request-local index"
    } else if store.padding < region {
        "attribute padding for every type of the program"
    } else if !ancestry_fits(store) {
        "a rank per entity and a row of ancestor bits per entity"
    } else {
        return Ok(());
    };
    Err(format!("the entity store's layout does not have {problem}"))
}

/// Invariant 6 of [`JitCtx`], in O(1): one rank and one row of ancestor
/// bits per entity (a rank past the rows is checked by the code itself).
fn ancestry_fits(store: &Store) -> bool {
    let n = store.entities.len();
    store.ancestry.rank.len() == n && Some(store.ancestry.rows.len()) == n.checked_mul(store.ancestry.words)
}

/// The most words one entity's attributes can take (presence words then
/// slots) over the program's entity types: `flat` is padded by as much.
pub(crate) fn attribute_region(program: &ward_ir::Program) -> usize {
    program.entity_types.iter().map(|t| t.attrs.len().div_ceil(64) + t.attrs.len()).max().unwrap_or(0)
}

/// Types compared by their value word alone.
fn is_scalar(ty: &Ty) -> bool {
    matches!(
        ty,
        Ty::Bool
            | Ty::Int
            | Ty::Decimal
            | Ty::String
            | Ty::Time
            | Ty::Date
            | Ty::Duration
            | Ty::Entity(_)
            | Ty::Enum(_)
            | Ty::Action
    )
}

/// A placeholder where codegen cannot have a value (never reached: block
/// parameters and call results exist by construction).
fn unreachable_value() -> Value {
    Value::from_u32(0)
}
