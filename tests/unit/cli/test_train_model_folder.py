"""``lorapipe train --model FOLDER`` on the user's own machine: the embedded service allows exactly that
folder (and nothing beside it); a configured service decides for itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorapipe.cli.train import own_model_folder
from lorapipe.errors import UnknownModelError
from lorapipe.models.references import check_model_reference
from lorapipe.settings import Settings

pytestmark = pytest.mark.unit


def test_the_embedded_service_allows_the_named_folder_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text("{}")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    model, settings = own_model_folder("mine", Settings(data_dir=tmp_path / "data"))
    assert model == str(mine) and settings.model_dirs == [mine]
    assert check_model_reference(model, settings) == str(mine)
    with pytest.raises(UnknownModelError):
        check_model_reference(str(tmp_path / "other"), settings)


@pytest.mark.parametrize("model", ["tiny-qwen3", "someone/model", "/no/such/folder"])
def test_other_references_are_left_to_the_service(tmp_path: Path, model: str) -> None:
    settings = Settings(data_dir=tmp_path)
    assert own_model_folder(model, settings) == (model, settings)


def test_a_configured_service_is_not_told_what_to_allow(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, api_url="http://127.0.0.1:8000")
    assert own_model_folder(str(tmp_path), settings) == (str(tmp_path), settings)
