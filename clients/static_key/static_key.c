/*
 * clients/static_key/static_key.c — setting keys: every site of every key
 * being changed goes into one batch of the default strategy (patch/patch.h),
 * so a key of 76 sites costs the rounds of one site, and a transaction of
 * several keys too. A refusal (the core's or ours) leaves every byte and
 * every key's state as it was: key states change only after the batch is
 * applied.
 */
#include "clients/static_key/static_key.h"
#include "kernel/format.h"
#include "kernel/panic.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "patch/patch.h"

#define STATIC_KEY_BATCH_MAX 512        /* sites of one batch, all keys together */

POKE_BATCH_DEFINE(key_batch, STATIC_KEY_BATCH_MAX);
static spinlock_t key_lock = SPINLOCK_INIT("static_key");
static char key_why[POKE_WHY_LEN];

static struct {
	unsigned nr;
	int refused;            /* the first refusal of add: commit returns it */
	struct static_key *key[STATIC_KEY_TXN_MAX];
	bool on[STATIC_KEY_TXN_MAX];
	const struct patch_strategy *strategy;  /* NULL: the default */
} txn;

const char *static_key_errname(int err)
{
	switch (-err) {
	case STATIC_KEY_EUNKNOWN:
		return "STATIC_KEY_EUNKNOWN";
	case STATIC_KEY_EDUPLICATE:
		return "STATIC_KEY_EDUPLICATE";
	case STATIC_KEY_ETXN_FULL:
		return "STATIC_KEY_ETXN_FULL";
	case STATIC_KEY_ETOO_MANY_SITES:
		return "STATIC_KEY_ETOO_MANY_SITES";
	case STATIC_KEY_ESITE_BYTES:
		return "STATIC_KEY_ESITE_BYTES";
	default:
		return patch_errname(err);
	}
}

const char *static_key_why(void)
{
	return key_why;
}

bool static_key_known(const struct static_key *k)
{
	for (struct static_key *p = __static_keys_start; p < __static_keys_end; p++)
		if (p == k)
			return true;
	return false;
}

struct static_key *static_key_by_name(const char *name)
{
	for (struct static_key *p = __static_keys_start; p < __static_keys_end; p++)
		if (!strcmp(p->name, name))
			return p;
	return NULL;
}

/* The bytes of site e when its key is on (its jmp, rel8 or rel32 as the
 * compiler made it) or off (a NOP of the same length). */
static bool site_bytes(const struct jump_entry *e, bool on, uint8_t out[JMP32_INSN_SIZE])
{
	unsigned len = jump_entry_len(e);
	if (!on)
		return insn_nop(len, out);
	if (len == JMP8_INSN_SIZE)
		return insn_jmp8(jump_entry_code(e), jump_entry_target(e), out);
	return insn_jmp32(jump_entry_code(e), jump_entry_target(e), out);
}

/* Queue every site of k, from the bytes of state from to those of state to. */
static int queue_key(struct static_key *k, bool from, bool to)
{
	uint8_t old[JMP32_INSN_SIZE], new[JMP32_INSN_SIZE];
	for (uint32_t i = 0; i < k->nr_sites; i++) {
		const struct jump_entry *e = &k->sites[i];
		uintptr_t at = jump_entry_code(e);
		if (!site_bytes(e, from, old) || !site_bytes(e, to, new)) {
			snprintf(key_why, sizeof(key_why), "%s: site %lx: jmp to %lx out of reach of its %u bytes",
				 k->name, at, jump_entry_target(e), jump_entry_len(e));
			return -STATIC_KEY_ESITE_BYTES;
		}
		if (key_batch.nr == key_batch.cap) {
			snprintf(key_why, sizeof(key_why), "%s: site %lx: more than %u sites in one batch", k->name,
				 at, key_batch.cap);
			return -STATIC_KEY_ETOO_MANY_SITES;
		}
		int err = smp_text_poke_batch_add(&key_batch, (void *)at, old, new, jump_entry_len(e));
		if (err) {
			snprintf(key_why, sizeof(key_why), "%s: %s", k->name, key_batch.why);
			return err;
		}
	}
	return 0;
}

void static_key_boot_off(void)
{
	key_batch.quiet = 1;
	key_batch.strategy = NULL;
	for (struct static_key *k = __static_keys_start; k < __static_keys_end; k++) {
		int err = k->enabled ? 0 : queue_key(k, true, false);
		if (err)
			panic("static_key: key %s cannot start off: %s (%s)", k->name, key_why, static_key_errname(err));
	}
	int err = smp_text_poke_batch_finish(&key_batch);
	if (err)
		panic("static_key: the sites of the keys that start off: %s (%s)", key_batch.why,
		      static_key_errname(err));
}

/* Apply txn (key_lock held): one batch, then the states. */
static int txn_apply(void)
{
	int err = txn.refused;
	key_batch.quiet = 1;
	key_batch.strategy = txn.strategy;
	for (unsigned i = 0; !err && i < txn.nr; i++)
		if (txn.key[i]->enabled != txn.on[i])
			err = queue_key(txn.key[i], txn.key[i]->enabled, txn.on[i]);
	if (err) {
		smp_text_poke_batch_reset(&key_batch);
		return err;
	}
	if (key_batch.nr) {
		err = smp_text_poke_batch_finish(&key_batch);
		if (err) {
			snprintf(key_why, sizeof(key_why), "%s", key_batch.why);
			return err;
		}
	}
	for (unsigned i = 0; i < txn.nr; i++)
		txn.key[i]->enabled = txn.on[i];
	return 0;
}

void static_key_txn_begin(void)
{
	spin_lock_timeout(&key_lock, 60000);
	txn.nr = 0;
	txn.refused = 0;
	txn.strategy = NULL;
	key_why[0] = 0;
}

void static_key_txn_strategy(const struct patch_strategy *s)
{
	txn.strategy = s;
}

int static_key_txn_add(struct static_key *k, bool on)
{
	int err = 0;
	if (!static_key_known(k)) {
		snprintf(key_why, sizeof(key_why), "%lx is not a static key", (uintptr_t)k);
		err = -STATIC_KEY_EUNKNOWN;
	} else if (txn.nr == STATIC_KEY_TXN_MAX) {
		snprintf(key_why, sizeof(key_why), "%s: more than %u keys in one transaction", k->name,
			 STATIC_KEY_TXN_MAX);
		err = -STATIC_KEY_ETXN_FULL;
	} else {
		for (unsigned i = 0; i < txn.nr; i++)
			if (txn.key[i] == k) {
				snprintf(key_why, sizeof(key_why), "%s: already in the transaction", k->name);
				err = -STATIC_KEY_EDUPLICATE;
			}
	}
	if (err) {
		if (!txn.refused)
			txn.refused = err;
		return err;
	}
	txn.key[txn.nr] = k;
	txn.on[txn.nr++] = on;
	return 0;
}

int static_key_txn_commit(void)
{
	int err = txn_apply();
	txn.nr = 0;
	spin_unlock(&key_lock);
	return err;
}

void static_key_txn_abort(void)
{
	txn.nr = 0;
	spin_unlock(&key_lock);
}

int static_key_set(struct static_key *k, bool on)
{
	static_key_txn_begin();
	static_key_txn_add(k, on);
	return static_key_txn_commit();
}

int static_key_enable(struct static_key *k)
{
	return static_key_set(k, true);
}

int static_key_disable(struct static_key *k)
{
	return static_key_set(k, false);
}
