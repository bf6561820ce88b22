/*
 * Fixture for iobus-verify's tests (not Linux code): a device on the I/O bus,
 * today's shape (callbacks take the vcpu first).
 */
#ifndef __KVM_IODEV_H__
#define __KVM_IODEV_H__

struct kvm_io_device;
struct kvm_vcpu;

struct kvm_io_device_ops {
	int (*read)(struct kvm_vcpu *vcpu, struct kvm_io_device *this, gpa_t addr, int len, void *val);
	int (*write)(struct kvm_vcpu *vcpu, struct kvm_io_device *this, gpa_t addr, int len,
		     const void *val);
	void (*destructor)(struct kvm_io_device *this);
};

struct kvm_io_device {
	const struct kvm_io_device_ops *ops;
};

static inline int kvm_iodevice_read(struct kvm_vcpu *vcpu, struct kvm_io_device *dev, gpa_t addr,
				    int l, void *v)
{
	int (*cb)(struct kvm_vcpu *, struct kvm_io_device *, gpa_t, int, void *) = dev->ops->read;

	if (cb == NULL)
		return -EOPNOTSUPP;
	return cb(vcpu, dev, addr, l, v);
}

static inline int kvm_iodevice_write(struct kvm_vcpu *vcpu, struct kvm_io_device *dev, gpa_t addr,
				     int l, const void *v)
{
	int (*cb)(struct kvm_vcpu *, struct kvm_io_device *, gpa_t, int, const void *) = dev->ops->write;

	if (cb == NULL)
		return -EOPNOTSUPP;
	return cb(vcpu, dev, addr, l, v);
}

static inline void kvm_iodevice_destructor(struct kvm_io_device *dev)
{
	void (*cb)(struct kvm_io_device *) = dev->ops->destructor;

	if (cb != NULL)
		cb(dev);
}

#endif
