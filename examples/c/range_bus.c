/*
 * range_bus.c - the I/O bus of the 2011 patch "KVM: Intelligent device lookup
 * on I/O bus", written against iobus_bus.h.
 *
 * An example for `iobus-verify ... --bus c:examples/c/range_bus.c`, written
 * from the patch's description (not copied): devices are registered as ranges
 * (u64 addr, int len) kept in an array sorted by the patch's comparator; an
 * access is looked up by binary search, walks back to the first equal entry,
 * then offers itself to each equal entry in turn until a device returns 0.
 *
 * Every detail that decides the result under the comparator's inconsistency is
 * kept: the comparator has no zero-length rule and adds the int length to the
 * u64 address after converting it to u64 (so a negative length wraps); register
 * appends and then heap-sorts the whole array with the 2005 kernel sort (tie
 * stops the sift; the larger child wins only when strictly larger); the 2011
 * bsearch (start/end/mid, key first); unregister moves the last entry into the
 * hole and sorts again. It must behave exactly as the Python model `seed-2011`
 * (iobus_verify.model.sorted_bus), which the suite's tests check.
 */
#include "iobus_bus.h"

#include <string.h>

struct range {
	uint64_t addr;
	int len;
	iobus_dev_t dev;
};

struct ranges {
	int dev_count;
	struct range range[]; /* capacity entries */
};

struct iobus_bus {
	const struct iobus_host *host;
	int capacity;
	struct ranges *cur; /* the published array */
	uint64_t comparisons, callbacks;
};

const char iobus_era[] = "2011";
const char iobus_summary[] = "C example: the 2011 range bus (sort_cmp, append+2005 heapsort, 2011 bsearch)";

/*
 * -1 when r1 starts below r2, else 1 when r1 ends above r2, else 0. The end is
 * addr + len with the int converted to u64 first (wrapping), as C's usual
 * arithmetic conversions do; the cast below makes that explicit.
 */
static int range_cmp(struct iobus_bus *bus, const struct range *r1, const struct range *r2)
{
	bus->comparisons++;
	if (r1->addr < r2->addr)
		return -1;
	if (r1->addr + (uint64_t)(int64_t)r1->len > r2->addr + (uint64_t)(int64_t)r2->len)
		return 1;
	return 0;
}

static void swap_range(struct range *a, struct range *b)
{
	struct range t = *a;

	*a = *b;
	*b = t;
}

/* Sift a[r] down inside the heap a[0..n). */
static void sift_down(struct iobus_bus *bus, struct range *a, int r, int n)
{
	while (2 * r + 1 < n) {
		int child = 2 * r + 1;

		/* The right child is taken only when the left one is strictly smaller. */
		if (child + 1 < n && range_cmp(bus, &a[child], &a[child + 1]) < 0)
			child++;
		/* A tie stops the descent. */
		if (range_cmp(bus, &a[r], &a[child]) >= 0)
			return;
		swap_range(&a[r], &a[child]);
		r = child;
	}
}

/* The kernel's heapsort of 2005-2019: build the heap, then pop the root n-1 times. */
static void heap_sort(struct iobus_bus *bus, struct range *a, int n)
{
	int i;

	for (i = n / 2 - 1; i >= 0; i--)
		sift_down(bus, a, i, n);
	for (i = n - 1; i > 0; i--) {
		swap_range(&a[0], &a[i]);
		sift_down(bus, a, 0, i);
	}
}

/* The 2011 bsearch: some index whose entry compares equal to the key, or -1. */
static int binary_search(struct iobus_bus *bus, const struct range *key, const struct range *a, int n)
{
	size_t start = 0, end = (size_t)n;

	while (start < end) {
		size_t mid = start + (end - start) / 2;
		int r = range_cmp(bus, key, &a[mid]);

		if (r < 0)
			end = mid;
		else if (r > 0)
			start = mid + 1;
		else
			return (int)mid;
	}
	return -1;
}

/* First index of the entries equal to (addr, len): bsearch, then walk back. */
static int first_dev(struct iobus_bus *bus, const struct ranges *rs, const struct range *key)
{
	int off = binary_search(bus, key, rs->range, rs->dev_count);

	if (off < 0)
		return -1;
	while (off > 0 && range_cmp(bus, key, &rs->range[off - 1]) == 0)
		off--;
	return off;
}

static size_t ranges_size(int capacity)
{
	return sizeof(struct ranges) + (size_t)capacity * sizeof(struct range);
}

static struct ranges *copy_ranges(struct iobus_bus *bus, const char *site)
{
	struct ranges *copy = iobus_zalloc(bus->host, site, ranges_size(bus->capacity));

	if (copy)
		memcpy(copy, bus->cur, ranges_size(bus->capacity));
	return copy;
}

/* rcu_assign_pointer + synchronize_srcu + kfree(old): plain here, one thread. */
static void publish(struct iobus_bus *bus, struct ranges *copy)
{
	struct ranges *old = bus->cur;

	bus->cur = copy;
	iobus_free(old);
}

struct iobus_bus *iobus_create(int capacity, const struct iobus_host *host)
{
	struct iobus_bus *bus = calloc(1, sizeof(*bus));

	if (!bus || capacity < 0)
		return NULL;
	bus->host = host;
	bus->capacity = capacity;
	bus->cur = calloc(1, ranges_size(capacity));
	if (!bus->cur) {
		free(bus);
		return NULL;
	}
	return bus;
}

void iobus_destroy(struct iobus_bus *bus)
{
	free(bus->cur);
	free(bus);
}

int iobus_register(struct iobus_bus *bus, uint64_t addr, int len, iobus_dev_t dev)
{
	struct ranges *copy;

	if (bus->cur->dev_count > bus->capacity - 1)
		return -IOBUS_ENOSPC;
	copy = copy_ranges(bus, "register:kzalloc");
	if (!copy)
		return -IOBUS_ENOMEM;
	/* Append, then sort the whole array. */
	copy->range[copy->dev_count].addr = addr;
	copy->range[copy->dev_count].len = len;
	copy->range[copy->dev_count].dev = dev;
	copy->dev_count++;
	heap_sort(bus, copy->range, copy->dev_count);
	publish(bus, copy);
	return 0;
}

int iobus_unregister(struct iobus_bus *bus, iobus_dev_t dev)
{
	struct ranges *copy = copy_ranges(bus, "unregister:kzalloc"); /* before the search */
	int i;

	if (!copy)
		return -IOBUS_ENOMEM;
	for (i = 0; i < copy->dev_count; i++) {
		if (copy->range[i].dev == dev) {
			copy->dev_count--;
			copy->range[i] = copy->range[copy->dev_count];
			heap_sort(bus, copy->range, copy->dev_count);
			publish(bus, copy);
			return 0;
		}
	}
	iobus_free(copy);
	return -IOBUS_ENOENT;
}

int iobus_write(struct iobus_bus *bus, uint64_t addr, int len, const void *val)
{
	const struct ranges *rs = bus->cur; /* srcu_dereference */
	struct range key = { .addr = addr, .len = len };
	int idx = first_dev(bus, rs, &key);

	if (idx < 0)
		return -IOBUS_EOPNOTSUPP;
	while (idx < rs->dev_count && range_cmp(bus, &key, &rs->range[idx]) == 0) {
		bus->callbacks++;
		if (!iobus_dev_write(bus->host, rs->range[idx].dev, addr, len, val))
			return 0;
		idx++;
	}
	return -IOBUS_EOPNOTSUPP;
}

int iobus_read(struct iobus_bus *bus, uint64_t addr, int len, void *val)
{
	const struct ranges *rs = bus->cur;
	struct range key = { .addr = addr, .len = len };
	int idx = first_dev(bus, rs, &key);

	if (idx < 0)
		return -IOBUS_EOPNOTSUPP;
	while (idx < rs->dev_count && range_cmp(bus, &key, &rs->range[idx]) == 0) {
		bus->callbacks++;
		if (!iobus_dev_read(bus->host, rs->range[idx].dev, addr, len, val))
			return 0;
		idx++;
	}
	return -IOBUS_EOPNOTSUPP;
}

int iobus_ranges(struct iobus_bus *bus, struct iobus_range *out, int max)
{
	int i;

	for (i = 0; i < bus->cur->dev_count && i < max; i++) {
		out[i].addr = bus->cur->range[i].addr;
		out[i].len = bus->cur->range[i].len;
		out[i].dev = bus->cur->range[i].dev;
	}
	return bus->cur->dev_count;
}

void iobus_stats(struct iobus_bus *bus, struct iobus_stats *out)
{
	out->comparisons = bus->comparisons;
	out->callbacks = bus->callbacks;
	bus->comparisons = bus->callbacks = 0;
}
