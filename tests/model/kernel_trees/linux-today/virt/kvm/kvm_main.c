/*
 * Fixture for iobus-verify's tests, written for the project (not Linux code):
 * today's I/O bus with the kernel's function names and signatures and this
 * project's own bodies: ordered insert, the zero-length wildcard, a bus that
 * is dropped when it cannot shrink, the destructor on unregister.
 */
#include <linux/kvm_host.h>
#include <linux/bsearch.h>
#include <kvm/iodev.h>

/* Kernel-style macros around the bus code, which the parser must tolerate. */
MODULE_AUTHOR("fixture");
module_param(halt_poll_ns, uint, 0644);
static DEFINE_PER_CPU(struct kvm_vcpu *, fixture_running_vcpu);
__visible bool fixture_rebooting;
DEFINE_SIMPLE_ATTRIBUTE(fixture_fops, fixture_get, NULL, "%llu\n");

static __always_inline int fixture_guarded(void)
{
	guard(mutex)(&fixture_lock);
	return 0;
}

/* Not bus code: the extractor must leave it out. */
static int kvm_vm_ioctl_check_extension_generic(struct kvm *kvm, long arg)
{
	return kvm_vm_ioctl_check_extension(kvm, arg) + num_online_cpus();
}

static void kvm_io_bus_destroy(struct kvm_io_bus *bus)
{
	int k;

	for (k = 0; k < bus->dev_count; k++)
		kvm_iodevice_destructor(bus->range[k].dev);
	kfree(bus);
}

static inline int kvm_io_bus_cmp(const struct kvm_io_range *r1, const struct kvm_io_range *r2)
{
	gpa_t end1 = r1->addr, end2 = r2->addr;

	if (r1->addr < r2->addr)
		return -1;
	if (r2->len) {
		end1 += r1->len;
		end2 += r2->len;
	}
	return end1 > end2 ? 1 : 0;
}

static int kvm_io_bus_sort_cmp(const void *p1, const void *p2)
{
	return kvm_io_bus_cmp(p1, p2);
}

static int kvm_io_bus_get_first_dev(struct kvm_io_bus *bus, gpa_t addr, int len)
{
	struct kvm_io_range key = { .addr = addr, .len = len };
	struct kvm_io_range *hit = bsearch(&key, bus->range, bus->dev_count,
					   sizeof(struct kvm_io_range), kvm_io_bus_sort_cmp);
	int at;

	if (!hit)
		return -ENOENT;
	for (at = hit - bus->range; at > 0; at--)
		if (kvm_io_bus_cmp(&key, &bus->range[at - 1]) != 0)
			break;
	return at;
}

static int __kvm_io_bus_write(struct kvm_vcpu *vcpu, struct kvm_io_bus *bus,
			      struct kvm_io_range *range, const void *val)
{
	int at = kvm_io_bus_get_first_dev(bus, range->addr, range->len);

	if (at < 0)
		return -EOPNOTSUPP;
	while (at < bus->dev_count && kvm_io_bus_cmp(range, &bus->range[at]) == 0) {
		if (!kvm_iodevice_write(vcpu, bus->range[at].dev, range->addr, range->len, val))
			return at;
		at++;
	}
	return -EOPNOTSUPP;
}

static struct kvm_io_bus *kvm_get_bus_srcu(struct kvm *kvm, enum kvm_bus idx)
{
	struct kvm_io_bus *bus;

	smp_mb__after_srcu_read_lock();	/* order against the vCPU's previous access */
	bus = srcu_dereference(kvm->buses[idx], &kvm->srcu);
	return bus;
}

int kvm_io_bus_write(struct kvm_vcpu *vcpu, enum kvm_bus bus_idx, gpa_t addr,
		     int len, const void *val)
{
	struct kvm_io_range key = { .addr = addr, .len = len };
	struct kvm_io_bus *bus = kvm_get_bus_srcu(vcpu->kvm, bus_idx);
	int r;

	if (!bus)
		return -ENOMEM;
	r = __kvm_io_bus_write(vcpu, bus, &key, val);
	return r < 0 ? r : 0;
}

static int __kvm_io_bus_read(struct kvm_vcpu *vcpu, struct kvm_io_bus *bus,
			     struct kvm_io_range *range, void *val)
{
	int at = kvm_io_bus_get_first_dev(bus, range->addr, range->len);

	if (at < 0)
		return -EOPNOTSUPP;
	while (at < bus->dev_count && kvm_io_bus_cmp(range, &bus->range[at]) == 0) {
		if (!kvm_iodevice_read(vcpu, bus->range[at].dev, range->addr, range->len, val))
			return at;
		at++;
	}
	return -EOPNOTSUPP;
}

int kvm_io_bus_read(struct kvm_vcpu *vcpu, enum kvm_bus bus_idx, gpa_t addr,
		    int len, void *val)
{
	struct kvm_io_range key = { .addr = addr, .len = len };
	struct kvm_io_bus *bus = kvm_get_bus_srcu(vcpu->kvm, bus_idx);
	int r;

	if (!bus)
		return -ENOMEM;
	r = __kvm_io_bus_read(vcpu, bus, &key, val);
	return r < 0 ? r : 0;
}

static void __free_bus(struct rcu_head *rcu)
{
	kfree(container_of(rcu, struct kvm_io_bus, rcu));
}

int kvm_io_bus_register_dev(struct kvm *kvm, enum kvm_bus bus_idx, gpa_t addr,
			    int len, struct kvm_io_device *dev)
{
	struct kvm_io_range fresh = { .addr = addr, .len = len, .dev = dev };
	struct kvm_io_bus *old, *bus;
	int at;

	lockdep_assert_held(&kvm->slots_lock);
	old = kvm_get_bus(kvm, bus_idx);
	if (!old)
		return -ENOMEM;
	if (old->dev_count - old->ioeventfd_count > NR_IOBUS_DEVS - 1)
		return -ENOSPC;
	bus = kmalloc(struct_size(old, range, old->dev_count + 1), GFP_KERNEL_ACCOUNT);
	if (!bus)
		return -ENOMEM;
	for (at = 0; at < old->dev_count; at++)
		if (kvm_io_bus_cmp(&old->range[at], &fresh) > 0)
			break;
	memcpy(bus, old, sizeof(*old) + at * sizeof(struct kvm_io_range));
	bus->range[at] = fresh;
	memcpy(bus->range + at + 1, old->range + at,
	       (old->dev_count - at) * sizeof(struct kvm_io_range));
	bus->dev_count++;
	rcu_assign_pointer(kvm->buses[bus_idx], bus);
	call_srcu(&kvm->srcu, &old->rcu, __free_bus);
	return 0;
}

int kvm_io_bus_unregister_dev(struct kvm *kvm, enum kvm_bus bus_idx,
			      struct kvm_io_device *dev)
{
	struct kvm_io_bus *old, *bus;
	int at;

	lockdep_assert_held(&kvm->slots_lock);
	old = kvm_get_bus(kvm, bus_idx);
	if (!old)
		return 0;
	for (at = 0; at < old->dev_count; at++)
		if (old->range[at].dev == dev)
			break;
	if (at == old->dev_count)
		return 0;
	bus = kmalloc(struct_size(old, range, old->dev_count - 1), GFP_KERNEL_ACCOUNT);
	if (bus) {
		memcpy(bus, old, sizeof(*old) + at * sizeof(struct kvm_io_range));
		bus->dev_count--;
		memcpy(bus->range + at, old->range + at + 1,
		       (bus->dev_count - at) * sizeof(struct kvm_io_range));
	}
	rcu_assign_pointer(kvm->buses[bus_idx], bus);
	synchronize_srcu_expedited(&kvm->srcu);
	if (!bus) {
		pr_err("kvm: failed to shrink bus, removing it completely\n");
		kvm_io_bus_destroy(old);
		return -ENOMEM;
	}
	kvm_iodevice_destructor(dev);
	kfree(old);
	return 0;
}
