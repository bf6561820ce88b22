/*
 * iobus_bus.h - the C ABI of iobus-verify (written for this project; MIT).
 *
 * A C file gated with `iobus-verify ... --bus c:FILE.c[:PREFIX]` implements one
 * bus per PREFIX (default "iobus_") with the functions declared by
 * IOBUS_DECLARE(PREFIX) below. The suite compiles the file into a shared
 * object, runs every bus in a worker process of its own, and calls back into
 * its (Python) devices through the struct iobus_host given to create().
 *
 * Conventions are the kernel's: 0 for success, a NEGATIVE errno for failure
 * (use the IOBUS_E* values: they are the Linux numbers), u64 addresses (gpa_t)
 * and C int lengths (which may be zero or negative: convert them exactly as
 * the code you are modelling does).
 *
 * Required, for PREFIX p:
 *   struct p##bus *p##create(int capacity, const struct iobus_host *host);
 *       A new empty bus for at most `capacity` devices (NR_IOBUS_DEVS). Keep
 *       `host`: it stays valid until destroy(). NULL means "cannot create".
 *   void p##destroy(struct p##bus *bus);
 *   int  p##register(struct p##bus *bus, uint64_t addr, int len, iobus_dev_t dev);
 *       0, -IOBUS_ENOSPC when full, -IOBUS_ENOMEM when an allocation failed.
 *   int  p##unregister(struct p##bus *bus, iobus_dev_t dev);
 *       0, -IOBUS_ENOENT when absent (if your code reports it), -IOBUS_ENOMEM.
 *   int  p##write(struct p##bus *bus, uint64_t addr, int len, const void *val);
 *   int  p##read(struct p##bus *bus, uint64_t addr, int len, void *val);
 *       0 when some device's callback returned 0, else -IOBUS_EOPNOTSUPP.
 *
 * Optional (used when the symbol exists):
 *   int  p##ranges(struct p##bus *bus, struct iobus_range *out, int max);
 *       The bus's array in array order: store min(count, max) entries and
 *       return count (the suite calls again with a larger `out` when
 *       count > max).
 *   void p##stats(struct p##bus *bus, struct iobus_stats *out);
 *       Comparator calls and device callbacks since the previous call
 *       (then reset the counters).
 *   const char p##era[];      "2011" or "today": which kernel's device rules
 *                             the suite pairs the bus with (default "today").
 *   const int  p##capacity;   default capacity (default 300).
 *   const char p##summary[];  one line shown in reports.
 *   const char p##assumes[];  the bus's contract: condition atoms joined by
 *                             '+' (e.g. "positive-len+no-wrap"); findings
 *                             needing inputs outside it are listed, not gated.
 *   const int  p##alloc_hook; 0: the bus never calls iobus_zalloc()/
 *                             iobus_malloc() (it has no -ENOMEM path), so the
 *                             suite drives no allocation failures (default 1).
 *   void p##teardown(struct p##bus *bus);
 *       The VM's teardown of the bus (kvm_destroy_vm -> kvm_io_bus_destroy):
 *       run iobus_dev_destructor() on every device still on it. Without it
 *       the suite's VM runs the destructors of the devices ranges() lists.
 *   const int  p##srcu_events; nonzero: the bus reports its RCU/SRCU steps
 *                             with iobus_srcu_event(host, "publish") when it
 *                             stores a new bus pointer and ("sync") when it
 *                             waits for a grace period, so the suite's
 *                             lifetime ledger can tell a destroy that comes
 *                             before the readers are done (default 0: every
 *                             successful register/unregister counts as
 *                             publish + sync when it returns).
 *
 * Devices are opaque handles: compare them, store them, pass them back to
 * iobus_dev_write()/iobus_dev_read() (and, for code modelled on today's
 * kernel, iobus_dev_destructor()/iobus_dev_is_ioeventfd()); never dereference
 * them.
 *
 * Allocation: call iobus_zalloc()/iobus_malloc() with a site name at each
 * allocation the kernel code makes on register/unregister (the suite's
 * allocation hook may refuse it: that is how -ENOMEM paths are driven). Name
 * sites as the Python models do, e.g. "register:kzalloc". Allocations made by
 * create() itself should use plain malloc(): the models have no such site.
 *
 * State: keep every piece of bus state inside struct p##bus. Each bus runs in
 * a fresh process forked after the shared object was loaded, so static
 * variables start from their initial values for every bus, but nothing is
 * shared between buses.
 */
#ifndef IOBUS_BUS_H
#define IOBUS_BUS_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define IOBUS_ABI_VERSION 1

/* Linux errno numbers (include/uapi/asm-generic/errno-base.h, errno.h). */
#define IOBUS_ENOENT 2
#define IOBUS_ENOMEM 12
#define IOBUS_EEXIST 17
#define IOBUS_EINVAL 22
#define IOBUS_ENOSPC 28
#define IOBUS_EOPNOTSUPP 95

/* An opaque device handle owned by the suite. */
typedef const struct iobus_device *iobus_dev_t;

/* What the suite gives a bus: its devices' callbacks and the allocation hook. */
struct iobus_host {
	void *ctx; /* pass back unchanged */
	/* A device's write/read callback: 0 = handled, -IOBUS_EOPNOTSUPP = not mine. */
	int (*dev_write)(void *ctx, iobus_dev_t dev, uint64_t addr, int len, const void *val);
	int (*dev_read)(void *ctx, iobus_dev_t dev, uint64_t addr, int len, void *val);
	/* Nonzero when the allocation at `site` may proceed, 0 when it must fail. */
	int (*alloc_ok)(void *ctx, const char *site);
	/* kvm_iodevice_destructor(): today's unregister destroys what it removes. */
	void (*dev_destructor)(void *ctx, iobus_dev_t dev);
	/* Nonzero for an ioeventfd (today's capacity rule leaves them out). */
	int (*dev_is_ioeventfd)(void *ctx, iobus_dev_t dev);
	/* "publish" (a new bus pointer stored) or "sync" (a grace period waited for). */
	void (*srcu_event)(void *ctx, const char *what);
};

/* One entry of p##ranges(). */
struct iobus_range {
	uint64_t addr;
	int32_t len;
	iobus_dev_t dev;
};

/* What p##stats() reports. */
struct iobus_stats {
	uint64_t comparisons;
	uint64_t callbacks;
};

static inline int iobus_dev_write(const struct iobus_host *host, iobus_dev_t dev, uint64_t addr, int len,
				  const void *val)
{
	return host->dev_write(host->ctx, dev, addr, len, val);
}

static inline int iobus_dev_read(const struct iobus_host *host, iobus_dev_t dev, uint64_t addr, int len,
				 void *val)
{
	return host->dev_read(host->ctx, dev, addr, len, val);
}

static inline void iobus_dev_destructor(const struct iobus_host *host, iobus_dev_t dev)
{
	host->dev_destructor(host->ctx, dev);
}

static inline int iobus_dev_is_ioeventfd(const struct iobus_host *host, iobus_dev_t dev)
{
	return host->dev_is_ioeventfd(host->ctx, dev);
}

static inline void iobus_srcu_event(const struct iobus_host *host, const char *what)
{
	host->srcu_event(host->ctx, what);
}

/* malloc() that first asks the suite's allocation hook; NULL when refused. */
static inline void *iobus_malloc(const struct iobus_host *host, const char *site, size_t size)
{
	if (!host->alloc_ok(host->ctx, site))
		return NULL;
	return malloc(size ? size : 1);
}

/* calloc()-style zeroed allocation, with the same hook (kzalloc). */
static inline void *iobus_zalloc(const struct iobus_host *host, const char *site, size_t size)
{
	if (!host->alloc_ok(host->ctx, site))
		return NULL;
	return calloc(1, size ? size : 1);
}

static inline void iobus_free(void *p)
{
	free(p);
}

/* Prototypes for one bus, so that the compiler checks your signatures. */
#define IOBUS_DECLARE(p)                                                                        \
	struct p##bus;                                                                          \
	struct p##bus *p##create(int capacity, const struct iobus_host *host);                  \
	void p##destroy(struct p##bus *bus);                                                    \
	int p##register(struct p##bus *bus, uint64_t addr, int len, iobus_dev_t dev);           \
	int p##unregister(struct p##bus *bus, iobus_dev_t dev);                                 \
	int p##write(struct p##bus *bus, uint64_t addr, int len, const void *val);              \
	int p##read(struct p##bus *bus, uint64_t addr, int len, void *val);                     \
	int p##ranges(struct p##bus *bus, struct iobus_range *out, int max);                    \
	void p##stats(struct p##bus *bus, struct iobus_stats *out);                             \
	extern const char p##era[];                                                             \
	extern const int p##capacity;                                                           \
	extern const char p##summary[];                                                         \
	extern const char p##assumes[];                                                         \
	extern const int p##alloc_hook;                                                         \
	void p##teardown(struct p##bus *bus);                                                   \
	extern const int p##srcu_events

/* The default prefix. Declarations only: defining none of them is fine. */
IOBUS_DECLARE(iobus_);

#endif /* IOBUS_BUS_H */
