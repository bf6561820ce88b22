/*
 * Fixture for iobus-verify's tests (not Linux code): a device on the I/O bus,
 * 2011 shape (callbacks take no vcpu).
 */
#ifndef __KVM_IODEV_H__
#define __KVM_IODEV_H__

struct kvm_io_device;

struct kvm_io_device_ops {
	int (*read)(struct kvm_io_device *this, gpa_t addr, int len, void *val);
	int (*write)(struct kvm_io_device *this, gpa_t addr, int len, const void *val);
	void (*destructor)(struct kvm_io_device *this);
};

struct kvm_io_device {
	const struct kvm_io_device_ops *ops;
};

static inline void kvm_iodevice_init(struct kvm_io_device *dev, const struct kvm_io_device_ops *ops)
{
	dev->ops = ops;
}

static inline int kvm_iodevice_read(struct kvm_io_device *dev, gpa_t addr, int l, void *v)
{
	if (!dev->ops->read)
		return -EOPNOTSUPP;
	return dev->ops->read(dev, addr, l, v);
}

static inline int kvm_iodevice_write(struct kvm_io_device *dev, gpa_t addr, int l, const void *v)
{
	if (!dev->ops->write)
		return -EOPNOTSUPP;
	return dev->ops->write(dev, addr, l, v);
}

static inline void kvm_iodevice_destructor(struct kvm_io_device *dev)
{
	void (*cb)(struct kvm_io_device *) = dev->ops->destructor;

	if (cb != NULL)
		cb(dev);
}

#endif
