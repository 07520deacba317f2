"""The run configuration's error (:mod:`tf_introspect.pipeline.config` re-exports it)."""


class ConfigError(ValueError):
    """A bad value or combination of settings, found before any data is read."""
