"""Hinton & Salakhutdinov (2006): a 784-1000-500-250-30 autoencoder on MNIST against PCA-30.

The paper pretrains the stack as RBMs and fine-tunes it; its test reconstruction error (sum of
squared errors per image) is 3.00 for the autoencoder, 8.01 for logistic PCA and 13.87 for PCA,
all with 30 dimensions. Here the same architecture is trained from random initialisation with
Adam (ReLU hidden layers, linear 30-d code, sigmoid output, pixels in [0, 1]), then the learning
rate is lowered for a few more epochs; PCA-30 is computed in the same run, on the same split.

    python reproductions/hinton2006.py                 # full budget (a GPU: minutes)
    python reproductions/hinton2006.py --quick         # CI: tiny subset, 1 epoch
"""

from __future__ import annotations

import time

import torch
from common import (
    build_result,
    default_out,
    make_parser,
    pca_basis,
    pca_reconstruct,
    print_estimate,
    row,
    seconds_per_epoch,
    write_result,
)

import aeutils
from aeutils import MLPAutoencoder, TrainConfig, fit, load_mnist, reconstruction_objective
from aeutils.metrics import squared_error_per_image

NAME = "hinton2006"
PUBLISHED = {"autoencoder": 3.00, "logistic PCA": 8.01, "PCA": 13.87}


def make_model(seed: int) -> MLPAutoencoder:
    """The paper's 784-1000-500-250-30 encoder and its mirror, ReLU hidden layers."""
    torch.manual_seed(seed)
    return MLPAutoencoder(
        hidden_sizes=(1000, 500, 250),
        code_size=30,
        activation="relu",
        code_activation=None,
        output_activation="sigmoid",
    )


def main() -> None:
    parser = make_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=200, help="epochs at --lr")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--low-lr-epochs", type=int, default=50, help="then epochs at --low-lr")
    parser.add_argument("--low-lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--loss", choices=["bce", "mse"], default="bce", help="training loss")
    args = parser.parse_args()
    start = time.perf_counter()
    device = aeutils.pick_device(args.device)
    if args.quick:
        args.epochs, args.low_lr_epochs = 1, 1

    x_train, _ = load_mnist("train")
    x_test, _ = load_mnist("test")
    if args.quick:
        x_train, x_test = x_train[:512], x_test[:256]
    objective = reconstruction_objective(args.loss)
    config = TrainConfig(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        device=str(device),
        seed=args.seed,
    )
    epoch_s = seconds_per_epoch(make_model(args.seed), x_train, objective, config)
    print_estimate("training", epoch_s, 1, args.epochs + args.low_lr_epochs)  # before spending it

    model = make_model(args.seed)
    history = fit(model, x_train, objective, config)
    if args.low_lr_epochs > 0:
        low = TrainConfig(
            epochs=args.low_lr_epochs,
            lr=args.low_lr,
            batch_size=args.batch_size,
            device=str(device),
            seed=args.seed + 1,
        )
        history_low = fit(model, x_train, objective, low)
    recon = aeutils.reconstruct_all(model, x_test)
    ours = squared_error_per_image(recon.double(), x_test.double()).mean().item()
    train_recon = aeutils.reconstruct_all(model, x_train)
    ours_train = squared_error_per_image(train_recon.double(), x_train.double()).mean().item()

    mean, components = pca_basis(x_train, 30)
    pca = squared_error_per_image(pca_reconstruct(x_test, mean, components), x_test.double())
    pca_sse = pca.mean().item()
    print(f"test SSE per image: autoencoder {ours:.3f}, PCA-30 {pca_sse:.2f}")

    met = ours <= PUBLISHED["autoencoder"]
    result = build_result(
        protocol=NAME,
        title="MNIST 784-1000-500-250-30 autoencoder, test squared error per image",
        citation="hinton2006reducing",
        quick=args.quick,
        device=device,
        wall_seconds=time.perf_counter() - start,
        rows=[
            row("test SSE per image, 30-d code", ours, PUBLISHED["autoencoder"], pca_sse, "PCA-30"),
            row("test SSE per image, PCA-30", pca_sse, PUBLISHED["PCA"]),
        ],
        metrics={
            "autoencoder_test_sse": ours,
            "autoencoder_train_sse": ours_train,
            "pca30_test_sse": pca_sse,
            "final_train_loss": (history_low if args.low_lr_epochs > 0 else history).train["loss"][
                -1
            ],
            "seconds_per_epoch": history.seconds / history.epochs,
            "published_logistic_pca_test_sse": PUBLISHED["logistic PCA"],
        },
        target="autoencoder test SSE per image at most the paper's 3.00 (no pretraining)",
        target_met=met,
        hyperparameters={
            "architecture": "784-1000-500-250-30, ReLU hidden, linear code, sigmoid output",
            "optimizer": "Adam",
            "epochs": args.epochs,
            "lr": args.lr,
            "low_lr_epochs": args.low_lr_epochs,
            "low_lr": args.low_lr,
            "batch_size": args.batch_size,
            "loss": args.loss,
            "train_images": len(x_train),
            "test_images": len(x_test),
        },
        seeds=[args.seed, args.seed + 1],
        notes="SSE = sum over the 784 pixels (in [0, 1]) of the squared error, averaged over "
        "test images; PCA-30 is fitted on the training images (mean-centred).",
    )
    write_result(result, args.out or default_out(NAME, args.quick))


if __name__ == "__main__":
    main()
