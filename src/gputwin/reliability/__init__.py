"""Reliability: fault models, checkpoint/restart and goodput (docs/reliability.md).

- :mod:`.faults`: the fault-model registry (``gpu``, ``hbm``, ``network``, ``maintenance``,
  ``straggler`` ...) with typed args and cited default rates (``data/faults.yaml``).
- :mod:`.goodput`: analytic expected interruptions, lost time, Young/Daly interval, ETTR.
- :mod:`.optimum`: a Monte-Carlo run of one job under failures (the simulated optimum
  checkpoint interval beside Young/Daly).
- :mod:`.injector`: seeded fault events on a cluster layout (the simulation drives the
  ledger's node health with them).
"""
