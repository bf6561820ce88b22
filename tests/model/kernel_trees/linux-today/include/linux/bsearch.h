/*
 * Fixture for iobus-verify's tests (not Linux code): today's inline binary
 * search (probes the pivot num/2 of what is left; key first).
 */
#ifndef _LINUX_BSEARCH_H
#define _LINUX_BSEARCH_H

static __always_inline
void *__inline_bsearch(const void *key, const void *base, size_t num, size_t size, cmp_func_t cmp)
{
	const char *lo = base;

	while (num > 0) {
		const char *pivot = lo + (num >> 1) * size;
		int r = cmp(key, pivot);

		if (r == 0)
			return (void *)pivot;
		if (r > 0) {
			lo = pivot + size;
			num--;
		}
		num >>= 1;
	}
	return NULL;
}

extern void *bsearch(const void *key, const void *base, size_t num, size_t size, cmp_func_t cmp);

#endif
