"""The station message log in device_svc: every OCPP frame the gateways exchanged with stations,
recorded as the gateways send it (:mod:`gateway.message_log`): one row per station and gateway
flush (``station_message_batches``, revision 0014), its frames a compressed blob parsed only when
read. Listed per station newest first (replies linked to their CALL's action then), kept for
``message_log_days`` and at most ``message_log_max_frames`` frames (the oldest go first).
``domain`` (decoding, linking, a page's choice; no I/O) + ``models`` + ``service`` (storage,
listing, pruning) + ``servicer``."""
