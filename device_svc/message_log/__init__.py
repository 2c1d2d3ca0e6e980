"""The station message log in device_svc: every OCPP frame the gateways exchanged with stations
(``station_messages``, revision 0013), recorded in batches the gateways send
(:mod:`gateway.message_log`), listed per station newest first, kept for ``message_log_days`` and
at most ``message_log_max_rows`` rows (the oldest go first). ``models`` + ``service`` (storage,
listing, pruning) + ``servicer``."""
