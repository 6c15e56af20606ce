#!/usr/bin/env python3
"""Float32 GEMM speed of numpy + OpenBLAS in the three layouts LoRA training needs.

    nt: C[M,N] = A[M,K] @ B[N,K].T    forward      x . W^T
    nn: C[M,N] = A[M,K] @ B[K,N]      backward dX  dY . W
    tn: C[M,N] = A[K,M].T @ B[K,N]    weight grad  dY^T . x

The transposed operands are views of C-contiguous arrays; numpy hands them to cblas_sgemm with a transpose
flag, without copying (each case reports the bytes numpy allocated during one call as "temp_bytes" to show it).

Set-up (Debian): apt-get install -y python3-numpy libopenblas0-pthread; run with /usr/bin/python3.

    /usr/bin/python3 bench/openblas_gemm.py --shapes 1024x576x576,1024x1536x576 --layouts nt,nn,tn --threads 2

Prints one JSON line about the BLAS in use, then one per case:
    {"impl":"openblas","layout":"nt","m":1024,"n":576,"k":576,"gflops":123.4,"seconds_per_call":...}
"""
import argparse
import json
import os
import sys


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default="1024x576x576,1024x1536x576",
                   help="comma-separated MxNxK list (default: %(default)s)")
    p.add_argument("--layouts", default="nt,nn,tn", help="comma-separated subset of nt,nn,tn (default: %(default)s)")
    p.add_argument("--threads", type=int, default=2, help="BLAS threads (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=1.0, help="minimum timed seconds per case (default: %(default)s)")
    p.add_argument("--warmup", type=float, default=0.2, help="minimum warm-up seconds per case (default: %(default)s)")
    return p.parse_args()


args = parse_args()
# Must be set before numpy (and with it OpenBLAS) is loaded.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import ctypes  # noqa: E402
import io  # noqa: E402
import contextlib  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402


def emit(obj):
    print(json.dumps(obj), flush=True)


def blas_info():
    """What BLAS numpy really calls: the shared libraries mapped into this process after a matmul, and
    OpenBLAS's own config string and thread count when the library exports them. Every step may fail."""
    info = {"impl": "openblas", "numpy": np.__version__, "threads_requested": args.threads}
    a = np.ones((64, 64), dtype=np.float32)
    a @ a  # make sure the BLAS is loaded
    libs = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                name = os.path.basename(path).lower()
                if ("blas" in name or "lapack" in name or "mkl" in name) and path not in libs:
                    libs.append(path)
    except OSError:
        pass
    info["libraries"] = [os.path.realpath(p) for p in libs]
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for sym, key in (("openblas_get_config", "config"), ("openblas_get_config64_", "config")):
            fn = getattr(lib, sym, None)
            if fn is not None and key not in info:
                fn.restype = ctypes.c_char_p
                try:
                    info[key] = fn().decode(errors="replace").strip()
                except Exception:  # noqa: BLE001
                    pass
        for sym in ("openblas_get_num_threads", "openblas_get_num_threads64_"):
            fn = getattr(lib, sym, None)
            if fn is not None and "threads" not in info:
                fn.restype = ctypes.c_int
                try:
                    info["threads"] = fn()
                except Exception:  # noqa: BLE001
                    pass
    # numpy's build-time view (whatever the API of this numpy version looks like), when the libraries did not
    # say what they are.
    if "config" in info:
        info["info"] = info["config"]
        return info
    try:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            np.show_config()
        text = buf.getvalue()
        lines = [ln.strip() for ln in text.splitlines()
                 if any(w in ln.lower() for w in ("libraries", "name", "blas", "openblas_config", "version"))]
        info["numpy_config"] = " | ".join(lines)[:600]
    except Exception as e:  # noqa: BLE001
        info["numpy_config"] = f"unavailable: {e}"
    info["info"] = info.get("config") or ", ".join(info["libraries"]) or "unknown"
    return info


def operands(layout, m, n, k, rng):
    """Returns (lhs, rhs) views such that lhs @ rhs is the [m, n] product of the layout."""
    def rand(*shape):
        return rng.standard_normal(shape, dtype=np.float32)
    if layout == "nt":
        return rand(m, k), rand(n, k).T
    if layout == "nn":
        return rand(m, k), rand(k, n)
    if layout == "tn":
        return rand(k, m).T, rand(k, n)
    raise SystemExit(f"unknown layout {layout!r}: use nt, nn or tn")


def bench(layout, m, n, k, rng):
    a, b = operands(layout, m, n, k, rng)
    c = np.empty((m, n), dtype=np.float32)

    tracemalloc.start()
    np.matmul(a, b, out=c)
    temp_bytes = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    # Warm-up, and a first estimate of the time per call.
    calls, t0 = 0, time.perf_counter()
    while True:
        np.matmul(a, b, out=c)
        calls += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= args.warmup and calls >= 2:
            break
    per_call = elapsed / calls

    # Timed: batches of about 0.1 s until at least --seconds have passed; at least 3 calls.
    batch = max(1, int(0.1 / per_call))
    # "gflops" is over the whole timed window; "gflops_best_batch" over the fastest batch, which says more
    # when other processes share the cores.
    calls, best_batch, t0 = 0, float("inf"), time.perf_counter()
    while True:
        tb = time.perf_counter()
        for _ in range(batch):
            np.matmul(a, b, out=c)
        now = time.perf_counter()
        best_batch = min(best_batch, (now - tb) / batch)
        calls += batch
        elapsed = now - t0
        if elapsed >= args.seconds and calls >= 3:
            break
    spc = elapsed / calls
    flops = 2.0 * m * n * k
    return {"impl": "openblas", "layout": layout, "m": m, "n": n, "k": k,
            "gflops": round(flops / spc / 1e9, 2), "seconds_per_call": spc,
            "gflops_best_batch": round(flops / best_batch / 1e9, 2),
            "calls": calls, "threads": args.threads, "temp_bytes": temp_bytes}


def parse_shapes(text):
    shapes = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            m, n, k = (int(x) for x in item.lower().split("x"))
        except ValueError:
            raise SystemExit(f"bad shape {item!r}: expected MxNxK, e.g. 1024x576x576")
        shapes.append((m, n, k))
    return shapes


def main():
    shapes = parse_shapes(args.shapes)
    layouts = [x.strip() for x in args.layouts.split(",") if x.strip()]
    for lay in layouts:
        if lay not in ("nt", "nn", "tn"):
            raise SystemExit(f"unknown layout {lay!r}: use nt, nn or tn")
    emit(blas_info())
    rng = np.random.default_rng(0)
    for (m, n, k) in shapes:
        for lay in layouts:
            emit(bench(lay, m, n, k, rng))


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        sys.exit(0)
