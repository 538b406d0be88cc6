/*
 * kernel/shell.c — line editing and command dispatch on COM1.
 *
 * Runs on the BSP in thread context; waits for input in "sti; hlt" (the
 * COM1 receive interrupt wakes it), so an idle console costs no host CPU.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/serial.h"
#include "arch/x86/tsc.h"
#include "kernel/errno.h"
#include "kernel/printk.h"
#include "kernel/shell.h"
#include "kernel/string.h"

#define PROMPT "xpoke> "

extern const struct shell_cmd __shell_cmds_start[], __shell_cmds_end[];   /* linker.ld */

static int getc_blocking(void)
{
	for (;;) {
		irq_disable();
		int c = serial_getc();
		if (c >= 0) {
			irq_enable();
			return c;
		}
		irq_enable_and_halt();
	}
}

/* A terminal ends a line with CR, a script often with LF or CR LF: each of
 * these is one line end (the LF of a CR LF is skipped). */
static bool last_was_cr;

size_t shell_read_line(const char *prompt, char *buf, size_t size)
{
	size_t n = 0;
	if (prompt)
		console_write(prompt, strlen(prompt));
	for (;;) {
		int c = getc_blocking();
		bool cr_lf = c == '\n' && last_was_cr;
		last_was_cr = c == '\r';
		if (cr_lf)
			continue;
		if (c == '\r' || c == '\n') {
			console_write("\n", 1);
			buf[n] = 0;
			return n;
		}
		if ((c == 0x7f || c == 0x08) && n) {    /* backspace */
			n--;
			console_write("\b \b", 3);
		} else if (c == 0x15) {                 /* ^U: kill line */
			while (n) {
				n--;
				console_write("\b \b", 3);
			}
		} else if (c >= ' ' && c < 0x7f && n + 1 < size) {
			buf[n++] = (char)c;
			char ch = (char)c;
			console_write(&ch, 1);
		}
	}
}

int shell_split(char *line, char **argv, int max)
{
	int argc = 0;
	for (char *p = line; *p && argc < max;) {
		while (*p == ' ')
			*p++ = 0;
		if (!*p)
			break;
		char quote = (*p == '\'' || *p == '"') ? *p++ : 0;
		argv[argc++] = p;
		while (*p && (quote ? *p != quote : *p != ' '))
			p++;
		if (*p)
			*p++ = 0;
	}
	return argc;
}

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	for (const struct shell_cmd *c = __shell_cmds_start; c < __shell_cmds_end; c++) {
		char left[40];
		strlcpy(left, c->name, sizeof(left));
		if (*c->args) {
			size_t n = strlen(left);
			if (n + 1 < sizeof(left)) {
				left[n] = ' ';
				strlcpy(left + n + 1, c->args, sizeof(left) - n - 1);
			}
		}
		printk("  %-24s %s", left, c->help);
	}
	return 0;
}
SHELL_CMD("help", "", "list commands", cmd_help);

const struct shell_cmd *shell_find(const char *name)
{
	for (const struct shell_cmd *c = __shell_cmds_start; c < __shell_cmds_end; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

void shell_run(void)
{
	char line[SHELL_LINE_MAX], *argv[SHELL_ARGS_MAX];
	printk("xpoke console: type 'help' for commands (prompt after %llu ms since kernel entry)",
	       (unsigned long long)tsc_to_ms(rdtsc() - tsc_at_boot));
	for (;;) {
		shell_read_line(PROMPT, line, sizeof(line));
		int argc = shell_split(line, argv, SHELL_ARGS_MAX);
		if (!argc)
			continue;
		const struct shell_cmd *c = shell_find(argv[0]);
		if (!c) {
			printk("%s: unknown command (try 'help')", argv[0]);
			continue;
		}
		int err = c->fn(argc, argv);
		if (err && err != -EREPORTED)
			printk("%s: failed: %s (%d)", argv[0], errno_name(err), err);
	}
}
