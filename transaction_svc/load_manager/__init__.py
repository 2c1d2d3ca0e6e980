"""The site load manager: keeps each site's EVSEs under its grid connection's limit.

Part of smart charging (OCPP 2.0.1 block K) in transaction_svc, which owns its data (the
transactions a limit belongs to, the EVs' charging needs, the profiles the stations hold). The
decisions are :mod:`transaction_svc.smart_charging.allocation`'s (pure); this package gives them
a site and a life: ``domain`` (sites, what is counted, the profiles sent, the reasons; pure),
``models`` + ``repository`` (the ``sites`` and ``site_limits`` tables, revision 0007),
``stations`` (device_svc's SetChargingProfile, the way to the stations), ``service`` (one worker
per site, the runs and their guarantees), ``convert`` + ``servicer`` (the Site resource, mixed
into :class:`transaction_svc.servicer.TransactionServicer`).
"""
