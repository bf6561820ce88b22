/*
 * Fixture for iobus-verify's tests (not Linux code): a heapsort with the
 * behaviour the suite models as the 2005 kernel sort() (iobus_verify.model.ksort):
 * ties stop a sift, the right child wins only when strictly larger, the root
 * is swapped out unconditionally. Byte offsets, as the kernel's.
 */
static void u32_swap(void *a, void *b, int size)
{
	u32 t = *(u32 *)a;
	*(u32 *)a = *(u32 *)b;
	*(u32 *)b = t;
}

static void generic_swap(void *a, void *b, int size)
{
	char *x = a, *y = b;
	int k;
	for (k = 0; k < size; k++) {
		char t = x[k];
		x[k] = y[k];
		y[k] = t;
	}
}

static void sift_down_fixture(char *base, int root, int limit, int size,
			      int (*cmp)(const void *, const void *),
			      void (*swap)(void *, void *, int))
{
	int child;
	while (root * 2 + size < limit) {
		child = root * 2 + size;
		if (child < limit - size && cmp(base + child, base + child + size) < 0)
			child += size;
		if (cmp(base + root, base + child) >= 0)
			return;
		swap(base + root, base + child, size);
		root = child;
	}
}

void sort(void *base, size_t num, size_t size,
	  int (*cmp)(const void *, const void *),
	  void (*swap)(void *, void *, int size))
{
	int start = (num / 2 - 1) * size, end = num * size, k;

	if (!swap)
		swap = (size == 4 ? u32_swap : generic_swap);
	for (k = start; k >= 0; k -= size)
		sift_down_fixture(base, k, end, size, cmp, swap);
	for (k = end - size; k > 0; k -= size) {
		swap(base, (char *)base + k, size);
		sift_down_fixture(base, 0, k, size, cmp, swap);
	}
}
EXPORT_SYMBOL(sort);
