/*
 * Fixture for iobus-verify's tests (not Linux code): binary search with the
 * probes of the 2011 kernel bsearch() (start/end/mid, key first).
 */
void *bsearch(const void *key, const void *base, size_t num, size_t size,
	      int (*cmp)(const void *key, const void *elt))
{
	size_t lo = 0, hi = num;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *elt = (const char *)base + mid * size;
		int r = cmp(key, elt);

		if (r == 0)
			return (void *)elt;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}
EXPORT_SYMBOL(bsearch);
