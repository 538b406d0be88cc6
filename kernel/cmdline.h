/*
 * kernel/cmdline.h — kernel parameters: "key=value" or bare "key" words.
 *
 * Each parameter is one KPARAM() entry in section .kparams, next to the
 * code it configures. Unknown keys are warned about and listed; a bad value
 * is reported with the parameter's own reason and not applied. Either one
 * fails a ktest= run at its end.
 */
#ifndef XPOKE_KERNEL_CMDLINE_H
#define XPOKE_KERNEL_CMDLINE_H

struct kparam {
	const char *name;
	const char *help;
	/* value is NULL for a bare key; return 0, or -EINVAL after printing why */
	int (*set)(const char *value);
};

#define KPARAM(_name, _set, _help) \
	static const struct kparam __kparam_##_set \
	__attribute__((used, section(".kparams"), aligned(8))) = { (_name), (_help), (_set) }

/* Parse and apply; returns the number of unknown or rejected words. */
int cmdline_parse(const char *cmdline);

/* That number, for later: a ktest= run with such words fails (kernel/ktest.c),
 * since the tests would not run as configured. */
unsigned cmdline_not_applied(void);

/* Print every known parameter with its help. */
void cmdline_print_known(void);

#endif
