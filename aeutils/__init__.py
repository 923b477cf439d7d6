"""aeutils: small, tested PyTorch utilities for the book *Autoencoders*.

Everything a chapter imports is available from the top level::

    from aeutils import MLPAutoencoder, TrainConfig, fit, load_mnist, reconstruction_objective

The modules read top to bottom: :mod:`~aeutils.data` (data sets), :mod:`~aeutils.loader`
(fast batching), :mod:`~aeutils.models`, :mod:`~aeutils.losses` (losses, penalties and
objectives), :mod:`~aeutils.noise` (corruptions), :mod:`~aeutils.train`,
:mod:`~aeutils.metrics`, :mod:`~aeutils.plotting`, :mod:`~aeutils.checkpoints` and
:mod:`~aeutils.notebook` (smoke or book sizes, glue).
"""

from aeutils.checkpoints import Checkpoint, load_checkpoint, save_checkpoint
from aeutils.data import (
    default_data_root,
    load_digits,
    load_fashion_mnist,
    load_image_patches,
    load_mnist,
    load_photographs,
)
from aeutils.hashing import ITQ, LSH, hamming_distances, pack_bits
from aeutils.loader import TensorLoader
from aeutils.losses import (
    bce_loss,
    contractive_objective,
    contractive_penalty,
    denoising_objective,
    kl_objective,
    kl_sparsity_penalty,
    l1_objective,
    l1_penalty,
    mse_loss,
    reconstruction_objective,
)
from aeutils.metrics import (
    jacobian_norm,
    linear_probe_accuracy,
    mean_average_precision,
    psnr,
    roc_auc,
    sparsity_stats,
    squared_error_per_image,
    ssim,
)
from aeutils.models import (
    MODEL_CLASSES,
    Autoencoder,
    ConvAutoencoder,
    LinearAutoencoder,
    MLPAutoencoder,
    count_parameters,
)
from aeutils.noise import gaussian_noise, make_corruption, masking_noise, salt_and_pepper_noise
from aeutils.notebook import glue, pick, run_size
from aeutils.train import (
    History,
    NonFiniteLossError,
    TrainConfig,
    encode_all,
    evaluate,
    fit,
    pick_device,
    reconstruct_all,
    seed_everything,
)

__version__ = "0.1.0"

__all__ = [
    "ITQ",
    "LSH",
    "MODEL_CLASSES",
    "Autoencoder",
    "Checkpoint",
    "ConvAutoencoder",
    "History",
    "LinearAutoencoder",
    "MLPAutoencoder",
    "NonFiniteLossError",
    "TensorLoader",
    "TrainConfig",
    "bce_loss",
    "contractive_objective",
    "contractive_penalty",
    "count_parameters",
    "default_data_root",
    "denoising_objective",
    "encode_all",
    "evaluate",
    "fit",
    "gaussian_noise",
    "glue",
    "hamming_distances",
    "jacobian_norm",
    "kl_objective",
    "kl_sparsity_penalty",
    "l1_objective",
    "l1_penalty",
    "linear_probe_accuracy",
    "load_checkpoint",
    "load_digits",
    "load_fashion_mnist",
    "load_image_patches",
    "load_mnist",
    "load_photographs",
    "make_corruption",
    "masking_noise",
    "mean_average_precision",
    "mse_loss",
    "pack_bits",
    "pick",
    "pick_device",
    "psnr",
    "reconstruct_all",
    "reconstruction_objective",
    "roc_auc",
    "run_size",
    "salt_and_pepper_noise",
    "save_checkpoint",
    "seed_everything",
    "sparsity_stats",
    "squared_error_per_image",
    "ssim",
]
