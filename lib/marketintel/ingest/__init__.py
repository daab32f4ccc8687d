"""The Ingestor SDK: what a connector is, how it is run, and the one HTTP client.

:mod:`.sdk` defines a connector (:class:`~.sdk.Ingestor`, datasets, payloads); :mod:`.runner` and
:mod:`.follow` run it and own every store write (archive, quarantine, emit, checkpoint); :mod:`.http` is the
one HTTP client with its recorder; :mod:`.canonical` builds canonical rows; :mod:`.registry` finds the
installed connectors (entry points ``marketintel.connectors``).

The sources themselves live in ``connectors/<source>/`` (imported as ``marketintel.connectors.<source>``),
above the library: a connector imports this SDK, the library never imports a connector.
"""
