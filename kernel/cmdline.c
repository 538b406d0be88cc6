/*
 * kernel/cmdline.c — split the command line and hand each word to its
 * KPARAM handler.
 */
#include "kernel/cmdline.h"
#include "kernel/errno.h"
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
		if (p->set(value)) {
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
