"""Reliability soak tests: faults, expiring tokens, lost services, concurrent use."""
