"""Prefect flows (``marketintel.flows``): each runs a parameterised notebook with papermill.

The flows arrive with the orchestration issue.
"""
