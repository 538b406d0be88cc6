/*
 * tests/kernel/host_control.c — see host_control.h.
 */
#include "arch/x86/serial.h"
#include "kernel/format.h"
#include "kernel/string.h"
#include "tests/kernel/host_control.h"

static char ctl_line[128];
static unsigned ctl_len;
static bool ctl_done;

bool host_ctl_start(void)
{
	if (!serial_control_present())
		return false;
	serial_control_init();
	while (serial_control_getc() >= 0)
		;
	ctl_len = 0;
	ctl_line[0] = 0;
	ctl_done = false;
	return true;
}

bool host_ctl_done(void)
{
	int c;
	while (!ctl_done && (c = serial_control_getc()) >= 0) {
		if (c == '\n' || c == '\r') {
			ctl_line[ctl_len] = 0;
			ctl_done = !strncmp(ctl_line, "done ", 5);
			ctl_len = 0;
		} else if (ctl_len < sizeof(ctl_line) - 1) {
			ctl_line[ctl_len++] = (char)c;
		}
	}
	return ctl_done;
}

const char *host_ctl_line(void)
{
	return ctl_done ? ctl_line : "";
}

uint64_t host_ctl_field(const char *key)
{
	const char *p = host_ctl_line();
	size_t k = strlen(key);
	while ((p = strchr(p, ' ')) != NULL) {
		p++;
		if (!strncmp(p, key, k) && p[k] == '=') {
			char num[24];
			unsigned i = 0;
			for (p += k + 1; *p && *p != ' ' && i < sizeof(num) - 1; p++)
				num[i++] = *p;
			num[i] = 0;
			uint64_t v;
			return parse_u64(num, &v) ? v : ~0ull;
		}
	}
	return ~0ull;
}
