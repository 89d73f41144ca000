"""Time an epoch of companion.fit against the textbook DataLoader loop.

Same model (784-128-64-12-3 dense autoencoder, MSE, Adam), same data (the
embedded 4,000 MNIST training digits, or the full set if present), same batch
size. The textbook loop wraps the tensor in a TensorDataset and a shuffling
DataLoader, as the source material does; companion.fit permutes the on-device
tensor once per epoch and slices batches. Runs alternate so that both see the
same machine state. Prints the median epoch time of each and their ratio.

    python benchmarks/fit_dense_ae.py [--repeats 5] [--batch-size 128] [--device auto]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

import companion as cp


EPOCHS = 3  # per timed run, so that fit's one-off setup is amortized as in real use


def dataloader_epoch(model, X, batch_size, device):
    # the same optimizer fit builds for "adam", so that only the loops differ
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=device.type in ("cpu", "cuda"))
    loader = DataLoader(TensorDataset(X), batch_size=batch_size, shuffle=True)
    start = time.perf_counter()
    for _ in range(EPOCHS):
        for (xb,) in loader:
            xb = xb.to(device)
            loss = torch.nn.functional.mse_loss(model(xb), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / EPOCHS


def companion_epoch(model, X, batch_size, device):
    start = time.perf_counter()
    cp.fit(model, X, epochs=EPOCHS, batch_size=batch_size, lr=1e-3, device=device, progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / EPOCHS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    device = cp.get_device(args.device)
    X, _ = cp.data.mnist("train")
    print(f"device {device}, {len(X):,} images, batch {args.batch_size}, torch threads {torch.get_num_threads()}")
    cp.seed_everything(0)
    times = {"DataLoader loop": [], "companion.fit": []}
    for repeat in range(args.repeats + 1):  # the first round warms up and is discarded
        for name, run in (("DataLoader loop", dataloader_epoch), ("companion.fit", companion_epoch)):
            model = cp.models.DenseAutoencoder((784, 128, 64, 12, 3)).to(device)
            seconds = run(model, X, args.batch_size, device)
            if repeat:
                times[name].append(seconds)
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    for name, median in medians.items():
        print(f"{name:<16} median epoch {median * 1000:8.1f} ms  (runs: {', '.join(f'{t * 1000:.0f}' for t in times[name])})")
    print(f"companion.fit / DataLoader loop = {medians['companion.fit'] / medians['DataLoader loop']:.2f}")


if __name__ == "__main__":
    main()
