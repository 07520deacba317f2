"""Part ``data``: a folder of images (``--dataset=folder:PATH``, issue 21) against CIFAR-10's
binary files, the same images: the time to read each into memory (decoding every JPEG against
reading the binary records), and the images per second of one epoch of the training pipeline
(shuffle, the paper's crop-and-flip, normalisation, batches of 128) over what was read;
interleaved rounds, medians and the ratio folder / binary. The folder is ``--folder`` (default
``data/cifar10-jpeg``, the shared tarball extracted: ``experiments/folder_check.toml``'s
prepare step makes it); without it the part says how to make it and is skipped.
"""

import os
import statistics
import time

from tf_introspect.bench.timing import rounded_ratio


def _epoch(name, data_dir, batch_size=128):
    """``(seconds to build the pipeline (reading the images), images per second of one epoch)``."""
    from tf_introspect import data

    start = time.perf_counter()
    ds = data.make_dataset(name, "train", batch_size, data_dir=data_dir, seed=0)
    built = time.perf_counter()
    images = sum(int(y.shape[0]) for _, y in ds)
    return built - start, images / (time.perf_counter() - built)


def data_part(folder_path, data_dir, rounds):
    """The part's results (``None`` values and a ``skipped`` reason without the folder)."""
    from tf_introspect.data import folder

    if not os.path.isdir(folder_path):
        reason = (
            f"no folder {folder_path}: extract ../shared/data/cifar10-jpeg/cifar10-jpeg.tar.gz "
            "there (mkdir -p data/cifar10-jpeg && tar -xzf "
            "../shared/data/cifar10-jpeg/cifar10-jpeg.tar.gz -C data/cifar10-jpeg)"
        )
        print(f"data part skipped: {reason}")
        return {"skipped": reason}
    name = f"folder:{folder_path}"
    times = {"binary": [], "folder": []}
    for _ in range(rounds):
        for kind in ("binary", "folder"):
            folder.scan.cache_clear()  # read (decode) again every round
            folder.load.cache_clear()
            folder.info.cache_clear()
            times[kind].append(_epoch("cifar10" if kind == "binary" else name, data_dir))
    result = {
        kind: {
            "read_s": statistics.median(t for t, _ in values),
            "images_per_s": statistics.median(r for _, r in values),
            "rounds": [list(v) for v in values],
        }
        for kind, values in times.items()
    }
    result["read_ratio"] = rounded_ratio(result["folder"]["read_s"], result["binary"]["read_s"])
    result["throughput_ratio"] = rounded_ratio(
        result["folder"]["images_per_s"], result["binary"]["images_per_s"]
    )
    print(
        f"data: reading {result['folder']['read_s']:.1f} s (folder) against "
        f"{result['binary']['read_s']:.1f} s (binary), ratio {result['read_ratio']}; one "
        f"training epoch {result['folder']['images_per_s']:.0f} against "
        f"{result['binary']['images_per_s']:.0f} images/s, ratio {result['throughput_ratio']} "
        f"(medians of {rounds} interleaved rounds)"
    )
    return result
