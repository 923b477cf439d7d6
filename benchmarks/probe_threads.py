"""The linear probe with the machine's BLAS threads against one thread, in one process.

``aeutils.metrics.linear_probe_accuracy`` fits a scikit-learn logistic regression (lbfgs) on
frozen codes, as chapters 5, 7 and 8 do many times. Its matrix products are small (codes of
width 32 to 128, 10 classes), so BLAS threads cost more in synchronisation than they give. This
script times the same probe both ways on PCA codes of MNIST (10,000 training and 5,000 test
images) at several code widths. The two ways alternate (the order swaps every repeat) over
``--repeats`` runs; the medians, the ratio (default-thread seconds / one-thread seconds, above
1 when one thread is faster) and both accuracies are printed, one line per width. The probe
inside ``linear_probe_accuracy`` already runs with one thread, so the default-thread way below
calls the same scikit-learn pipeline directly. Run it on a quiet machine.

    python benchmarks/probe_threads.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info

from aeutils import load_mnist
from aeutils.metrics import linear_probe_accuracy


def default_threads(z: np.ndarray, y: np.ndarray, zt: np.ndarray, yt: np.ndarray) -> float:
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=200))
    probe.fit(z, y)
    return float(probe.score(zt, yt))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.repeats < 3:
        parser.error(f"--repeats must be at least 3, got {args.repeats}")
    x, y = load_mnist("train")
    xt, yt = load_mnist("test")
    x, y = x[:10_000].flatten(1).numpy(), y[:10_000].numpy()
    xt, yt = xt[:5_000].flatten(1).numpy(), yt[:5_000].numpy()
    blas = [(p["internal_api"], p["num_threads"]) for p in threadpool_info()]
    print(f"BLAS pools (api, threads): {blas}")
    ways = {"default": default_threads, "one thread": linear_probe_accuracy}
    for width in (32, 64, 128):
        pca = PCA(width, random_state=0).fit(x)
        z, zt = pca.transform(x), pca.transform(xt)
        times: dict[str, list[float]] = {w: [] for w in ways}
        accuracy: dict[str, float] = {}
        for r in range(args.repeats):
            for way in list(ways) if r % 2 == 0 else list(ways)[::-1]:
                start = time.perf_counter()
                accuracy[way] = ways[way](z, y, zt, yt)
                times[way].append(time.perf_counter() - start)
        a, b = (statistics.median(times[w]) for w in ways)
        print(
            f"width {width:3d}: default {a:.3f} s, one thread {b:.3f} s, ratio {a / b:.2f}; "
            f"accuracy {accuracy['default']:.4f} and {accuracy['one thread']:.4f}"
        )


if __name__ == "__main__":
    main()
