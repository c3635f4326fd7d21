"""`python -m lab ...`, one module per command group.

labels  tokens, check, ratio
runs    train, runs
look    inspect, decode
ship    export
plan    plan (will it fit)
main    the parser and `main()`: exit codes and one-line errors
"""
