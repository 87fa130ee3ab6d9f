"""Boltzmann machines: RBM, deep belief network, deep Boltzmann machine, and AIS."""

from genzoo.boltzmann.ais import AISResult, ais_log_partition, exact_log_partition
from genzoo.boltzmann.dbm import DBM
from genzoo.boltzmann.dbn import DBN
from genzoo.boltzmann.rbm import RBM

__all__ = ["AISResult", "DBM", "DBN", "RBM", "ais_log_partition", "exact_log_partition"]
