"""``explainers.patching``: a per-thread patch is seen by its own thread only, and the
attribute comes back whatever order the threads leave in (as MirroredStrategy's replica
threads, which switch at every cross-replica sync; the mirrored test runs the real case)."""

import threading

from tf_introspect.explainers.patching import patched, patched_per_thread


class Thing:
    def greet(self):
        return "original"


def test_a_plain_patch_comes_back():
    thing = Thing()
    with patched([(thing, "greet", lambda: "patched")]) as n:
        assert n == 1 and thing.greet() == "patched"
    assert thing.greet() == "original" and "greet" not in vars(thing)


def test_per_thread_patches_interleaved_and_left_in_either_order():
    thing = Thing()
    inside, other_done, seen = threading.Event(), threading.Event(), {}

    def first():  # patches, lets the other thread patch and leave, then calls and leaves
        with patched_per_thread([(thing, "greet", lambda f: lambda: "first+" + f())]):
            inside.set()
            other_done.wait(10)
            seen["first"] = thing.greet()

    def second():  # enters while the first is inside, wraps the original, not the first's
        inside.wait(10)
        with patched_per_thread([(thing, "greet", lambda f: lambda: "second+" + f())]):
            seen["second"] = thing.greet()
        seen["second after"] = thing.greet()  # the first is still inside: the original here
        other_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert seen == {
        "first": "first+original",
        "second": "second+original",
        "second after": "original",
    }
    assert thing.greet() == "original" and "greet" not in vars(thing)


def test_per_thread_patches_nest_in_one_thread():
    thing = Thing()
    with patched_per_thread([(thing, "greet", lambda f: lambda: "outer")]):
        with patched_per_thread([(thing, "greet", lambda f: lambda: "inner+" + f())]):
            assert thing.greet() == "inner+original"
        assert thing.greet() == "outer"
    assert thing.greet() == "original" and "greet" not in vars(thing)


def test_a_failing_swap_leaves_nothing_installed():
    from tf_introspect.explainers import patching

    thing = Thing()

    def broken(original):
        raise ValueError("no")

    try:
        with patched_per_thread([(thing, "greet", lambda f: lambda: "fine"), (thing, "x", broken)]):
            pass
    except AttributeError:  # Thing has no attribute x: getattr fails before any install
        pass
    thing.x = lambda: "x"
    try:
        with patched_per_thread([(thing, "greet", lambda f: lambda: "fine"), (thing, "x", broken)]):
            pass
    except ValueError:
        pass
    assert thing.greet() == "original" and "greet" not in vars(thing)
    assert thing.x() == "x" and not patching._installed
