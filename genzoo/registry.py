"""Model names: `register` a class once, then `make("gmm", ...)` and `list_models()`.

Each entry also carries what the conformance suite and the zoo need to run the model with no
further knowledge of it: its family, the kind of data it takes, its default dataset, a small
fixture dataset and fast parameters.
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "ModelEntry",
    "UnknownModelError",
    "Variant",
    "get_entry",
    "list_models",
    "make",
    "register",
]


class UnknownModelError(ValueError):
    """Raised for a model name that no class has registered."""


@dataclass(frozen=True)
class Variant:
    """A setting of a model the conformance suite also runs: its name, the constructor
    arguments that change from the entry's `test_params`, and its own fixture data if the
    entry's does not suit it."""

    name: str
    params: dict = field(default_factory=dict)
    fixture_dataset: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows of one model.

    Attributes
    ----------
    name : registry name (`"gmm"`).
    cls : the model class.
    family : the family folder (`"mixture"`).
    data_kind : `"vectors"`, `"images"` (which also takes vectors), `"counts"`, `"sequences"`,
        `"table"` or `"sentences"`.
    default_dataset : built-in dataset the zoo and `genzoo train` use by default.
    zoo_datasets : every data set the zoo runs the model on, the default first.
    fixture_dataset, fixture_size : small built-in data for the conformance suite.
    test_params : fast constructor arguments for the conformance suite.
    quick_params : constructor arguments for `genzoo zoo --quick`.
    zoo_params : constructor arguments for the full `genzoo zoo`.
    classifier_params : constructor arguments that change, on top of those, for each
        per-class model of the zoo's Bayes-rule classifier. Each sees one class's share of
        the data, so a budget in steps shrinks with it (as many epochs), and a per-model
        cost such as annealed importance sampling may be cut.
    test_variants : further settings (`Variant`) the conformance suite runs as well.
    """

    name: str
    cls: type
    family: str
    data_kind: str
    default_dataset: str
    fixture_dataset: str
    fixture_size: int = 200
    test_params: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    quick_params: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    zoo_params: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    classifier_params: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    zoo_datasets: tuple[str, ...] = ()
    test_variants: tuple[Variant, ...] = ()

    def __post_init__(self):
        # The default data set always leads, and each name appears once.
        names = dict.fromkeys((self.default_dataset, *self.zoo_datasets))
        object.__setattr__(self, "zoo_datasets", tuple(names))

    @property
    def likelihood_kind(self):
        kind = self.cls.likelihood_kind
        if isinstance(kind, property):  # depends on the instance: the default one's
            return self.cls(**self.quick_params).likelihood_kind
        return kind

    @property
    def conditional(self) -> bool:
        conditional = self.cls.conditional
        if isinstance(conditional, property):  # a constructor option: the fixture's setting
            return bool(self.cls(**self.test_params).conditional)
        return conditional


_REGISTRY: dict[str, ModelEntry] = {}


def register(
    name: str,
    *,
    family: str,
    data_kind: str,
    default_dataset: str,
    fixture_dataset: str | None = None,
    fixture_size: int = 200,
    test_params: dict | None = None,
    quick_params: dict | None = None,
    zoo_params: dict | None = None,
    classifier_params: dict | None = None,
    zoo_datasets: tuple[str, ...] = (),
    test_variants: tuple[Variant, ...] = (),
):
    """Class decorator that adds a model to the registry under `name`.

    The zoo runs the model on `default_dataset` and on each of `zoo_datasets`; the
    conformance suite on its fixture with `test_params`, and with each of `test_variants`.
    """

    def decorator(cls):
        if name in _REGISTRY and _REGISTRY[name].cls is not cls:
            raise ValueError(f"model name {name!r} is already registered")
        cls._registry_name = name
        _REGISTRY[name] = ModelEntry(
            name=name,
            cls=cls,
            family=family,
            data_kind=data_kind,
            default_dataset=default_dataset,
            fixture_dataset=fixture_dataset or default_dataset,
            fixture_size=fixture_size,
            test_params=MappingProxyType(dict(test_params or {})),
            quick_params=MappingProxyType(dict(quick_params or {})),
            zoo_params=MappingProxyType(dict(zoo_params or quick_params or {})),
            classifier_params=MappingProxyType(dict(classifier_params or {})),
            zoo_datasets=tuple(zoo_datasets),
            test_variants=tuple(test_variants),
        )
        return cls

    return decorator


def get_entry(name: str) -> ModelEntry:
    """Return the registry entry of `name`, or raise UnknownModelError with close matches."""
    if not isinstance(name, str):
        raise UnknownModelError(f"a model name must be a string; got {name!r}.")
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), _REGISTRY, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"unknown model {name!r}.{hint} Known models: {', '.join(sorted(_REGISTRY))}."
        ) from None


def make(name: str, **params):
    """Build the registered model `name` with constructor arguments `params`."""
    entry = get_entry(name)
    valid = set(inspect.signature(entry.cls.__init__).parameters) - {"self"}
    unknown = sorted(set(params) - valid)
    if unknown:
        raise ValueError(
            f"{entry.cls.__name__} has no parameter {', '.join(map(repr, unknown))}; "
            f"valid parameters: {', '.join(sorted(valid))}."
        )
    return entry.cls(**params)


def list_models(family: str | None = None) -> list[ModelEntry]:
    """Return the registered models (of one `family` if given), sorted by family and name."""
    entries = [e for e in _REGISTRY.values() if family is None or e.family == family]
    return sorted(entries, key=lambda e: (e.family, e.name))
