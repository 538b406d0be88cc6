/*
 * kernel/cmdline.h — kernel parameters: "key=value" or bare "key" words.
 *
 * Each parameter is one KPARAM*() entry in section .kparams, next to the
 * code it configures: KPARAM_UINT, _BOOL, _ENUM and _STR name the variable
 * and what it may hold, and one parser here checks every value and names
 * the parameter, the value and what was allowed; KPARAM takes a setter of
 * its own for anything else. Unknown keys are warned about and listed; a
 * bad value is reported and not applied. Either one fails a ktest= run at
 * its end.
 */
#ifndef XPOKE_KERNEL_CMDLINE_H
#define XPOKE_KERNEL_CMDLINE_H

#include <stdint.h>

/* What a parameter's value is; all but KP_FN are parsed, range-checked and
 * reported here (kernel/cmdline.c), once for every parameter. */
enum kparam_kind {
	KP_FN,          /* a setter of its own (.set) */
	KP_UINT,        /* a number (decimal or 0x hex) in [min, max], a multiple of .multiple */
	KP_BOOL,        /* 0 or 1 */
	KP_ENUM,        /* one of .choices; stores its index */
	KP_STR,         /* any non-empty word; stores a pointer to it */
};

struct kparam {
	const char *name;
	/* "SYNTAX: what it does": `cmdline` lists it, and errors quote SYNTAX */
	const char *help;
	/* KP_FN: value is NULL for a bare key; return 0, or -EINVAL after printing why */
	int (*set)(const char *value);
	uint8_t kind;                   /* enum kparam_kind */
	uint8_t size;                   /* sizeof the variable: 1, 2, 4 or 8 */
	void *var;                      /* where a typed value goes */
	uint64_t min, max, multiple;    /* KP_UINT (multiple: 0 or 1 for any) */
	const char *const *choices;     /* KP_ENUM */
	uint32_t nchoices;
	const char *note;               /* KP_BOOL: printed when set to 1 (or NULL) */
};

#define KPARAM__ID2(n) __kparam_##n
#define KPARAM__ID(n) KPARAM__ID2(n)
#define KPARAM__DEFINE(...) \
	static const struct kparam KPARAM__ID(__COUNTER__) \
	__attribute__((used, section(".kparams"), aligned(8))) = { __VA_ARGS__ }
/* The largest value a variable of this size holds, signed or not. */
#define KPARAM__FITS(var, max) \
	_Static_assert(sizeof(var) == 8 || (unsigned long long)(max) < (1ull << (8 * sizeof(var) - 1)), \
		       "the maximum does not fit the variable")

/* A parameter with its own setter. */
#define KPARAM(_name, _set, _help) \
	KPARAM__DEFINE(.name = (_name), .help = (_help), .set = (_set), .kind = KP_FN)

/* var = a number from min to max (an integer variable of any size). */
#define KPARAM_UINT(_name, _var, _min, _max, _help) KPARAM_UINT_MULTIPLE(_name, _var, _min, _max, 1, _help)

/* The same, and a multiple of m (2: an even count). */
#define KPARAM_UINT_MULTIPLE(_name, _var, _min, _max, _m, _help) \
	KPARAM__FITS(_var, _max); \
	KPARAM__DEFINE(.name = (_name), .help = (_help), .kind = KP_UINT, .size = sizeof(_var), .var = &(_var), \
		       .min = (_min), .max = (_max), .multiple = (_m))

/* var = 0 or 1 (bool or int); note, if not NULL, is printed when it is set to 1. */
#define KPARAM_BOOL(_name, _var, _help) KPARAM_BOOL_NOTE(_name, _var, NULL, _help)
#define KPARAM_BOOL_NOTE(_name, _var, _note, _help) \
	KPARAM__DEFINE(.name = (_name), .help = (_help), .kind = KP_BOOL, .size = sizeof(_var), .var = &(_var), \
		       .note = (_note))

/* var = the index of the value among the choices:
 * KPARAM_ENUM("patch.tcg_rewrite", mode, "auto|on|off: ...", "auto", "on", "off"). */
#define KPARAM_ENUM(_name, _var, _help, ...) \
	KPARAM__FITS(_var, sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *)); \
	KPARAM__DEFINE(.name = (_name), .help = (_help), .kind = KP_ENUM, .size = sizeof(_var), .var = &(_var), \
		       .choices = (const char *const[]){ __VA_ARGS__ }, \
		       .nchoices = sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

/* var (const char *) = the value, which must not be empty; it lives as
 * long as the kernel. */
#define KPARAM_STR(_name, _var, _help) \
	_Static_assert(sizeof(_var) == sizeof(const char *), "a KPARAM_STR variable is a const char *"); \
	KPARAM__DEFINE(.name = (_name), .help = (_help), .kind = KP_STR, .size = sizeof(_var), .var = &(_var))

/* Parse and apply; returns the number of unknown or rejected words. */
int cmdline_parse(const char *cmdline);

/* That number, for later: a ktest= run with such words fails (kernel/ktest.c),
 * since the tests would not run as configured. */
unsigned cmdline_not_applied(void);

/* Print every known parameter with its help. */
void cmdline_print_known(void);

#endif
