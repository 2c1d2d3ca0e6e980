"""The fleet at a glance and live (FleetService): counts of stations connected, charging,
faulted and offline, and the live state of chosen stations, streamed to whoever watches (the
console). ``domain`` (a station's state from what the CSMS knows, no I/O) + ``repository``
(the aggregate queries) + ``service`` (the watch loop, shared by every watcher) +
``servicer``. Nothing is stored: every figure is read from the stations' rows (and
transaction_svc for charging) while someone watches, so an idle fleet costs nothing here."""
