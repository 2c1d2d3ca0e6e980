"""OCTT-style conformance scenarios: the CSMS test cases of OCPP 2.0.1 Part 6, against the mesh.

The OCA's conformance test tool (OCTT) plays the charging station and checks the CSMS's answers.
Part 6 ("Test Cases") writes each CSMS test case as numbered steps, built from *reusable states*
(Booted, Authorized, EnergyTransferStarted, ...) that each bring the simulated station somewhere
and say what to do first when it is not there yet ("If State is NOT Authorized then execute
Reusable State Authorized").

- :mod:`tests.e2e.octt.station`: :class:`OcttStation`, a station that follows the specification
  (its messages are the steps' messages, its meter and its transaction are kept as a real one
  keeps them), and :class:`Verdicts`, the per-step verdicts of one run.
- :mod:`tests.e2e.octt.states`: the reusable states, one composable coroutine each.
- ``test_*.py``: the test cases, one test each, named by their Part 6 id.

Sources of the steps: OCPP 2.0.1 Part 6, Test Cases (Core & Advanced Security, FINAL,
2023-06-30), as transcribed per test case at ocpplab.com (TC_B_01, TC_E_02, TC_E_03, TC_E_04,
TC_J_01, and TC_E_09 for the connector notification); the reusable states and TC_E_01 as quoted by
public reimplementations of the OCTT (tzi-app/tzi-OCTT, based on Edition 4). Each test's
docstring names the step behind each check.
"""
