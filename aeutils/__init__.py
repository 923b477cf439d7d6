"""aeutils: small, tested PyTorch utilities for the book *Autoencoders*.

The public API has one rule. **The top level holds what a user's training script needs**: data
sets, batching, models, losses and objectives, corruptions, the variational autoencoder's
objective and likelihood bounds, the training loop (and its stacked form, for several models of
one architecture at once), the metrics of reconstructions and codes (and of dictionaries against
a known answer), and checkpoints, so a script starts with one import::

    from aeutils import MLPAutoencoder, TrainConfig, fit, load_mnist, reconstruction_objective

It re-exports exactly the public names (the ``__all__``) of those modules, so each module's
``__all__`` is the one list of its names. **Everything else is imported from its submodule**:
figures (``from aeutils.plotting import image_grid``), binary hashing and retrieval scores
(:mod:`aeutils.hashing`, :mod:`aeutils.retrieval`), per-sample Jacobians (:mod:`aeutils.jacobian`),
the book's notebook helpers (:mod:`aeutils.notebook`), run records (:mod:`aeutils.records`) and
the argument checks (:mod:`aeutils.validation`).

The modules, in reading order; each imports only modules listed before it:

- :mod:`~aeutils.validation`: argument checks shared by every module;
- :mod:`~aeutils.records`: provenance and JSON records of runs and benchmarks;
- :mod:`~aeutils.data`: data sets; :mod:`~aeutils.loader`: fast in-memory batching;
- :mod:`~aeutils.models`: linear, MLP, convolutional, semantic-hashing, sparse and variational
  autoencoders;
- :mod:`~aeutils.jacobian`: per-sample Jacobians of an encoder;
- :mod:`~aeutils.losses`: losses, penalties and objectives; :mod:`~aeutils.noise`: corruptions;
- :mod:`~aeutils.variational`: the variational autoencoder's objective, likelihood bounds and
  dynamic binarisation;
- :mod:`~aeutils.plotting`: figures; :mod:`~aeutils.train`: the training loop;
- :mod:`~aeutils.stacked`: several models of one architecture trained at once, as one;
- :mod:`~aeutils.metrics`: scores of reconstructions and codes;
- :mod:`~aeutils.dictionary`: synthetic data from a known dictionary, and recovery scores;
- :mod:`~aeutils.hashing`: packed binary codes, Hamming distances, LSH and ITQ;
- :mod:`~aeutils.retrieval`: rankings, precision@k and mAP;
- :mod:`~aeutils.checkpoints`: saving and loading models;
- :mod:`~aeutils.notebook`: the book's smoke/book size switch and glue.
"""

from aeutils import (
    checkpoints,
    data,
    dictionary,
    loader,
    losses,
    metrics,
    models,
    noise,
    stacked,
    train,
    variational,
)
from aeutils.checkpoints import *  # noqa: F403
from aeutils.data import *  # noqa: F403
from aeutils.dictionary import *  # noqa: F403
from aeutils.loader import *  # noqa: F403
from aeutils.losses import *  # noqa: F403
from aeutils.metrics import *  # noqa: F403
from aeutils.models import *  # noqa: F403
from aeutils.noise import *  # noqa: F403
from aeutils.stacked import *  # noqa: F403
from aeutils.train import *  # noqa: F403
from aeutils.variational import *  # noqa: F403

__version__ = "0.1.0"

# The submodules whose public names the top level re-exports, in reading order.
_TOP_LEVEL_MODULES = (
    data,
    loader,
    models,
    losses,
    noise,
    variational,
    train,
    stacked,
    metrics,
    dictionary,
    checkpoints,
)

__all__ = [name for module in _TOP_LEVEL_MODULES for name in module.__all__]
