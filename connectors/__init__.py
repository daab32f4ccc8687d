"""Connectors: the Ingestor SDK and one package per data source (``marketintel.connectors``).

Sources register themselves as entry points in the ``marketintel.connectors`` group, so a third party can
add one without editing a list here. The SDK arrives with the connector issue.
"""
