//! The JIT's ABI: the only module of Ward with `unsafe` code.
//!
//! Native code receives one pointer, to a [`JitCtx`] built on the caller's
//! stack for the duration of the call, and reads the request and the entity
//! store through the raw pointers in it. It calls back into Rust only
//! through the `extern "C"` helpers below, which turn those pointers back
//! into references. Every `unsafe` block says why it is sound.
#![allow(unsafe_code)]

use std::ffi::c_void;

use cranelift_jit::JITModule;

use crate::interp::Eval;

/// What native code reads. `repr(C)`, every field 8 bytes, so that codegen
/// addresses fields by fixed offsets (the constants below).
///
/// # What native code reads, and why it stays in bounds
///
/// Generated code dereferences the pointers below without bounds checks of
/// its own, except the one on entity indexes. The code is compiled from the
/// program alone ([`super::Jit::compile`] validates it), and the same code
/// runs against any entity store of that program: a store is paired with it
/// per call. Memory safety rests on these invariants, checked when a store
/// is paired with a JIT ([`super::check_layout`], by `Loaded::new` and
/// `Loaded::with_store`), checked again in O(1) for every call
/// ([`super::Jit::calls`]: a store or frame that does not fit runs in the
/// interpreter), and asserted in full in debug builds:
///
/// 1. **Entities.** Before any read of `offsets` or `bits` for an entity
///    index `e`, native code checks `e < entity_count` (one unsigned
///    compare; indexes at or above it — the request's own entities, or any
///    word that a hostile program types as an entity — take the slow path,
///    the interpreter, which looks entities up safely).
///    `offsets.len() == bits.len() / bits_words == entity_count`.
/// 2. **Attributes.** Codegen reads slot `s` of type `t` only if `s` is one
///    of `t`'s attribute slots; it reads the words `offsets[e] + s / 64` and
///    `offsets[e] + presence_words(t) + s`. `flat` ends with
///    `max over types (presence_words + attributes)` zero words of padding,
///    so both reads are inside `flat` for *any* entity `e < entity_count`,
///    whatever its type (a program that mistypes an entity reads the wrong
///    words, never outside the table).
/// 3. **Literal bits.** Codegen tests bit `k` only if `k` indexes one of
///    the program's entity literals, so `k / 64 < bits_words`.
/// 4. **Context.** Codegen reads `context_slot_table[name]` only for a
///    string id `name` < the program's string count, which is the table's
///    length; every slot in the table is below the action's context field
///    count; the call is native only when the context record of the frame
///    has exactly that many slots (and its presence words): otherwise every
///    rule of the call runs in the interpreter. No pointer is ever null
///    when native code runs.
/// 5. **Literal entities.** Codegen reads `literals[k]` (the store index of
///    the program's entity literal `k`) only for `k` below the number of
///    entity literals of the program it compiled, which is the length of
///    the store's table. The entity store is never embedded in the code, so
///    swapping or patching entities needs no new compile.
/// 6. **Ancestor bits.** `ranks` has `entity_count` entries and
///    `ancestor_bits` `entity_count * ancestor_words` words. Native code
///    reads `ranks[a]` only for `a < entity_count`, and the word
///    `ancestor_bits[e * ancestor_words + r / 64]` only for
///    `e < entity_count` and a rank `r < ancestor_words * 64`, both checked
///    in the code itself (a rank at or past it, [`crate::store`]'s "no
///    rank" included, is not read as a word; with no rows,
///    `ancestor_words == 0`, no rank passes), so the read is inside the
///    table whatever the ranks hold.
#[repr(C)]
pub struct JitCtx {
    pub principal: u64,
    pub resource: u64,
    pub action: u64,
    pub now: i64,
    pub context_slots: *const u64,
    pub context_present: *const u64,
    /// For the request's action: string id of a context field → its slot (`u32::MAX`: none).
    pub context_slot_table: *const u32,
    /// The store's entities, flattened: presence words then slots, per entity.
    pub flat: *const u64,
    /// Entity index → offset (in words) of its data in `flat`.
    pub offsets: *const u32,
    /// Literal-membership bits, `bits_words` words per entity.
    pub bits: *const u64,
    pub bits_words: u64,
    /// The evaluator, for helper calls (an `&Eval<'_>`).
    pub eval: *const c_void,
    /// The index of the rule being evaluated.
    pub rule: u64,
    /// How many entities the store has: native code reads an entity's data
    /// only for indexes below it (invariant 1).
    pub entity_count: u64,
    /// Entity literal `k` of the program → its store index (invariant 5).
    pub literals: *const u32,
    /// Entity index → its rank as an ancestor (`u32::MAX`: it is nobody's
    /// ancestor) (invariant 6).
    pub ranks: *const u32,
    /// Per entity, a row of `ancestor_words` words: bit `r` set when the
    /// entity of rank `r` is one of its ancestors (invariant 6).
    pub ancestor_bits: *const u64,
    pub ancestor_words: u64,
}

impl JitCtx {
    /// Byte offsets of the fields, for codegen.
    pub const PRINCIPAL: i32 = 0;
    pub const RESOURCE: i32 = 8;
    pub const ACTION: i32 = 16;
    pub const NOW: i32 = 24;
    pub const CONTEXT_SLOTS: i32 = 32;
    pub const CONTEXT_PRESENT: i32 = 40;
    pub const CONTEXT_SLOT_TABLE: i32 = 48;
    pub const FLAT: i32 = 56;
    pub const OFFSETS: i32 = 64;
    pub const BITS: i32 = 72;
    pub const BITS_WORDS: i32 = 80;
    pub const ENTITY_COUNT: i32 = 104;
    pub const LITERALS: i32 = 112;
    pub const RANKS: i32 = 120;
    pub const ANCESTOR_BITS: i32 = 128;
    pub const ANCESTOR_WORDS: i32 = 136;
}

// The offsets above are the fields' offsets.
const _: () = {
    assert!(std::mem::offset_of!(JitCtx, context_slot_table) == JitCtx::CONTEXT_SLOT_TABLE as usize);
    assert!(std::mem::offset_of!(JitCtx, bits_words) == JitCtx::BITS_WORDS as usize);
    assert!(std::mem::offset_of!(JitCtx, entity_count) == JitCtx::ENTITY_COUNT as usize);
    assert!(std::mem::offset_of!(JitCtx, literals) == JitCtx::LITERALS as usize);
    assert!(std::mem::offset_of!(JitCtx, ranks) == JitCtx::RANKS as usize);
    assert!(std::mem::offset_of!(JitCtx, ancestor_bits) == JitCtx::ANCESTOR_BITS as usize);
    assert!(std::mem::offset_of!(JitCtx, ancestor_words) == JitCtx::ANCESTOR_WORDS as usize);
    assert!(std::mem::offset_of!(JitCtx, principal) == JitCtx::PRINCIPAL as usize);
    assert!(std::mem::offset_of!(JitCtx, resource) == JitCtx::RESOURCE as usize);
    assert!(std::mem::offset_of!(JitCtx, action) == JitCtx::ACTION as usize);
    assert!(std::mem::offset_of!(JitCtx, now) == JitCtx::NOW as usize);
    assert!(std::mem::offset_of!(JitCtx, flat) == JitCtx::FLAT as usize);
    assert!(std::mem::offset_of!(JitCtx, offsets) == JitCtx::OFFSETS as usize);
    assert!(std::mem::offset_of!(JitCtx, bits) == JitCtx::BITS as usize);
    assert!(std::mem::offset_of!(JitCtx, context_slots) == JitCtx::CONTEXT_SLOTS as usize);
    assert!(std::mem::offset_of!(JitCtx, context_present) == JitCtx::CONTEXT_PRESENT as usize);
};

/// The signature of a compiled rule: `fn(&JitCtx) -> outcome code`.
type RawRuleFn = extern "C" fn(*const JitCtx) -> u64;

/// A compiled rule's entry point.
#[derive(Clone, Copy)]
pub struct RuleFn(RawRuleFn);

impl RuleFn {
    /// Wraps a pointer returned by `JITModule::get_finalized_function` for a
    /// function compiled with the signature `fn(i64) -> i64`.
    pub fn from_finalized(ptr: *const u8) -> RuleFn {
        // SAFETY: `ptr` is the entry of a finalized function that codegen
        // declared with one pointer-sized argument and one i64 result, using
        // the platform's default C calling convention — exactly `RawRuleFn`.
        // The code stays mapped as long as the owning `CodeMemory` lives, and
        // every `RuleFn` is stored beside it in `Jit`.
        RuleFn(unsafe { std::mem::transmute::<*const u8, RawRuleFn>(ptr) })
    }

    /// Runs the rule. Sound only for a `ctx` that holds the invariants of
    /// [`JitCtx`] for the program the rule was compiled from and the store
    /// paired with it, which [`super::Jit::calls`] establishes (the only
    /// caller).
    #[inline]
    pub fn call(&self, ctx: &JitCtx) -> u64 {
        (self.0)(ctx)
    }
}

/// Owns the JIT's code memory.
pub struct CodeMemory(pub JITModule);

// SAFETY: after `finalize_definitions` the module's code pages are read-only
// and executable and are never written again; the module itself is only
// touched again when it is dropped. Sharing or sending it between threads
// therefore cannot race. (JITModule is not marked Send/Sync because it holds
// raw pointers to that memory.)
unsafe impl Send for CodeMemory {}
// SAFETY: see the `Send` impl: no method of `JITModule` is called through a
// shared reference after finalization.
unsafe impl Sync for CodeMemory {}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        // The module frees its memory only when asked; no `RuleFn` outlives
        // this value (both live in the same `Jit`).
        let module = std::mem::replace(&mut self.0, empty_module());
        // SAFETY: no compiled function of `module` can be running or be
        // called again: they are reachable only through the `Jit` being
        // dropped, which owns this `CodeMemory`.
        unsafe { module.free_memory() };
    }
}

fn empty_module() -> JITModule {
    super::new_module().unwrap_or_else(|_| {
        // Creating a second, empty module cannot fail where the first succeeded.
        std::process::abort()
    })
}

/// Evaluates expression `expr` of the current rule with the interpreter and
/// writes its value to `out`. Returns 0 on success, 1 on an evaluation error.
pub extern "C" fn ward_eval(ctx: *const JitCtx, expr: u64, out: *mut u64) -> u64 {
    // SAFETY: native code passes the `JitCtx` it was called with, which
    // `Jit::rule` built on its stack and keeps alive for the whole call.
    let ctx = unsafe { &*ctx };
    // SAFETY: `ctx.eval` was set from an `&Eval<'_>` that outlives the call.
    let eval = unsafe { &*(ctx.eval as *const Eval<'_>) };
    let Some(rule) = eval.prepared.program.rules.get(ctx.rule as usize) else { return 1 };
    match eval.expr(&rule.exprs, expr as u32) {
        Ok(v) => {
            // SAFETY: `out` points to a stack slot of the calling native frame,
            // 8 bytes, aligned, and live until this helper returns.
            unsafe { *out = v };
            0
        }
        Err(_) => 1,
    }
}

/// `set.contains(value)` for a set of scalars: 1 or 0. `set` is a set
/// handle of the frame or the store.
pub extern "C" fn ward_contains(ctx: *const JitCtx, set: u64, value: u64) -> u64 {
    // SAFETY: as in `ward_eval`: the `JitCtx` and the `Eval` it points to
    // outlive this call.
    let ctx = unsafe { &*ctx };
    // SAFETY: see above.
    let eval = unsafe { &*(ctx.eval as *const Eval<'_>) };
    u64::from(eval.with_set(set, |elements| elements.binary_search(&value).is_ok()))
}

/// `entity in ancestor` for an ancestor computed at run time, when native
/// code does not test the bit itself (an entity the store does not have, a
/// store without ancestor bits): 1 or 0.
pub extern "C" fn ward_entity_in(ctx: *const JitCtx, entity: u64, ancestor: u64) -> u64 {
    // SAFETY: as in `ward_eval`.
    let ctx = unsafe { &*ctx };
    // SAFETY: as in `ward_eval`.
    let eval = unsafe { &*(ctx.eval as *const Eval<'_>) };
    u64::from(eval.entity_in(entity as u32, ancestor as u32))
}

/// `entity in set`: 1 when the entity is in (or below) one of the set's entities.
pub extern "C" fn ward_entity_in_set(ctx: *const JitCtx, entity: u64, set: u64) -> u64 {
    // SAFETY: as in `ward_eval`.
    let ctx = unsafe { &*ctx };
    // SAFETY: as in `ward_eval`.
    let eval = unsafe { &*(ctx.eval as *const Eval<'_>) };
    u64::from(eval.entity_in_set(entity as u32, set))
}
