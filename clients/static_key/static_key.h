/*
 * clients/static_key/static_key.h — static keys (jump labels): a branch
 * whose direction is a patched instruction, not a load and a test.
 *
 *   DEFINE_STATIC_KEY_FALSE(trace_key);          // starts off
 *   if (static_branch_unlikely(&trace_key))      // 5-byte NOP while off,
 *           trace_something();                   // jmp rel32 while on
 *   static_key_enable(&trace_key.key);           // every site, one batch
 *
 * Each use of static_branch_*() is a site: a jmp to the "true" code or a
 * NOP of the same length (fall through: the branch is false), two bytes
 * (jmp rel8) when the assembler finds the target within reach, else five
 * (jmp rel32), and a relative entry {code, target, key} in section
 * __jump_table (collected by linker.ld, sorted at boot by key then code
 * address, jump_table.c). The compiler emits every site as the jmp; at boot,
 * before any AP runs, static_key_init() records each site's length in its
 * entry and turns the sites of keys that start off (DEFINE_STATIC_KEY_FALSE)
 * into NOPs, in one batch (Linux has objtool do that at build time).
 * likely/unlikely only say which way GCC lays the code out.
 *
 * Keys live in section .static_keys (named, for the console). Changing a
 * key patches all its sites in one batch of the default strategy
 * (3 rounds with int3, whatever the number of sites); a transaction changes
 * several keys in one batch, all or nothing. Thread context, IRQs on.
 */
#ifndef XPOKE_CLIENTS_STATIC_KEY_H
#define XPOKE_CLIENTS_STATIC_KEY_H

#include <stdbool.h>
#include <stdint.h>

struct jump_entry {
	int32_t code;           /* the site, relative to this field */
	int32_t target;         /* where its jmp goes, relative to this field */
	int64_t key;            /* its struct static_key, relative to this field;
				 * bit 0: JUMP_ENTRY_SHORT (keys are 8-aligned) */
};

#define JUMP_ENTRY_SHORT 1      /* the site is 2 bytes (jmp rel8 / 2-byte NOP) */
#define JUMP_ENTRY_FLAGS 7

struct static_key {
	const char *name;
	uint32_t enabled;       /* what the sites hold: 1 jmp, 0 NOP */
	uint32_t nr_sites;      /* set at boot (static_key_init) */
	struct jump_entry *sites;       /* its run of the sorted table */
};

struct static_key_true  { struct static_key key; };
struct static_key_false { struct static_key key; };

#define STATIC_KEY_DEFINE_(_name, _type, _on) \
	struct _type _name __attribute__((used, section(".static_keys"), aligned(8))) = \
		{ .key = { .name = #_name, .enabled = (_on) } }
#define DEFINE_STATIC_KEY_TRUE(name)  STATIC_KEY_DEFINE_(name, static_key_true, 1)
#define DEFINE_STATIC_KEY_FALSE(name) STATIC_KEY_DEFINE_(name, static_key_false, 0)
#define DECLARE_STATIC_KEY_TRUE(name)  extern struct static_key_true name
#define DECLARE_STATIC_KEY_FALSE(name) extern struct static_key_false name

/* One site: a jmp to l_on, 2 or 5 bytes as the assembler relaxes it (a
 * NOP from boot on while the key is off: static_key_init). Returns whether
 * the branch was taken. */
static inline __attribute__((always_inline)) bool static_key_site_(struct static_key *key)
{
	asm goto("1:\n\t"
		 "jmp %l[l_on]\n\t"
		 ".pushsection __jump_table, \"aw\"\n\t"
		 ".balign 8\n\t"
		 ".long 1b - .\n\t"
		 ".long %l[l_on] - .\n\t"
		 ".quad %c[key] - .\n\t"
		 ".popsection"
		 : : [key] "i"(key) : : l_on);
	return false;
l_on:
	return true;
}

#define static_branch_likely(x)   __builtin_expect(static_key_site_(&(x)->key), 1)
#define static_branch_unlikely(x) __builtin_expect(static_key_site_(&(x)->key), 0)

extern struct static_key __static_keys_start[], __static_keys_end[];
extern struct jump_entry __jump_table_start[], __jump_table_end[];

static inline uintptr_t jump_entry_code(const struct jump_entry *e)
{
	return (uintptr_t)&e->code + (intptr_t)e->code;
}
static inline uintptr_t jump_entry_target(const struct jump_entry *e)
{
	return (uintptr_t)&e->target + (intptr_t)e->target;
}
static inline struct static_key *jump_entry_key(const struct jump_entry *e)
{
	return (struct static_key *)(((uintptr_t)&e->key + (intptr_t)e->key) & ~(uintptr_t)JUMP_ENTRY_FLAGS);
}
static inline unsigned jump_entry_flags(const struct jump_entry *e)
{
	return (unsigned)(((uintptr_t)&e->key + (intptr_t)e->key) & JUMP_ENTRY_FLAGS);
}
/* The site's length: JMP8_INSN_SIZE or JMP32_INSN_SIZE (set at boot). */
static inline unsigned jump_entry_len(const struct jump_entry *e)
{
	return (jump_entry_flags(e) & JUMP_ENTRY_SHORT) ? 2 : 5;
}

/* Boot (before the APs run any site; the patch core is up): sort the
 * table, give each key its run of sites, record each site's length, and
 * make the sites of keys that start off NOPs (one batch). Panics on a site
 * that is not a jmp to its entry's target: the table and the code disagree. */
void static_key_init(void);
/* Its last step (static_key.c): the sites of keys that start off, from
 * the compiler's jmp to a NOP, in one batch. */
void static_key_boot_off(void);

/* A key by name, or NULL; is k one of the registered keys? */
struct static_key *static_key_by_name(const char *name);
bool static_key_known(const struct static_key *k);

/* Set one key (all its sites in one batch): 0, or a -PATCH_E* code (the
 * key and every byte unchanged). Setting a key to the state it has is 0 and
 * writes nothing. */
int static_key_enable(struct static_key *k);
int static_key_disable(struct static_key *k);
int static_key_set(struct static_key *k, bool on);

/* Transactions: several keys, one batch, all or nothing. One at a time
 * (begin takes the client's lock, commit or abort releases it). add
 * refuses an unknown key, a key already in the transaction, or more than
 * STATIC_KEY_TXN_MAX keys (-PATCH_EINVAL-like codes below) and the
 * transaction is then void: commit returns that refusal and changes nothing. */
#define STATIC_KEY_TXN_MAX 8
void static_key_txn_begin(void);
int static_key_txn_add(struct static_key *k, bool on);
/* The strategy that applies this transaction's batch (NULL, as after
 * begin: the default). With ool every site switches at one point (its
 * new-copies phase), so no pass over the sites sees a later one old after
 * an earlier one new; int3 emulates a site as new from its own int3 on. */
struct patch_strategy;
void static_key_txn_strategy(const struct patch_strategy *s);
int static_key_txn_commit(void);
void static_key_txn_abort(void);

/* The client's own refusals (beside the core's -PATCH_E*). */
enum {
	STATIC_KEY_EUNKNOWN = 300,      /* not a registered key */
	STATIC_KEY_EDUPLICATE,          /* key already in the transaction */
	STATIC_KEY_ETXN_FULL,           /* more than STATIC_KEY_TXN_MAX keys */
	STATIC_KEY_ETOO_MANY_SITES,     /* the sites do not fit one batch */
	STATIC_KEY_ESITE_BYTES,         /* a site holds neither the NOP nor its jmp */
};
const char *static_key_errname(int err);

/* Why the last refusal happened: the core's b->why or the client's text. */
const char *static_key_why(void);

#endif
