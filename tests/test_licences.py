"""Licence metadata matches what each distribution ships (source: affectlens/licences.py)."""

from __future__ import annotations

import json
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from affectlens import licences
from affectlens.analyzers import model_dir
from affectlens.registry import get_analyzer

ROOT = Path(__file__).resolve().parents[1]
DISTS = {licences.MAIN_DIST: ROOT / "src" / "affectlens" / "models",
         licences.NC_DIST: ROOT / "models-nc" / "affectlens_models_nc"}
PYPROJECT = {licences.MAIN_DIST: ROOT / "pyproject.toml", licences.NC_DIST: ROOT / "models-nc" / "pyproject.toml"}


def test_generated_documents_are_current():
    stale = [str(p) for p, text in licences.documents(ROOT).items() if p.read_text() != text]
    assert not stale, f"regenerate with python -m affectlens.licences --write: {stale}"


@pytest.mark.parametrize("dist", list(DISTS))
def test_each_distribution_declares_the_terms_of_the_models_it_ships(dist):
    shipped = sorted(p.parent.name for p in DISTS[dist].glob("*/meta.json"))
    assert shipped == sorted(m.name for m in licences.dist_models(dist))
    project = tomllib.loads(PYPROJECT[dist].read_text())["project"]
    assert project["name"] == dist
    assert project["license"] == licences.dist_expression(dist)
    assert "NOTICE" in project["license-files"]


def test_restricted_terms_are_named_where_they_ship():
    main, nc = licences.dist_expression(licences.MAIN_DIST), licences.dist_expression(licences.NC_DIST)
    assert main == "Apache-2.0 AND CC-BY-SA-4.0"
    for term in ("CC-BY-NC-SA-4.0", "GPL-3.0-only", "LicenseRef-FER2013", "LicenseRef-EmoDB"):
        assert term in nc and term not in main
    notice = (ROOT / "models-nc" / "NOTICE").read_text()
    assert "LicenseRef-FER2013:" in notice and "LicenseRef-EmoDB:" in notice and "non-commercial" in notice


def test_installed_metadata_matches_when_installed_from_this_tree():
    try:
        dist = metadata.distribution(licences.MAIN_DIST)
    except metadata.PackageNotFoundError:
        pytest.skip("affectlens is not installed (running from PYTHONPATH)")
    url = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
    if Path(url.removeprefix("file://")).resolve() != ROOT:
        pytest.skip(f"installed affectlens comes from {url or 'an index'}, not this tree")
    assert dist.metadata["License-Expression"] == licences.dist_expression(licences.MAIN_DIST)
    nc = metadata.distribution(licences.NC_DIST)
    assert nc.metadata["License-Expression"] == licences.dist_expression(licences.NC_DIST)


def test_missing_restricted_model_is_named_with_its_package(monkeypatch):
    from affectlens import analyzers, registry

    monkeypatch.setattr(analyzers, "EXTRA_MODEL_PACKAGES", ())
    monkeypatch.setattr(registry, "_INSTANCES", {})
    assert model_dir("face-cnn") == analyzers.MODELS_DIR / "face-cnn"
    with pytest.raises(analyzers.ModelUnavailable) as exc:
        get_analyzer("face")
    assert str(exc.value) == ("no model for face: face-cnn (research only: FER2013) ships separately "
                              "in affectlens-models-nc")
    assert get_analyzer("text").name == "text-minilm"  # the permissive model still runs


def test_every_model_card_names_its_distribution_and_licence():
    for m in licences.MODELS:
        card = (model_dir(m.name) / "MODEL_CARD.md").read_text()
        assert licences.card_line(m.name) in card, m.name
