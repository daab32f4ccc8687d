"""The model registry: every registered model builds, names round-trip, unknown names list the known ones."""

from __future__ import annotations

import argparse
import concurrent.futures as cf

import pydantic
import pytest

from marketintel.backtest.cli import register_backtest
from marketintel.exceptions import MarketIntelError
from marketintel.flows.params import BacktestParams
from marketintel.forecast.models import (
    LEAR,
    LEAR_DEFAULT_WINDOW,
    LEAR_WINDOWS,
    MODELS,
    Ensemble,
    ForecastModel,
    SeasonalNaive,
    UnknownModelError,
    make_model,
    model_names,
    model_spec,
)


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mi")
    register_backtest(parser.add_subparsers(dest="command", required=True))
    return parser


def _run_args(model: str) -> list[str]:
    return ["backtest", "run", "--data", "x.csv", "--model", model, "--start", "2016-12-27", "--days", "1"]


@pytest.mark.parametrize("name", model_names(aliases=True))
def test_every_registered_model_builds_and_its_name_round_trips(name: str) -> None:
    spec = model_spec(name)
    assert MODELS[spec.name] is spec and spec.name == spec.name.lower()
    assert spec.description
    model = make_model(name)
    assert isinstance(model, ForecastModel) and model.name
    assert model.parameters()["name"] == model.name
    # any case, and the spec's own build, give the same model
    for again in (make_model(name.upper()), make_model(f" {name.title()} "), spec.build()):
        assert type(again) is type(model) and again.name == model.name
        assert again.parameters() == model.parameters()
    # the CLI and the backtest flow accept the name and hand it on as given (lower case)
    assert _run_parser().parse_args(_run_args(name.upper())).model == name
    assert BacktestParams(model=name).model == name


def test_registry_models() -> None:
    assert model_names() == ["naive", "naive-daily", "naive-weekly", "lear", "lear-ensemble"]
    assert model_spec("naive-epf") is MODELS["naive"]
    assert [type(make_model(n)) for n in model_names()[:3]] == [SeasonalNaive] * 3
    assert [make_model(n).name for n in model_names()[:3]] == ["Naive", "Naive daily", "Naive weekly"]
    lear = make_model("lear")
    assert isinstance(lear, LEAR) and lear.window == LEAR_DEFAULT_WINDOW
    ensemble = make_model("lear-ensemble")
    assert isinstance(ensemble, Ensemble) and ensemble.name == "LEAR Ensemble"
    assert [m.window for m in ensemble.members if isinstance(m, LEAR)] == list(LEAR_WINDOWS)


def test_window_and_pool_go_only_to_models_that_take_them() -> None:
    assert [n for n, s in MODELS.items() if s.takes_window] == ["lear"]
    assert [n for n, s in MODELS.items() if s.takes_pool] == ["lear", "lear-ensemble"]
    with cf.ThreadPoolExecutor(max_workers=1) as pool:
        lear = make_model("lear", 84, pool)
        assert isinstance(lear, LEAR) and (lear.window, lear.pool, lear.name) == (84, pool, "LEAR 84")
        ensemble = make_model("lear-ensemble", 84, pool)  # the ensemble has its own windows
        assert isinstance(ensemble, Ensemble)
        assert all(isinstance(m, LEAR) and m.pool is pool for m in ensemble.members)
        assert [m.name for m in ensemble.members] == [f"LEAR {w}" for w in LEAR_WINDOWS]
        assert make_model("naive", 84, pool).parameters() == {"name": "Naive", "kind": "epf"}


def test_unknown_names_list_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    known = "naive, naive-daily, naive-weekly, lear, lear-ensemble"
    with pytest.raises(UnknownModelError, match=f"unknown model 'arima'; known: {known}") as info:
        make_model("arima")
    assert isinstance(info.value, MarketIntelError) and isinstance(info.value, ValueError)
    with pytest.raises(pydantic.ValidationError, match=f"unknown model 'arima'; known: {known}"):
        BacktestParams(model="arima")
    with pytest.raises(SystemExit):
        _run_parser().parse_args(_run_args("arima"))
    err = capsys.readouterr().err
    assert "invalid choice: 'arima'" in err and all(name in err for name in model_names())


def test_cli_help_comes_from_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _run_parser().parse_args(["backtest", "run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for spec in MODELS.values():
        assert f"{spec.name}" in text and " ".join(spec.description.split()) in text
