"""The sandbox: a MAAS region stand-in served from the installed package.

simulator.py is the region (standard library only, no other maascurl module),
data/ the description and sample answers it serves. It is the test suite's MAAS
too; in the package only the `maascurl sandbox` command uses it.
"""
