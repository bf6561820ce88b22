/*
 * Fixture for iobus-verify's tests, written for the project (not Linux code):
 * the declarations the 2011-era I/O bus uses, at kvm_host.h's real path, with
 * the kernel's names and shapes (a fixed array of NR_IOBUS_DEVS ranges).
 */
#ifndef __KVM_HOST_H
#define __KVM_HOST_H

struct kvm_io_range {
	gpa_t addr;
	int len;
	struct kvm_io_device *dev;
};

struct kvm_io_bus {
	int dev_count;
#define NR_IOBUS_DEVS 300	/* inside the struct, where 2011's kvm_host.h has it */
	struct kvm_io_range range[NR_IOBUS_DEVS];
};

enum kvm_bus {
	KVM_MMIO_BUS,
	KVM_PIO_BUS,
	KVM_NR_BUSES
};

/* Not used by the bus: the extractor must leave it (and what it needs) out. */
struct kvm {
	struct mm_struct *mm;
	struct kvm_io_bus *buses[KVM_NR_BUSES];
	atomic_t online_vcpus;
};

int kvm_io_bus_write(struct kvm *kvm, enum kvm_bus bus_idx, gpa_t addr, int len, const void *val);
int kvm_io_bus_read(struct kvm *kvm, enum kvm_bus bus_idx, gpa_t addr, int len, void *val);
int kvm_io_bus_register_dev(struct kvm *kvm, enum kvm_bus bus_idx, gpa_t addr, int len,
			    struct kvm_io_device *dev);
int kvm_io_bus_unregister_dev(struct kvm *kvm, enum kvm_bus bus_idx,
			      struct kvm_io_device *dev);

#endif
