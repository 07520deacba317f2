"""CE: the standard training procedure, cross-entropy with one-hot labels (the paper's baseline)."""

from tf_introspect.methods.base import Method


class CrossEntropy(Method):
    """Plain cross-entropy CE(p, y) plus the model's weight decay; the base's default loss."""
