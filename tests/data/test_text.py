"""A folder of text files as counts: tokens, stop words, vocabulary limits and errors."""

from pathlib import Path

import numpy as np
import pytest

from genzoo.data.loaders import DatasetNotFound
from genzoo.data.text import STOP_WORDS, load_text_folder, tokenize


def test_tokenize_keeps_lower_case_words_of_two_letters_or_more():
    assert tokenize("A Cat, a HAT; 42 cats' hats!\nÉté") == ["cat", "hat", "cats", "hats", "été"]
    assert tokenize("") == []
    with pytest.raises(ValueError, match="text"):
        tokenize(b"bytes")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "b.txt").write_text("The dog chased the cat. The cat ran.", encoding="utf-8")
    (tmp_path / "a.txt").write_text("A cat sat on the mat with a cat.", encoding="utf-8")
    (tmp_path / "c.TXT").write_text("Dogs and cats", encoding="utf-8")
    (tmp_path / "notes.md").write_text("cat cat cat", encoding="utf-8")  # not a .txt file
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.txt").write_text("cat", encoding="utf-8")  # not read
    return tmp_path


def test_counts_vocabulary_and_names(folder):
    X, vocabulary, names = load_text_folder(folder)
    assert names == ["a.txt", "b.txt", "c.TXT"]
    assert vocabulary == ["cat", "cats", "chased", "dog", "dogs", "mat", "ran", "sat"]
    assert X.format == "csr" and X.dtype == np.float64 and X.shape == (3, 8)
    dense = X.toarray()
    assert dense[0, vocabulary.index("cat")] == 2 and dense[1, vocabulary.index("cat")] == 2
    assert dense[2].sum() == 2  # "and" is a stop word
    assert not set(vocabulary) & STOP_WORDS


def test_min_count_max_vocab_and_stop_words(folder):
    _, vocabulary, _ = load_text_folder(folder, min_count=2)
    assert vocabulary == ["cat"]
    X, vocabulary, _ = load_text_folder(folder, max_vocab=2)
    assert vocabulary == ["cat", "cats"]  # cat (4), then the ties broken alphabetically
    assert X.shape == (3, 2)
    _, vocabulary, _ = load_text_folder(folder, stop_words=())
    assert "the" in vocabulary and "and" in vocabulary


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(DatasetNotFound, match="no such folder"):
        load_text_folder(tmp_path / "missing")
    with pytest.raises(FileNotFoundError):
        load_text_folder(tmp_path / "missing")
    (tmp_path / "x.csv").write_text("cat")
    with pytest.raises(ValueError, match="no .txt files"):
        load_text_folder(tmp_path)
    (tmp_path / "y.txt").write_text("the and of")
    with pytest.raises(ValueError, match="no word is left"):
        load_text_folder(tmp_path)
    with pytest.raises(ValueError, match="min_count"):
        load_text_folder(tmp_path, min_count=0)
    with pytest.raises(ValueError, match="max_vocab"):
        load_text_folder(tmp_path, max_vocab=0)
