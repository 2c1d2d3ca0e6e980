"""Tariffs, the cost of transactions and their charge detail records (OCPP 2.0.1 block I, and
beyond) in transaction_svc, which owns the transactions they price.

``domain`` (tariffs, the choice of a transaction's tariff, charging and idle time, the cost in
exact decimals; no I/O), ``models`` + ``repository`` (the ``tariffs``, ``transaction_costs``
and ``charge_detail_records`` tables, revision 0008), ``service`` (tariffs as a resource; the
running and final cost of a transaction; its record), ``convert`` + ``servicer`` (mixed into
:class:`transaction_svc.servicer.TransactionServicer`).
"""
