/*
 * tests/host/test_hist.c — lab/hist.c (the histogram behind make compare's
 * stall distributions and latency percentiles) on the host: every value
 * lands in a bucket that holds it and is at most 1/8 of it wide, and each
 * percentile read from the buckets is the exact one (from a sorted copy)
 * or at most 12.5% above it, never above the maximum. cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lab/hist.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)             /* xorshift64 */
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Values spread over every power of two up to 2^50 (past the top bucket). */
static uint64_t spread(void)
{
	unsigned bits = (unsigned)(next() % 51);
	return bits ? next() >> (64 - bits) : 0;
}

static void each_value_in_its_bucket(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 200000; i++) {
		uint64_t v = i < 4096 ? i : spread();
		unsigned b = hist_bucket(v);
		assert_true(b < HIST_BUCKETS);
		uint64_t top = hist_bucket_top(b), low = b ? hist_bucket_top(b - 1) + 1 : 0;
		assert_true(low <= v);
		if (b < HIST_BUCKETS - 1) {
			assert_true(v <= top);
			assert_true(top - low <= v / 8);       /* at most 1/8 of its values wide */
		} else {
			assert_true(v >= (1ull << HIST_TOP_BITS) - (1ull << (HIST_TOP_BITS - 4)));
		}
	}
	for (unsigned b = 1; b < HIST_BUCKETS - 1; b++)        /* contiguous, increasing */
		assert_true(hist_bucket_top(b) > hist_bucket_top(b - 1));
}

static int by_value(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void percentiles_within_an_eighth(void **state)
{
	(void)state;
	static const unsigned sizes[] = { 1, 2, 7, 16, 100, 1000, 5000 };
	static const unsigned permille[] = { 1, 500, 900, 990, 999, 1000 };
	static uint64_t v[5000];
	static struct hist h;
	for (unsigned z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		unsigned n = sizes[z];
		hist_clear(&h);
		for (unsigned i = 0; i < n; i++) {
			v[i] = next() >> (20 + next() % 30);         /* up to 2^44 */
			hist_add(&h, v[i]);
		}
		qsort(v, n, sizeof(v[0]), by_value);
		assert_int_equal(h.n, n);
		assert_int_equal(h.max, v[n - 1]);
		for (unsigned p = 0; p < sizeof(permille) / sizeof(permille[0]); p++) {
			uint64_t rank = ((uint64_t)n * permille[p] + 999) / 1000;
			uint64_t exact = v[(rank ? rank : 1) - 1], got = hist_percentile(&h, permille[p]);
			assert_true(got >= exact);
			assert_true(got - exact <= exact / 8);
			assert_true(got <= h.max);
		}
		assert_int_equal(hist_percentile(&h, 1000), v[n - 1]);
	}
}

static void merge_and_empty(void **state)
{
	(void)state;
	static struct hist a, b;
	hist_clear(&a);
	hist_clear(&b);
	assert_int_equal(hist_percentile(&a, 500), 0);
	hist_add(&a, 10);
	hist_add(&a, 1000);
	hist_add(&b, 5);
	hist_add(&b, 20000);
	hist_merge(&a, &b);
	assert_int_equal(a.n, 4);
	assert_int_equal(a.max, 20000);
	assert_int_equal(hist_percentile(&a, 250), 5);
	assert_int_equal(hist_percentile(&a, 500), 10);
	assert_true(hist_percentile(&a, 750) >= 1000 && hist_percentile(&a, 750) <= 1000 + 1000 / 8);
	assert_int_equal(hist_percentile(&a, 1000), 20000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_value_in_its_bucket),
		cmocka_unit_test(percentiles_within_an_eighth),
		cmocka_unit_test(merge_and_empty),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	int total = (int)(sizeof(tests) / sizeof(tests[0]));
	printf("RESULT passed=%d failed=%d\n", total - failed, failed);
	return failed ? 1 : 0;
}
