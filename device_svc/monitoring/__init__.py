"""OCPP 2.0.1 functional block N (Diagnostics: monitoring) in device_svc, which owns its data.

Events first: what stations report in NotifyEvent, stored part by part and listed per station
(variable monitors come later, in this package). The same rooms as a service: ``domain`` (the
events as values and their rules, no I/O), ``convert`` (OCPP protobuf ⇄ domain), ``models`` +
``repository`` (the ``events`` table in device_svc's database and migration chain), ``service``
(the use cases, one transaction each) and ``servicer`` (the DeviceService methods of the block,
mixed into :class:`device_svc.servicer.DeviceServicer`).
"""
