"""The exceptions and the warning of :mod:`tf_introspect.data`."""


class DataNotFoundError(FileNotFoundError):
    """No source had the requested data; the message says where to put which files."""


class DataFormatError(ValueError):
    """A data file exists but is not in the expected format (corrupt, truncated, wrong file)."""


class ChecksumWarning(UserWarning):
    """A data file's MD5 differs from the official one."""
