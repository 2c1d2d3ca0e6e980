"""OCPP 2.0.1 functional block K (smart charging) in transaction_svc, which owns its data.

What the CSMS knows of the charging profiles each station holds, the external limits stations
report, the EVs' charging needs and schedules, and the rules a profile must satisfy before the
CSMS sends it (OCPP 2.0.1 Part 2, K01). device_svc sends the commands (SetChargingProfile,
GetChargingProfiles, ClearChargingProfile, GetCompositeSchedule: it owns the route to the
station) and tells this package what the station accepted; transaction_svc keeps it, since the
rules need its transactions (a TxProfile belongs to an active one).

The same rooms as a service: ``domain`` (the values and the rules, no I/O), ``convert`` (OCPP
protobuf ⇄ the domain's OCPP JSON), ``models`` + ``repository`` (the tables in
transaction_svc's database and migration chain, revision 0006), ``service`` (the use cases, one
database transaction each) and ``servicer`` (the TransactionService methods of the block, mixed
into :class:`transaction_svc.servicer.TransactionServicer`). ``composite`` computes a composite
schedule from profiles (pure).
"""
