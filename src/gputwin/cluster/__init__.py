"""Cluster state: layout (nodes, leaves, scale-up domains) and the allocation ledger."""

from gputwin.cluster.layout import ClusterLayout
from gputwin.cluster.ledger import Ledger, LedgerError, Placement, make_placement

__all__ = ["ClusterLayout", "Ledger", "LedgerError", "Placement", "make_placement"]
