"""OCPP 2.0.1 functional block O (display messages) in device_svc, which owns its data.

What each station shows as the CSMS knows it: a message the station accepted in
SetDisplayMessage, removed when it accepts (or does not know) ClearDisplayMessage, reconciled
from the NotifyDisplayMessages parts that answer a GetDisplayMessages. The same rooms as a
service: ``domain`` (criteria and rules, no I/O), ``models`` + ``repository`` (the
``display_messages`` and ``display_message_reports`` tables, device_svc's revision 0008),
``service`` (the use cases, one transaction each), ``convert`` and ``servicer`` (the
DeviceService methods of the block, mixed into :class:`device_svc.servicer.DeviceServicer`).
The commands themselves are device_svc's operations (:mod:`device_svc.operations`), which call
this package before and after they go to the station.
"""
