"""Cost-accuracy sweeps: which cell and size is most accurate for a device budget.

space.py   what a trial is (data set, cell, units, layers, seed, init) and the presets
costs.py   device costs of a shape, measured once per shape on the emulated board
trial.py   one trial: train, quantize to int8, compile, evaluate, attach the shape's costs
study.py   the Optuna study: enqueue, parallel workers, resume, budget-constrained search
cli.py     ``tinyrnn sweep``
"""
