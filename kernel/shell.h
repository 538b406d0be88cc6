/*
 * kernel/shell.h — the interactive serial console.
 *
 * A command is one SHELL_CMD() entry (section .shell_cmds), defined next to
 * the subsystem it drives. Its function gets argc/argv (argv[0] is the
 * command) and returns 0 or a negative error code.
 */
#ifndef XPOKE_KERNEL_SHELL_H
#define XPOKE_KERNEL_SHELL_H

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

#endif
