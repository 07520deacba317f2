"""The lab's error: a plan that cannot be run, found before any training."""


class PlanError(ValueError):
    """A plan that cannot be run (unknown method, flag or file): raised before any training."""
