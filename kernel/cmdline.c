/*
 * kernel/cmdline.c — split the command line and hand each word to its
 * KPARAM handler; parse, check and store the typed ones (KPARAM_UINT,
 * _BOOL, _ENUM, _STR) in one place.
 */
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/format.h"
#include "kernel/printk.h"
#include "kernel/string.h"

extern const struct kparam __kparams_start[], __kparams_end[];  /* linker.ld */

static unsigned not_applied;            /* unknown or rejected words */

static const struct kparam *find(const char *key)
{
	for (const struct kparam *p = __kparams_start; p < __kparams_end; p++)
		if (!strcmp(p->name, key))
			return p;
	return NULL;
}

/* The SYNTAX of "SYNTAX: what it does" (the whole help if it has none). */
static int syntax_len(const char *help)
{
	int n = 0;
	while (help[n] && !(help[n] == ':' && help[n + 1] == ' '))
		n++;
	return n;
}

static void store(const struct kparam *p, uint64_t v)
{
	switch (p->size) {
	case 1: *(uint8_t *)p->var = (uint8_t)v; break;
	case 2: *(uint16_t *)p->var = (uint16_t)v; break;
	case 4: *(uint32_t *)p->var = (uint32_t)v; break;
	default: *(uint64_t *)p->var = v; break;
	}
}

/* Apply value to parameter p: 0, or -EINVAL after saying why (typed ones: the
 * parameter, the value and what it may be). */
static int apply(const struct kparam *p, const char *value)
{
	/* "got 'VALUE'", or "got no value" for a bare key */
	const char *q = value ? "'" : "", *got = value ? value : "no value";
	uint64_t v;
	switch (p->kind) {
	case KP_UINT: {
		uint64_t m = p->multiple > 1 ? p->multiple : 1;
		if (value && parse_u64(value, &v) && v >= p->min && v <= p->max && v % m == 0) {
			store(p, v);
			return 0;
		}
		char what[48];
		if (m == 2)
			snprintf(what, sizeof(what), "an even count");
		else if (m > 2)
			snprintf(what, sizeof(what), "a multiple of %lu", m);
		else
			snprintf(what, sizeof(what), "a number");
		printk("%s: needs %s from %lu to %lu (%.*s), got %s%s%s", p->name, what, p->min, p->max,
		       syntax_len(p->help), p->help, q, got, q);
		return -EINVAL;
	}
	case KP_BOOL:
		if (value && (!strcmp(value, "0") || !strcmp(value, "1"))) {
			store(p, value[0] == '1');
			if (value[0] == '1' && p->note)
				printk("%s", p->note);
			return 0;
		}
		printk("%s: needs 0 or 1, got %s%s%s", p->name, q, got, q);
		return -EINVAL;
	case KP_ENUM: {
		char list[96] = "";
		size_t o = 0;
		for (uint32_t i = 0; i < p->nchoices; i++) {
			if (value && !strcmp(value, p->choices[i])) {
				store(p, i);
				return 0;
			}
			if (o < sizeof(list))
				o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
						      i == 0 ? "" : i + 1 == p->nchoices ? " or " : ", ", p->choices[i]);
		}
		printk("%s: needs %s, got %s%s%s", p->name, list, q, got, q);
		return -EINVAL;
	}
	case KP_STR:
		if (value && *value) {
			*(const char **)p->var = value;
			return 0;
		}
		printk("%s: needs a value: %.*s", p->name, syntax_len(p->help), p->help);
		return -EINVAL;
	default:
		return p->set(value);
	}
}

void cmdline_print_known(void)
{
	for (const struct kparam *p = __kparams_start; p < __kparams_end; p++)
		printk("  %-16s %s", p->name, p->help);
}

int cmdline_parse(const char *cmdline)
{
	/* Words are split in place in a copy that lives as long as the kernel,
	 * so handlers may keep pointers to their values. */
	static char copy[1024];
	int bad = 0, first = 1;

	printk("cmdline: '%s'", cmdline);
	if (strlcpy(copy, cmdline, sizeof(copy)) >= sizeof(copy)) {
		printk("cmdline: longer than %zu characters; the rest is ignored", sizeof(copy) - 1);
		bad++;
	}
	for (char *s = copy; *s;) {
		while (*s == ' ')
			*s++ = 0;
		if (!*s)
			break;
		char *word = s;
		while (*s && *s != ' ')
			s++;
		if (*s)
			*s++ = 0;

		/* Some loaders put the kernel's path first. */
		if (first && word[0] == '/' && !strchr(word, '=')) {
			first = 0;
			continue;
		}
		first = 0;

		char *eq = strchr(word, '=');
		const char *value = NULL;
		if (eq) {
			*eq = 0;
			value = eq + 1;
		}
		const struct kparam *p = find(word);
		if (!p) {
			printk("cmdline: unknown parameter '%s' ignored", word);
			bad++;
			continue;
		}
		if (apply(p, value)) {
			if (value)
				printk("cmdline: '%s=%s' rejected (see above); the default stays", word, value);
			else
				printk("cmdline: bare '%s' rejected (see above); the default stays", word);
			bad++;
		}
	}
	if (bad) {
		printk("cmdline: %d word(s) not applied; known parameters:", bad);
		cmdline_print_known();
	}
	not_applied = (unsigned)bad;
	return bad;
}

unsigned cmdline_not_applied(void) { return not_applied; }
