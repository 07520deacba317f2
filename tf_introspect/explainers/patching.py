"""Swapping a layer's attribute while an explanation pass is traced (batch norm's moments,
Guided BP's ReLUs), past Keras' attribute tracking, and putting it back after.

:func:`patched` sets the attribute for every thread. :func:`patched_per_thread` lets only the
thread that made a change see it: ``tf.distribute.MirroredStrategy`` traces each replica's step
in a thread of its own and switches threads at every cross-replica sync inside the step (the
all-reduce of a synchronized batch norm, ``models.layers.batch_norm``). A plain patch made by
one replica would be seen by the other, taken for the original (a patch of a patch: infinite
recursion), and put back in the wrong order on exit (the model left patched).
"""

import contextlib
import functools
import threading
from collections.abc import Callable, Iterable, Iterator

_ABSENT = object()


@contextlib.contextmanager
def patched(changes: Iterable[tuple[object, str, object]]) -> Iterator[int]:
    """Context in which ``obj.name = value`` for every ``(obj, name, value)`` in ``changes``,
    set past Keras' attribute tracking; the old attributes (or their absence) come back on
    exit. Yields the number of changes. For values with no cross-replica sync while they are
    in place; else :func:`patched_per_thread`."""
    saved = []
    try:
        for obj, name, value in changes:
            saved.append((obj, name, vars(obj).get(name, _ABSENT)))
            object.__setattr__(obj, name, value)
        yield len(saved)
    finally:
        _restore(saved)


def _restore(saved):
    for obj, name, old in reversed(saved):
        if old is _ABSENT:
            object.__delattr__(obj, name)
        else:
            object.__setattr__(obj, name, old)


#: this thread's replacements, by ``(id(obj), name)``
_mine = threading.local()
#: the dispatchers in place, by ``(id(obj), name)``: ``[threads using it, (obj, name, old)]``
_installed: dict[tuple[int, str], list] = {}
_lock = threading.Lock()


def _dispatcher(key: tuple[int, str], original: Callable) -> Callable:
    """``original``, unless the calling thread has a replacement for ``key``."""

    @functools.wraps(original)  # its __name__ too: Guided BP recognises ReLUs by it
    def dispatch(*args, **kwargs):
        return getattr(_mine, "table", {}).get(key, original)(*args, **kwargs)

    return dispatch


@contextlib.contextmanager
def patched_per_thread(
    changes: Iterable[tuple[object, str, Callable[[Callable], Callable]]],
) -> Iterator[int]:
    """Context in which, for the calling thread only, ``obj.name`` is ``wrap(original)`` for
    every ``(obj, name, wrap)`` in ``changes`` (``original``: the callable attribute as it is
    outside every such context); other threads see ``original``. The first thread in installs
    a dispatcher, the last one out removes it. Yields the number of changes."""
    table = _mine.__dict__.setdefault("table", {})
    made = []
    try:
        for obj, name, wrap in changes:
            key = (id(obj), name)
            with _lock:
                entry = _installed.get(key)
                if entry is None:
                    original, old = getattr(obj, name), vars(obj).get(name, _ABSENT)
                    object.__setattr__(obj, name, _dispatcher(key, original))
                    entry = _installed[key] = [0, (obj, name, old), original]
                entry[0] += 1
            made.append((key, table.get(key, _ABSENT)))
            table[key] = wrap(entry[2])
        yield len(made)
    finally:
        for key, previous in reversed(made):
            if previous is _ABSENT:
                table.pop(key, None)
            else:
                table[key] = previous
            with _lock:
                entry = _installed[key]
                entry[0] -= 1
                if not entry[0]:
                    del _installed[key]
                    _restore([entry[1]])
