"""Owned-fleet TCO (the model lives in :mod:`gputwin.energy.tco`, beside the price book,
so the energy ledger's ``owned`` rate uses it too); re-exported here for economics users."""

from gputwin.energy.tco import (
    HOURS_PER_YEAR,
    NetworkClass,
    OwnedAssumptions,
    OwnedCost,
    TcoTable,
    capital_recovery_factor,
    owned_cost,
    rental_prices,
    server_capex_usd,
    tco_table,
)

__all__ = ["HOURS_PER_YEAR", "NetworkClass", "OwnedAssumptions", "OwnedCost", "TcoTable",
           "capital_recovery_factor", "owned_cost", "rental_prices", "server_capex_usd",
           "tco_table"]
