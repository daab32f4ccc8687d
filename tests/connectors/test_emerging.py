"""The emerging-markets catalogue names installed, unverified connectors and gives reasons for the others."""

from __future__ import annotations

from marketintel.connectors.emerging import CONNECTOR, EMERGING_MARKETS, NO_CONNECTOR, NOT_VERIFIED, lines
from marketintel.ingest import registry


def test_the_five_markets_of_issue_17_are_listed() -> None:
    assert {m.country for m in EMERGING_MARKETS} >= {"China", "India", "Brazil", "Mexico", "Nigeria"}
    assert len({m.iso2 for m in EMERGING_MARKETS}) == len(EMERGING_MARKETS)


def test_every_status_is_a_connector_or_a_reason() -> None:
    for m in EMERGING_MARKETS:
        assert m.status.startswith((CONNECTOR, NO_CONNECTOR)), m.country
        assert m.publisher and m.data_url and m.format_doc, m.country


def test_named_connectors_are_installed_and_unverified() -> None:
    named = [m for m in EMERGING_MARKETS if m.source is not None]
    assert {m.source for m in named} == {"iex", "ccee", "cenace"}
    for m in named:
        assert m.status.endswith(NOT_VERIFIED), m.status
        assert m.source in registry.names(), f"{m.country}: {m.source} is not installed"
        datasets = registry.load(m.source)().discover().datasets
        assert datasets and not any(d.verified for d in datasets), m.source
        assert all(d.description.endswith("(documented format, no recording)") for d in datasets), m.source


def test_no_connector_entries_give_a_reason() -> None:
    for m in EMERGING_MARKETS:
        if m.source is None:
            assert len(m.reason) > 20, f"{m.country}: no reason"


def test_lines_render_each_market() -> None:
    text = "\n".join(lines())
    for m in EMERGING_MARKETS:
        assert f"{m.country} [{m.iso2}]" in text and m.status in text
