"""Helpers of tests/fleet/fleet: base image, hosts, scenario packages."""
