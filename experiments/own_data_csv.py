"""Write experiments/own_data.csv: a stand-in for a measured chaotic series.

A recorder that samples one channel of a chaotic system and stores 8-bit integers: the
x coordinate of Lorenz-63 (sigma = 10, rho = 28, beta = 8/3), sampled every 0.05 time
units (2000 samples, 100 time units, about 90 Lyapunov times), mapped linearly from
[-20, 20] to 0..255 and rounded. With a time column and a header, as exported by many
instruments. ``experiments/own_data.toml`` trains on it with ``refrnn train``.

Run ``python experiments/own_data_csv.py`` to write the file again (same bytes).
"""

from pathlib import Path

import numpy as np

import refrnn

OUT = Path(__file__).with_name("own_data.csv")


def make_series(n=2000, seed=7):
    """``(time, counts)``: sample times and the 8-bit recording, shape (n,) each."""
    ds = refrnn.generate(
        "lorenz63", n, sample_every=5, rng=seed, standardize=False, test_fraction=0.0
    )
    x = ds.train[:, 0]
    counts = np.clip(np.round((x + 20.0) / 40.0 * 255.0), 0, 255).astype(int)
    return np.arange(n) * ds.dt, counts


def main():
    t, counts = make_series()
    lines = ["time,signal"] + [f"{a:.2f},{c}" for a, c in zip(t, counts, strict=True)]
    refrnn.io.atomic_write(OUT, "\n".join(lines) + "\n")
    print(f"wrote {OUT} ({len(counts)} samples, values {counts.min()}..{counts.max()})")


if __name__ == "__main__":
    main()
