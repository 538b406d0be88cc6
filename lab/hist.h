/*
 * lab/hist.h — a histogram of figures (TSC cycles) in bounded memory, for
 * percentiles and CDFs: the bystander stalls (lab/stall.h) and the storm's
 * flip latencies (lab/storm.h).
 *
 * Log-linear buckets, as HDR histograms do: values below 16 have a bucket
 * each; above, every power of two [2^e, 2^(e+1)) is cut into 8 equal
 * buckets, so a bucket is at most 1/8 of its values wide and a percentile
 * read from it (its upper bound) is at most 12.5% above the true one.
 * Values of 2^HIST_TOP_BITS cycles and more (an hour and more at 4 GHz)
 * share the last bucket. The exact maximum is kept besides.
 *
 *   bucket   0 .. 15          value 0 .. 15, exactly
 *   bucket  16 + 8(e-4) + s   [2^e + s 2^(e-3), 2^e + (s+1) 2^(e-3)),  s = 0..7, e = 4..HIST_TOP_BITS-1
 *
 * Thread context; one writer per histogram (no atomics): a reader waits
 * until the writer is done with it.
 */
#ifndef XPOKE_LAB_HIST_H
#define XPOKE_LAB_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS   3
#define HIST_TOP_BITS   44
#define HIST_BUCKETS    (16 + (HIST_TOP_BITS - 4) * (1 << HIST_SUB_BITS))

struct hist {
	uint64_t n;                     /* values added */
	uint64_t max;                   /* the largest, exactly */
	uint32_t count[HIST_BUCKETS];
};

void hist_clear(struct hist *h);
void hist_add(struct hist *h, uint64_t v);
void hist_merge(struct hist *into, const struct hist *h);

/* The bucket a value falls in, and the largest value bucket i holds. */
unsigned hist_bucket(uint64_t v);
uint64_t hist_bucket_top(unsigned i);

/* The permille-th percentile (500: the median, 990: p99, 1000: the
 * maximum): the upper bound of the bucket that holds it, never above the
 * exact maximum; 0 for an empty histogram. */
uint64_t hist_percentile(const struct hist *h, unsigned permille);

#endif
