"""Method registry: a plain dict from ``--method`` name to a builder (mdistiller style).

Each entry is ``build(model, flags_dict) -> Method``; every method is a ``keras.Model``
wrapping the classifier, trained through ``compile``/``fit``.
"""

from tf_introspect.methods.base import Method
from tf_introspect.methods.ce import CrossEntropy
from tf_introspect.methods.le import Introspective


def _le(model, cfg, permute=False):
    return Introspective(model, explainer=cfg["explainer"], alpha=cfg["alpha"], lam=cfg["lam"],
                         layer=cfg.get("layer") or None, permute=permute, seed=cfg.get("seed", 0))


METHODS = {
    "ce": lambda model, cfg: CrossEntropy(model),
    "le": _le,
    "le_permut": lambda model, cfg: _le(model, cfg, permute=True),
}

# Methods that need a warm-up stage switched by WarmupSwitch.
WARMUP_METHODS = ("le", "le_permut")


def list_methods():
    """Return the registered method names, sorted."""
    return sorted(METHODS)


def build(name, model, cfg):
    """Build method ``name`` around ``model`` from a configuration dict (the CLI's flags)."""
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}; valid choices: {', '.join(list_methods())}.")
    return METHODS[name](model, cfg)


__all__ = ["METHODS", "Method", "CrossEntropy", "Introspective", "build", "list_methods"]
