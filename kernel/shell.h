/*
 * kernel/shell.h — the interactive serial console.
 *
 * A command is one SHELL_CMD() entry (section .shell_cmds), defined next to
 * the subsystem it drives. Its function gets argc/argv (argv[0] is the
 * command) and returns 0 or a negative error code; the shell then prints
 * "NAME: failed: ECODE", unless the code is -EREPORTED (kernel/errno.h): the
 * command failed and has already printed why.
 *
 * Thread context on the BSP only (the shell's own thread): a command that
 * needs more input reads it with shell_read_line().
 */
#ifndef XPOKE_KERNEL_SHELL_H
#define XPOKE_KERNEL_SHELL_H

#include <stddef.h>

#define SHELL_LINE_MAX 256      /* bytes in a line, its terminating NUL included */
#define SHELL_ARGS_MAX 16       /* words split from a line */

struct shell_cmd {
	const char *name;
	const char *args;
	const char *help;
	int (*fn)(int argc, char **argv);
};

#define SHELL_CMD(_name, _args, _help, _fn) \
	static const struct shell_cmd __shell_cmd_##_fn \
	__attribute__((used, section(".shell_cmds"), aligned(8))) = { (_name), (_args), (_help), (_fn) }

__attribute__((noreturn)) void shell_run(void);

/* The command named name, or NULL (the tests run commands through it). */
const struct shell_cmd *shell_find(const char *name);

/* Print prompt (if not NULL), then read one line from COM1 into buf (at most
 * size - 1 characters, echoed; backspace and ^U edit it). CR, LF and CR LF
 * each end a line. Returns its length; 0 for an empty line. */
size_t shell_read_line(const char *prompt, char *buf, size_t size);

/* Split line in place into words separated by spaces; a word in single or
 * double quotes keeps its spaces. Returns the number of words (at most max). */
int shell_split(char *line, char **argv, int max);

#endif
