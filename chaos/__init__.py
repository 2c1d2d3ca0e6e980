"""``python -m chaos``: real processes under a steady transaction load, killed and restarted;
then what the stations were told is compared with what the database holds.

Modules: :mod:`chaos.runner` (the run: meshes, faults, report), :mod:`chaos.load` (the fleet of
resending stations and the offline burst), :mod:`chaos.reconcile` (stations' ledgers against
the stored rows), :mod:`chaos.postgres` (a private PostgreSQL server to kill).
"""
