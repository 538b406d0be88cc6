/*
 * lab/hist.c — see hist.h.
 */
#include "kernel/string.h"
#include "lab/hist.h"

#define SUB (1u << HIST_SUB_BITS)

void hist_clear(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

unsigned hist_bucket(uint64_t v)
{
	if (v < 2 * SUB)
		return (unsigned)v;
	unsigned e = 63 - (unsigned)__builtin_clzll(v);         /* 2^e <= v < 2^(e+1), e >= 4 */
	if (e >= HIST_TOP_BITS)
		return HIST_BUCKETS - 1;
	unsigned s = (unsigned)(v >> (e - HIST_SUB_BITS)) & (SUB - 1);
	return 2 * SUB + (e - HIST_SUB_BITS - 1) * SUB + s;
}

uint64_t hist_bucket_top(unsigned i)
{
	if (i < 2 * SUB)
		return i;
	if (i >= HIST_BUCKETS - 1)
		return UINT64_MAX;
	unsigned e = (i - 2 * SUB) / SUB + HIST_SUB_BITS + 1, s = (i - 2 * SUB) % SUB;
	uint64_t width = 1ull << (e - HIST_SUB_BITS);
	return (1ull << e) + (s + 1) * width - 1;
}

void hist_add(struct hist *h, uint64_t v)
{
	h->count[hist_bucket(v)]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

void hist_merge(struct hist *into, const struct hist *h)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->count[i] += h->count[i];
	into->n += h->n;
	if (h->max > into->max)
		into->max = h->max;
}

uint64_t hist_percentile(const struct hist *h, unsigned permille)
{
	if (!h->n)
		return 0;
	/* The rank of the value: ceil(n * permille / 1000), at least 1. */
	uint64_t rank = (h->n * permille + 999) / 1000, seen = 0;
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank) {
			uint64_t top = hist_bucket_top(i);
			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}
