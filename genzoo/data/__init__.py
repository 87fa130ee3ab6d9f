"""Built-in data sets and loaders for users' own files.

`load` turns a built-in name or a path into a `Dataset` with train and test parts; the other
functions are the pieces it is built from.
"""

from genzoo.data.bars import bars_topics, binary_bars_log_prob, make_bars, make_binary_bars
from genzoo.data.dataset import Dataset, DatasetNotFound, list_datasets, load
from genzoo.data.digits import load_digits
from genzoo.data.loaders import (
    load_csv,
    load_idx,
    load_image_folder,
    load_mnist,
    load_npy,
    load_npz,
)
from genzoo.data.pairs import make_blobs3
from genzoo.data.text import STOP_WORDS, load_text_folder, tokenize
from genzoo.data.toy import (
    TOY_DATASETS,
    make_checkerboard,
    make_circles,
    make_eight_gaussians,
    make_moons,
    make_pinwheel,
    make_swiss_roll,
)

__all__ = [
    "STOP_WORDS",
    "TOY_DATASETS",
    "bars_topics",
    "binary_bars_log_prob",
    "Dataset",
    "DatasetNotFound",
    "list_datasets",
    "load",
    "load_csv",
    "load_digits",
    "load_idx",
    "load_image_folder",
    "load_mnist",
    "load_npy",
    "load_npz",
    "load_text_folder",
    "make_bars",
    "make_binary_bars",
    "make_blobs3",
    "make_checkerboard",
    "make_circles",
    "make_eight_gaussians",
    "make_moons",
    "make_pinwheel",
    "make_swiss_roll",
    "tokenize",
]
