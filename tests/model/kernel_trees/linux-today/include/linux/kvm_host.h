/*
 * Fixture for iobus-verify's tests, written for the project (not Linux code):
 * today's I/O bus declarations at kvm_host.h's real path, with the kernel's
 * names and shapes (a flexible array, ioeventfds counted apart).
 */
#ifndef __KVM_HOST_H
#define __KVM_HOST_H

#define NR_IOBUS_DEVS 1000

struct kvm_io_range {
	gpa_t addr;
	int len;
	struct kvm_io_device *dev;
};

struct kvm_io_bus {
	int dev_count;
	int ioeventfd_count;
	struct rcu_head rcu;
	struct kvm_io_range range[];
};

enum kvm_bus {
	KVM_MMIO_BUS,
	KVM_PIO_BUS,
	KVM_VIRTIO_CCW_NOTIFY_BUS,
	KVM_FAST_MMIO_BUS,
	KVM_IOCSR_BUS,
	KVM_NR_BUSES
};

static inline struct kvm_io_bus *kvm_get_bus(struct kvm *kvm, enum kvm_bus idx)
{
	/* the update side holds slots_lock: a plain load under the SRCU check */
	struct kvm_io_bus *bus = srcu_dereference_check(kvm->buses[idx], &kvm->srcu,
							lockdep_is_held(&kvm->slots_lock));

	return bus;
}

int kvm_io_bus_write(struct kvm_vcpu *vcpu, enum kvm_bus bus_idx, gpa_t addr, int len, const void *val);
int kvm_io_bus_read(struct kvm_vcpu *vcpu, enum kvm_bus bus_idx, gpa_t addr, int len, void *val);
int kvm_io_bus_register_dev(struct kvm *kvm, enum kvm_bus bus_idx, gpa_t addr, int len,
			    struct kvm_io_device *dev);
int kvm_io_bus_unregister_dev(struct kvm *kvm, enum kvm_bus bus_idx, struct kvm_io_device *dev);

#endif
