"""Economics: owned-fleet total cost of ownership, rental and API prices, build vs buy.

Domain code over the catalog, the price book (``energy/data/price_book.yaml``) and the
performance models; ``run/estimate_tco.py`` wires it to the serving estimate. Every number
comes from ``economics/data/*.yaml`` with a ``source:``.
"""
