/*
 * kshim.h - the userspace stand-in for the kernel around a tree's I/O bus code
 * (written for iobus-verify; MIT). Not kernel code: every definition here is
 * this project's, made so that the functions extracted from a Linux tree
 * (virt/kvm/kvm_main.c, iodev.h, lib/sort.c, lib/bsearch.c, kvm_host.h)
 * compile unchanged in one userspace translation unit and run in the C
 * bridge's worker process.
 *
 * What the stand-ins mean (and why they are faithful for this purpose):
 *  - one thread runs a bus: locks and lockdep checks vanish, RCU/SRCU
 *    publishing is a plain store, a grace period has no readers to wait for,
 *    and call_srcu()/call_rcu() run their callback at once; each store of a
 *    bus pointer (rcu_assign_pointer) and each grace period (synchronize_*,
 *    and the one call_srcu()/call_rcu() stand for) is reported to the suite
 *    as "publish" / "sync", so its lifetime ledger sees their order against
 *    the destructors;
 *  - every allocation goes through the suite's allocation hook (site
 *    "<op>:<allocator>", e.g. "register:kmalloc"), so fail_alloc drives the
 *    tree's own -ENOMEM handling;
 *  - device callbacks arrive at the suite's devices through struct
 *    kvm_io_device_ops the glue fills (see unit.py), including the
 *    destructor that kvm_iodevice_destructor() reaches;
 *  - struct kvm and struct kvm_vcpu are reduced to the members the bus code
 *    touches (they are defined after the tree's enum kvm_bus, in KBUS_SHIM_LATE).
 *
 * A kernel API the bus code calls and this file lacks is reported by name
 * before compiling; add it here.
 */
#ifndef KBUS_SHIM_H
#define KBUS_SHIM_H

#include "iobus_bus.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Integer types. */
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
typedef uint64_t gpa_t;
typedef uint64_t gva_t;
typedef uint64_t gfn_t;
typedef unsigned int gfp_t;
typedef long ssize_t_kbus;

/* Errnos, as in include/uapi/asm-generic/errno*.h (the ABI's numbers). */
#define ENOENT IOBUS_ENOENT
#define ENOMEM IOBUS_ENOMEM
#define EEXIST IOBUS_EEXIST
#define EINVAL IOBUS_EINVAL
#define ENOSPC IOBUS_ENOSPC
#define EOPNOTSUPP IOBUS_EOPNOTSUPP

/* Attributes and annotations with no meaning in one userspace thread. */
#define __rcu
#define __user
#define __iomem
#define __force
#define __must_check
#define __read_mostly
#define __init
#define __exit
#define __weak
#define notrace
#define __always_inline inline __attribute__((always_inline))
#define noinline __attribute__((noinline))
#define __maybe_unused __attribute__((unused))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define EXPORT_SYMBOL(sym) extern int kbus_export_unused
#define EXPORT_SYMBOL_GPL(sym) extern int kbus_export_unused
#define NOKPROBE_SYMBOL(sym) extern int kbus_export_unused
#define EXPORT_SYMBOL_FOR_KVM_INTERNAL(sym) extern int kbus_export_unused
#define IS_ENABLED(option) 0
#define BUILD_BUG_ON(cond) ((void)sizeof(char[1 - 2 * !!(cond)]))
#define WARN_ON(cond) ({ int kbus_w = !!(cond); kbus_w; })
#define WARN_ON_ONCE(cond) WARN_ON(cond)
#define BUG_ON(cond) do { if (cond) __builtin_trap(); } while (0)
#define might_sleep() do { } while (0)
#define cond_resched() do { } while (0)
#define pr_err(...) do { } while (0)
#define pr_warn(...) do { } while (0)
#define pr_info(...) do { } while (0)
#define pr_debug(...) do { } while (0)
#define printk(...) do { } while (0)
#define KERN_ERR ""
#define KERN_WARNING ""
#define KERN_INFO ""
#define READ_ONCE(x) (x)
#define WRITE_ONCE(x, v) ((x) = (v))

/* Helpers from linux/kernel.h, stddef.h, overflow.h. */
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define min(a, b) ((a) < (b) ? (a) : (b))
#define max(a, b) ((a) > (b) ? (a) : (b))
#define struct_size(p, member, count) (sizeof(*(p)) + sizeof(*(p)->member) * (size_t)(count))
#define array_size(a, b) ((size_t)(a) * (size_t)(b))
#define flex_array_size(p, member, count) (sizeof(*(p)->member) * (size_t)(count))
#define __counted_by(member)

/* Comparator and swap types of linux/types.h and linux/sort.h. */
typedef int (*cmp_func_t)(const void *a, const void *b);
typedef void (*swap_func_t)(void *a, void *b, int size);
typedef int (*cmp_r_func_t)(const void *a, const void *b, const void *priv);
typedef void (*swap_r_func_t)(void *a, void *b, int size, const void *priv);

/* The kernel's sort() and bsearch() are the tree's own: renamed so that the C
 * library's bsearch() (stdlib.h) never stands in for them. */
#define sort kbus_kernel_sort
#define sort_r kbus_kernel_sort_r
#define sort_nonatomic kbus_kernel_sort_nonatomic
#define bsearch kbus_kernel_bsearch

/* Allocation: every call asks the suite's hook, at site "<op>:<allocator>". */
#define GFP_KERNEL 0u
#define GFP_KERNEL_ACCOUNT 0u
#define GFP_ATOMIC 0u
#define __GFP_ZERO 0u
extern const struct iobus_host *kbus_host;
extern const char *kbus_op; /* "register", "unregister", ... set by the glue */
void kbus_srcu_event(const char *what); /* "publish" or "sync", to the suite's ledger */
void *kbus_alloc(const char *allocator, size_t size, int zero);
#define kmalloc(size, gfp) kbus_alloc("kmalloc", (size), 0)
#define kzalloc(size, gfp) kbus_alloc("kzalloc", (size), 1)
#define kcalloc(n, size, gfp) kbus_alloc("kcalloc", (size_t)(n) * (size_t)(size), 1)
#define kmalloc_array(n, size, gfp) kbus_alloc("kmalloc_array", (size_t)(n) * (size_t)(size), 0)
#define kvmalloc(size, gfp) kbus_alloc("kvmalloc", (size), 0)
#define kvzalloc(size, gfp) kbus_alloc("kvzalloc", (size), 1)
static inline void *kmemdup(const void *src, size_t len, gfp_t gfp)
{
	void *p = kbus_alloc("kmemdup", len, 0);
	if (p)
		memcpy(p, src, len);
	return p;
}
#define kfree(p) iobus_free((void *)(p))
#define kvfree(p) iobus_free((void *)(p))

/* Locks: one thread. */
struct mutex { int kbus_unused; };
struct spinlock { int kbus_unused; };
typedef struct spinlock spinlock_t;
#define mutex_lock(m) do { } while (0)
#define mutex_unlock(m) do { } while (0)
#define spin_lock(l) do { } while (0)
#define spin_unlock(l) do { } while (0)
#define lockdep_assert_held(m) do { } while (0)
#define lockdep_is_held(m) 1

/* RCU and SRCU: one thread, no concurrent readers. */
struct rcu_head {
	struct rcu_head *next;
	void (*func)(struct rcu_head *head);
};
struct srcu_struct { int kbus_unused; };
typedef struct { int refs; } refcount_t;
#define refcount_read(r) ((r)->refs)
#define rcu_assign_pointer(p, v) ((p) = (v), kbus_srcu_event("publish"))
#define RCU_INIT_POINTER(p, v) ((p) = (v))
#define rcu_dereference(p) (p)
#define rcu_dereference_raw(p) (p)
#define rcu_dereference_protected(p, c) (p)
#define rcu_access_pointer(p) (p)
#define srcu_dereference(p, sp) (p)
#define srcu_dereference_check(p, sp, c) (p)
#define srcu_read_lock(sp) 0
#define srcu_read_unlock(sp, idx) do { (void)(idx); } while (0)
#define smp_mb__after_srcu_read_lock() do { } while (0)
#define smp_mb() do { } while (0)
#define synchronize_srcu(sp) kbus_srcu_event("sync")
#define synchronize_srcu_expedited(sp) kbus_srcu_event("sync")
#define synchronize_rcu() kbus_srcu_event("sync")
/* the callback runs after a grace period: report it, then run it */
#define call_srcu(sp, head, fn) (kbus_srcu_event("sync"), (fn)(head))
#define call_srcu_expedited(sp, head, fn) (kbus_srcu_event("sync"), (fn)(head))
#define call_rcu(head, fn) (kbus_srcu_event("sync"), (fn)(head))

/* Forward declarations the bus code uses before the tree's types arrive. */
struct kvm;
struct kvm_vcpu;
struct kvm_io_device;

#endif /* KBUS_SHIM_H */

/*
 * KBUS_SHIM_LATE: included a second time after the tree's enum kvm_bus and
 * struct kvm_io_bus, to define what needs them.
 */
#if defined(KBUS_SHIM_LATE) && !defined(KBUS_SHIM_LATE_DONE)
#define KBUS_SHIM_LATE_DONE
/* struct kvm reduced to what the bus code reads: the buses and the locks. */
struct kvm {
	struct mutex lock;
	struct mutex slots_lock;
	struct srcu_struct srcu;
	refcount_t users_count;
	struct kvm_io_bus *buses[KVM_NR_BUSES];
};
struct kvm_vcpu {
	struct kvm *kvm;
};
#endif
