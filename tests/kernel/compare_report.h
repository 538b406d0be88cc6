/*
 * tests/kernel/compare_report.h — the "# compare: ..." lines of make
 * compare's workloads (compare_strategies.c, compare_storm.c), which
 * scripts/compare.py reads. One line each, "# compare: KIND key=value ...";
 * a key whose value may hold spaces (why=, name=) comes last and takes the
 * rest of the line. Figures in ns are TSC cycles converted.
 *
 *   info     cpus= bystanders= tsc_khz= runs= seconds=       once per boot
 *   idle     strategy= smp= sites= ... (compare_strategies.c)
 *   defer    strategy= smp= sites= ...  (ditto: the idle machine)
 *   storm    strategy= smp= ...         (compare_storm.c)
 *   knobs    strategy= smp= set= why=   lab knobs a storm ran with
 *   hazard   strategy= smp= count= name=
 *   stall    workload= strategy= smp= sites= cpu=N|all n= p50_ns= p99_ns= max_ns=
 *   cdf      workload= strategy= smp= sites= part= buckets=TOP_NS:COUNT,...
 *
 * Thread context.
 */
#ifndef XPOKE_TESTS_KERNEL_COMPARE_REPORT_H
#define XPOKE_TESTS_KERNEL_COMPARE_REPORT_H

#include <stdint.h>
#include "lab/hist.h"

/* The bystanders' stall distributions (lab/stall.h, every online CPU but
 * this one): a "stall" line per CPU and one for all of them together, then
 * the "cdf" lines of all together. tags: "workload=W strategy=S smp=N
 * sites=K". The merged histogram goes to *all. */
void compare_print_stall(const char *tags, struct hist *all);

/* "p50_ns=.. p99_ns=.. max_ns=.." of h into buf, prefixed (stall_, lat_). */
void compare_percentiles(char *buf, unsigned size, const char *prefix, const struct hist *h);

#endif
