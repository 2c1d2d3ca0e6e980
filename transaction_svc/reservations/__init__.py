"""Reservations (OCPP 2.0.1 block H) in transaction_svc, which owns the transactions that use
them: ``domain`` (states and rules, no I/O), ``models`` + ``repository`` (the ``reservations``
table, revision 0009), ``stations`` (ReserveNow and CancelReservation through device_svc),
``service`` (the use cases and the expiry sweep), ``convert`` + ``servicer`` (mixed into
:class:`transaction_svc.servicer.TransactionServicer`).
"""
