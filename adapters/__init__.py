"""Adapters: things that connect the bus to OPD systems, one module each.

They use only the public `bus` API, as an OPD's own adapter would, and are registered for
`bus adapter run NAME` through the `opd_bus.adapters` entry points in pyproject.toml.
"""
