/*
 * linear_bus.c - the pre-patch KVM I/O bus, written against iobus_bus.h.
 *
 * An example for `iobus-verify ... --bus c:examples/c/linear_bus.c`, written
 * from the 2011 patch's description of the code it replaced (not copied): an
 * array of devices in registration order; every access offers itself to each
 * device in array order until one returns 0. The bus ignores the address and
 * length given at registration (the pre-patch register had neither); it keeps
 * them only so that ranges() can report them.
 *
 * Like the kernel, every change builds a new copy of the array (the RCU
 * pattern: allocate, copy, edit, publish, free the old one), and that copy is
 * the allocation the suite's hook can refuse.
 */
#include "iobus_bus.h"

#include <string.h>

struct entry {
	uint64_t addr;
	int len;
	iobus_dev_t dev;
};

struct devs {
	int dev_count;
	struct entry e[]; /* capacity entries */
};

struct iobus_bus {
	const struct iobus_host *host;
	int capacity;
	struct devs *devs; /* the published array (kvm->buses[idx] in the kernel) */
	uint64_t callbacks;
};

const char iobus_era[] = "2011";
const char iobus_summary[] = "C example: the pre-patch linear scan in registration order";

static size_t devs_size(int capacity)
{
	return sizeof(struct devs) + (size_t)capacity * sizeof(struct entry);
}

/* kzalloc a copy of the published array; NULL when the hook refuses. */
static struct devs *copy_devs(struct iobus_bus *bus, const char *site)
{
	struct devs *copy = iobus_zalloc(bus->host, site, devs_size(bus->capacity));

	if (copy)
		memcpy(copy, bus->devs, devs_size(bus->capacity));
	return copy;
}

/* rcu_assign_pointer + synchronize_srcu + kfree(old): plain here, one thread. */
static void publish(struct iobus_bus *bus, struct devs *copy)
{
	struct devs *old = bus->devs;

	bus->devs = copy;
	iobus_free(old);
}

struct iobus_bus *iobus_create(int capacity, const struct iobus_host *host)
{
	struct iobus_bus *bus = calloc(1, sizeof(*bus));

	if (!bus || capacity < 0)
		return NULL;
	bus->host = host;
	bus->capacity = capacity;
	bus->devs = calloc(1, devs_size(capacity));
	if (!bus->devs) {
		free(bus);
		return NULL;
	}
	return bus;
}

void iobus_destroy(struct iobus_bus *bus)
{
	free(bus->devs);
	free(bus);
}

int iobus_register(struct iobus_bus *bus, uint64_t addr, int len, iobus_dev_t dev)
{
	struct devs *copy;

	/* Full when dev_count > NR_IOBUS_DEVS - 1, checked before allocating. */
	if (bus->devs->dev_count > bus->capacity - 1)
		return -IOBUS_ENOSPC;
	copy = copy_devs(bus, "register:kzalloc");
	if (!copy)
		return -IOBUS_ENOMEM;
	copy->e[copy->dev_count].addr = addr;
	copy->e[copy->dev_count].len = len;
	copy->e[copy->dev_count].dev = dev;
	copy->dev_count++;
	publish(bus, copy);
	return 0;
}

int iobus_unregister(struct iobus_bus *bus, iobus_dev_t dev)
{
	/* The copy is made before the search: -ENOMEM wins over -ENOENT. */
	struct devs *copy = copy_devs(bus, "unregister:kzalloc");
	int i;

	if (!copy)
		return -IOBUS_ENOMEM;
	for (i = 0; i < copy->dev_count; i++) {
		if (copy->e[i].dev == dev) {
			/* The last entry fills the hole: order is not kept. */
			copy->e[i] = copy->e[--copy->dev_count];
			publish(bus, copy);
			return 0;
		}
	}
	iobus_free(copy);
	return -IOBUS_ENOENT;
}

int iobus_write(struct iobus_bus *bus, uint64_t addr, int len, const void *val)
{
	const struct devs *devs = bus->devs; /* srcu_dereference */
	int i;

	for (i = 0; i < devs->dev_count; i++) {
		bus->callbacks++;
		if (!iobus_dev_write(bus->host, devs->e[i].dev, addr, len, val))
			return 0;
	}
	return -IOBUS_EOPNOTSUPP;
}

int iobus_read(struct iobus_bus *bus, uint64_t addr, int len, void *val)
{
	const struct devs *devs = bus->devs;
	int i;

	for (i = 0; i < devs->dev_count; i++) {
		bus->callbacks++;
		if (!iobus_dev_read(bus->host, devs->e[i].dev, addr, len, val))
			return 0;
	}
	return -IOBUS_EOPNOTSUPP;
}

int iobus_ranges(struct iobus_bus *bus, struct iobus_range *out, int max)
{
	int i;

	for (i = 0; i < bus->devs->dev_count && i < max; i++) {
		out[i].addr = bus->devs->e[i].addr;
		out[i].len = bus->devs->e[i].len;
		out[i].dev = bus->devs->e[i].dev;
	}
	return bus->devs->dev_count;
}

void iobus_stats(struct iobus_bus *bus, struct iobus_stats *out)
{
	out->comparisons = 0; /* a linear scan compares nothing */
	out->callbacks = bus->callbacks;
	bus->callbacks = 0;
}
