/*
 * tests/kernel/compare_report.c — see compare_report.h.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "kernel/format.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "lab/stall.h"
#include "tests/kernel/compare_report.h"

#define CDF_PER_LINE 12         /* buckets per cdf line */

void compare_percentiles(char *buf, unsigned size, const char *prefix, const struct hist *h)
{
	snprintf(buf, size, "%sn=%lu %sp50_ns=%lu %sp99_ns=%lu %smax_ns=%lu", prefix, h->n, prefix,
		 tsc_to_ns(hist_percentile(h, 500)), prefix, tsc_to_ns(hist_percentile(h, 990)), prefix,
		 tsc_to_ns(h->max));
}

void compare_print_stall(const char *tags, struct hist *all)
{
	char p[128];
	unsigned me = cpu_id();
	hist_clear(all);
	for_each_cpu_in(c, &cpu_online_mask) {
		if (c == me)
			continue;
		const struct hist *h = stall_of(c);
		hist_merge(all, h);
		compare_percentiles(p, sizeof(p), "", h);
		printk("# compare: stall %s cpu=%u %s", tags, c, p);
	}
	compare_percentiles(p, sizeof(p), "", all);
	printk("# compare: stall %s cpu=all %s", tags, p);

	/* The CDF: every non-empty bucket, its top (at most the maximum). */
	char line[CDF_PER_LINE * 32];
	unsigned len = 0, in_line = 0, part = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		if (!all->count[i])
			continue;
		uint64_t top = hist_bucket_top(i);
		len += (unsigned)snprintf(line + len, sizeof(line) - len, "%s%lu:%u", in_line ? "," : "",
					  tsc_to_ns(top < all->max ? top : all->max), all->count[i]);
		if (++in_line == CDF_PER_LINE) {
			printk("# compare: cdf %s part=%u buckets=%s", tags, part++, line);
			len = in_line = 0;
		}
	}
	if (in_line)
		printk("# compare: cdf %s part=%u buckets=%s", tags, part, line);
}
