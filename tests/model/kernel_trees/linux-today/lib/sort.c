/*
 * Fixture for iobus-verify's tests (not Linux code). Today's bus no longer
 * sorts; this stands in for lib/sort.c so that the tree is complete.
 */
void sort(void *base, size_t num, size_t size, cmp_func_t cmp, swap_func_t swap_fn)
{
	size_t i, j;
	char *a = base;

	for (i = 1; i < num; i++)
		for (j = i; j > 0 && cmp(a + (j - 1) * size, a + j * size) > 0; j--)
			swap_fn(a + (j - 1) * size, a + j * size, size);
}
EXPORT_SYMBOL(sort);
