"""Grammars: probabilistic context-free grammars over sentences."""

from genzoo.grammar.pcfg import PCFG

__all__ = ["PCFG"]
