"""Power, cooling, grid carbon and price, water and cost (rank 5: above perf, below cluster).

Modules: ``power`` (job/node power, capping, energy of phases), ``facility`` (cooling, PUE,
WUE, racks, site budget), ``grid`` (series and forecasts), ``grid_readers`` (real CSVs),
``profiles``/``regions`` (synthetic regional defaults), ``accounting`` (the ledger),
``tables`` (sourced data in ``energy/data``). See docs/energy.md.
"""
