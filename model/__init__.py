"""The model: C semantics, the kernel's sort and bsearch, the buses, the devices.

One concept a module:

* ``cints``: C integer rules and the evaluation domains (ints, z3).
* ``comparators``: every comparator, once, generic over a domain.
* ``ksort`` / ``kbsearch``: the kernel's ``sort()`` and ``bsearch()`` generations.
* ``protocol``: the bus/device protocol, errnos, allocation hooks.
* ``linear_bus``: the pre-patch reference. ``sorted_bus``: the range bus, its
  variants and the registry. ``fixed_bus``: the project's own design.
* ``spec``: resolving a bus spec (name or plugin) to a factory.
"""
