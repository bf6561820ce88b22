/*
 * Fixture for iobus-verify's tests, written for the project (not Linux code):
 * the 2011 range bus with the kernel's function names and signatures and
 * this project's own bodies (after examples/c/range_bus.c): a fixed array of
 * ranges kept heap-sorted, binary search, walk back, offer in turn.
 */
#include <linux/kvm_host.h>
#include "iodev.h"

MODULE_LICENSE("GPL");

static struct kmem_cache *kvm_vcpu_cache;

/* Not bus code: the extractor must leave it out (it calls APIs no shim has). */
static long kvm_vm_ioctl(struct file *filp, unsigned int ioctl, unsigned long arg)
{
	struct kvm *kvm = filp->private_data;
	if (copy_from_user(&kvm, (void __user *)arg, sizeof(kvm)))
		return -EFAULT;
	return kvm_arch_vm_ioctl(filp, ioctl, arg);
}

void kvm_io_bus_destroy(struct kvm_io_bus *bus)
{
	int k;

	for (k = 0; k < bus->dev_count; k++)
		kvm_iodevice_destructor(bus->range[k].dev);
	kfree(bus);
}

int kvm_io_bus_sort_cmp(const void *p1, const void *p2)
{
	const struct kvm_io_range *a = p1, *b = p2;

	if (a->addr < b->addr)
		return -1;
	if (a->addr + a->len > b->addr + b->len)
		return 1;
	return 0;
}

static int kvm_io_bus_insert_dev(struct kvm_io_bus *bus, struct kvm_io_device *dev,
				 gpa_t addr, int len)
{
	if (bus->dev_count == NR_IOBUS_DEVS)
		return -ENOSPC;
	bus->range[bus->dev_count].addr = addr;
	bus->range[bus->dev_count].len = len;
	bus->range[bus->dev_count].dev = dev;
	bus->dev_count++;
	sort(bus->range, bus->dev_count, sizeof(struct kvm_io_range),
	     kvm_io_bus_sort_cmp, NULL);
	return 0;
}

int kvm_io_bus_get_first_dev(struct kvm_io_bus *bus, gpa_t addr, int len)
{
	struct kvm_io_range key = { .addr = addr, .len = len };
	struct kvm_io_range *hit;
	int at;

	hit = bsearch(&key, bus->range, bus->dev_count, sizeof(struct kvm_io_range),
		      kvm_io_bus_sort_cmp);
	if (hit == NULL)
		return -ENOENT;
	at = hit - bus->range;
	while (at > 0 && kvm_io_bus_sort_cmp(&key, &bus->range[at - 1]) == 0)
		at--;
	return at;
}

int kvm_io_bus_write(struct kvm *kvm, enum kvm_bus bus_idx, gpa_t addr,
		     int len, const void *val)
{
	struct kvm_io_bus *bus = srcu_dereference(kvm->buses[bus_idx], &kvm->srcu);
	struct kvm_io_range key = { .addr = addr, .len = len };
	int at = kvm_io_bus_get_first_dev(bus, addr, len);

	if (at < 0)
		return -EOPNOTSUPP;
	for (; at < bus->dev_count; at++) {
		if (kvm_io_bus_sort_cmp(&key, &bus->range[at]) != 0)
			break;
		if (kvm_iodevice_write(bus->range[at].dev, addr, len, val) == 0)
			return 0;
	}
	return -EOPNOTSUPP;
}

int kvm_io_bus_read(struct kvm *kvm, enum kvm_bus bus_idx, gpa_t addr,
		    int len, void *val)
{
	struct kvm_io_bus *bus = srcu_dereference(kvm->buses[bus_idx], &kvm->srcu);
	struct kvm_io_range key = { .addr = addr, .len = len };
	int at = kvm_io_bus_get_first_dev(bus, addr, len);

	if (at < 0)
		return -EOPNOTSUPP;
	for (; at < bus->dev_count; at++) {
		if (kvm_io_bus_sort_cmp(&key, &bus->range[at]) != 0)
			break;
		if (kvm_iodevice_read(bus->range[at].dev, addr, len, val) == 0)
			return 0;
	}
	return -EOPNOTSUPP;
}

int kvm_io_bus_register_dev(struct kvm *kvm, enum kvm_bus bus_idx, gpa_t addr,
			    int len, struct kvm_io_device *dev)
{
	struct kvm_io_bus *old = kvm->buses[bus_idx], *fresh;

	if (old->dev_count >= NR_IOBUS_DEVS)
		return -ENOSPC;
	fresh = kzalloc(sizeof(*fresh), GFP_KERNEL);
	if (fresh == NULL)
		return -ENOMEM;
	memcpy(fresh, old, sizeof(*fresh));
	kvm_io_bus_insert_dev(fresh, dev, addr, len);
	rcu_assign_pointer(kvm->buses[bus_idx], fresh);
	synchronize_srcu_expedited(&kvm->srcu);
	kfree(old);
	return 0;
}

int kvm_io_bus_unregister_dev(struct kvm *kvm, enum kvm_bus bus_idx,
			      struct kvm_io_device *dev)
{
	struct kvm_io_bus *old = kvm->buses[bus_idx], *fresh;
	int k, found = 0;

	fresh = kzalloc(sizeof(*fresh), GFP_KERNEL);
	if (fresh == NULL)
		return -ENOMEM;
	memcpy(fresh, old, sizeof(*fresh));
	for (k = 0; k < fresh->dev_count; k++) {
		if (fresh->range[k].dev != dev)
			continue;
		fresh->dev_count--;
		fresh->range[k] = fresh->range[fresh->dev_count];
		sort(fresh->range, fresh->dev_count, sizeof(struct kvm_io_range),
		     kvm_io_bus_sort_cmp, NULL);
		found = 1;
		break;
	}
	if (!found) {
		kfree(fresh);
		return -ENOENT;
	}
	rcu_assign_pointer(kvm->buses[bus_idx], fresh);
	synchronize_srcu_expedited(&kvm->srcu);
	kfree(old);
	return 0;
}
EXPORT_SYMBOL_GPL(kvm_io_bus_unregister_dev);
