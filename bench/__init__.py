"""Load generator, baselines and the ``make bench`` runner.

- :mod:`bench.loadgen`: a station simulator (thousands of WebSocket stations in one process)
  usable against any OCPP 2.0.1 CSMS URL.
- :mod:`bench.baseline_ocpp`, :mod:`bench.baseline_raw`: the two reference central systems.
- :mod:`bench.run`: starts the mesh and the baselines, runs every scenario, prints the table.
"""
