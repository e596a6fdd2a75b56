"""LART Studio: Lagrangian Action Recognition with Tracking (CVPR 2023), re-implemented.

Data flows one way: files -> `lartcore.data` -> `lartcore.model` -> `lartcore.infer` -> `lartcore.eval`
-> notebooks / dashboard.
"""
__version__ = "0.2.0"
