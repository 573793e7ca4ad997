"""The public API: what `pipeline` exports, and one exception tree."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pipeline
from pipeline import errors


def test_exports_are_exactly_the_public_names():
    assert sorted(pipeline.__all__) == pipeline.__all__
    for name in pipeline.__all__:
        assert hasattr(pipeline, name), name
    for required in ("parse_feed", "extract_article", "tag_article", "RegwireError", "Article", "FeedItem", "Tags",
                     "task_context", "poll_source", "open_backend", "SearchQuery"):
        assert required in pipeline.__all__


def test_every_library_error_derives_from_regwire_error():
    classes = [obj for _, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, Exception)]
    assert len(classes) >= 15
    assert all(issubclass(cls, errors.RegwireError) for cls in classes)
    for name in pipeline.__all__:
        obj = getattr(pipeline, name)
        if inspect.isclass(obj) and issubclass(obj, Exception):
            assert issubclass(obj, pipeline.RegwireError), name


def test_signatures_of_the_documented_functions():
    assert list(inspect.signature(pipeline.parse_feed).parameters)[:2] == ["content", "url"]
    assert list(inspect.signature(pipeline.extract_article).parameters)[:2] == ["html", "url"]
    assert list(inspect.signature(pipeline.tag_article).parameters)[:2] == ["title", "text"]


def test_the_library_never_imports_airflow():
    import subprocess
    import sys

    code = ("import sys, pipeline, pipeline.cli, pipeline.store, pipeline.tasks, pipeline.web, pipeline.metrics; "
            "print(any(m.startswith('airflow') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_extract_article_on_a_page(site):
    html = site.render("/news/kazakhstan-crypto-cash-conversion.html")
    article = pipeline.extract_article(html, site.url("/news/kazakhstan-crypto-cash-conversion.html?utm_source=x"))
    assert article.canonical_url == site.url("/news/kazakhstan-crypto-cash-conversion.html")
    assert article.title.startswith("Kazakhstan ready") and article.authors == ["Helen Partz"]
    assert article.language == "en" and article.published.date().isoformat() == "2022-09-28"
    assert "Advertisement" not in article.text and "Tokayev" in article.text


def test_extract_article_without_text_raises(site):
    import pytest

    with pytest.raises(pipeline.ExtractionError, match="no article text"):
        pipeline.extract_article(b"<html><body><script>var a = 1;</script></body></html>", "https://news.example/e")


def test_lazy_exports_match_the_public_names():
    assert set(pipeline._EXPORTS) | {"__version__"} == set(pipeline.__all__)


def test_version_and_shell_completion_on_the_command_line():
    from typer.testing import CliRunner

    from pipeline.cli import app

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"regwire {pipeline.__version__}"
    assert "--install-completion" in CliRunner().invoke(app, ["--help"]).output


def test_a_lazy_export_named_like_its_module_survives_a_sibling_import():
    """``recheck_suspended`` first imports ``pipeline.tasks.maintenance``; ``maintenance`` is still the function."""
    code = ("from pipeline.tasks import recheck_suspended\nfrom pipeline.tasks import maintenance\n"
            "assert callable(maintenance) and callable(recheck_suspended), maintenance\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
