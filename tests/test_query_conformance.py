"""The query language's conformance suite: the same Lucene-syntax queries, the same expected hit sets, on the embedded
SQLite store, on the real OpenSearch node through opensearch-py, and through the elasticsearch-py client path (the
loopback CompatProxy in front of that node; see tests/searchnode.py).

The corpus is the seed article (tests/data/seed) and seven small articles built for boundaries: dates on the edges
of a range, "travel" and "rule" at known distances in both orders, authors, entities, languages. Like the store
contract suite it avoids words the two tokenizers split differently.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from searchnode import shared_compat_proxy, shared_search_node
from test_store_contract import drop_prefix, make_search_store
from typer.testing import CliRunner

from pipeline.errors import QuerySyntaxError
from pipeline.models import Article, WriteOutcome
from pipeline.query import MAX_QUERY_CHARS, SearchQuery, parse_query
from pipeline.store import EmbeddedBackend, SQLiteStore
from pipeline.store.base import ArticleWrite
from pipeline.tagging.models import Entity, Tags

SEED_DIR = Path(__file__).resolve().parent / "data" / "seed"
SEED = json.loads((SEED_DIR / "cointelegraph-2022-09-28-kazakhstan.json").read_text(encoding="utf-8"))
BACKENDS = ["sqlite", "opensearch", "elasticsearch-client-over-opensearch-node"]


def tags(topics: list[str], jurisdictions: list[str], entities: list[str] = ()) -> Tags:
    return Tags(topics=topics, jurisdictions=jurisdictions,
                primary_jurisdiction=jurisdictions[0] if jurisdictions else None,
                entities=[Entity(name=name, type="regulator") for name in entities], relevance=0.8, language="en",
                taxonomy_version="t1")


def at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC)


CORPUS = [
    # (slug, source, language, published (UTC), authors, title, text, tags)
    ("seed", "cointelegraph", "en", at("2022-09-28T10:00"), [SEED["author"]], SEED["title"],
     (SEED_DIR / SEED["text_file"]).read_text(encoding="utf-8"),
     tags(["fiat-ramp"], ["KZ"], ["AIFC"])),
    ("de", "handelsblatt", "de", at("2024-01-01T00:00"), ["Anna Becker"], "Bafin warnt vor Krypto Betrug",
     "Die Aufsicht warnt Anleger vor betrugerischen Plattformen.", None),
    ("hk", "theblock", "en", at("2024-02-10T08:00"), ["Jane Doe"], "Hong Kong opens a stablecoin sandbox",
     "The monetary authority admitted three issuers to its stablecoin sandbox. Regulation of payment tokens follows.",
     tags(["stablecoins"], ["HK"], ["HKMA"])),
    ("eu", "coindesk", "en", at("2024-05-20T12:00"), ["Desk"], "ESMA guidance on MiCA licensing",
     "Regulators published guidance on licensing under MiCA. It covers stablecoin reserves and bitcoin custody.",
     tags(["licensing", "stablecoins"], ["EU"], ["ESMA"])),
    ("price", "coindesk", "en", at("2024-06-30T23:30"), ["Desk"], "Bitcoin price climbs in Asian trading",
     "Bitcoin rose in Asian trading as traders bought the dip.", None),
    ("sec", "theblock", "en", at("2024-07-01T00:00"), ["Jane Doe"], "SEC sues an exchange over custody",
     "The securities regulator sued an exchange that offered bitcoin and stablecoin custody without registration.",
     tags(["enforcement"], ["US"], ["SEC"])),
    ("travel", "coindesk", "en", at("2024-08-05T09:00"), ["Desk"], "Dubai adopts the travel rule",
     "Dubai said firms must apply the travel rule to transfers above a threshold.", tags(["aml-kyc"], ["AE"])),
    ("reversed", "theblock", "en", at("2024-08-06T09:00"), ["Jane Doe"], "Supervisors explain a transfer rule",
     "Supervisors said the rule will travel with every transfer between firms.", tags(["aml-kyc"], ["SG"])),
    ("apart", "theblock", "en", at("2024-08-07T09:00"), ["Jane Doe"], "Brokers and transfers",
     "Transfers that travel between brokers need a new rule on originator data.", tags(["aml-kyc"], [])),
]
ALL = {row[0] for row in CORPUS}


def write_for(slug, source, language, published, authors, title, text, tag) -> ArticleWrite:
    url = f"https://news.example/{source}/{slug}"
    return ArticleWrite(
        article=Article(url=url, canonical_url=url, title=title, text=text, published=published, language=language,
                        authors=authors),
        source=source, fetched_at=published, feed_url=f"https://news.example/{source}.xml", tags=tag)


WRITES = [write_for(*row) for row in CORPUS]
SLUG = {w.id: row[0] for row, w in zip(CORPUS, WRITES, strict=True)}


@pytest.fixture(scope="module", params=BACKENDS)
def store(request, tmp_path_factory):
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path_factory.mktemp("conformance") / "q.db")
    elif request.param == "opensearch":
        s = make_search_store("opensearch", shared_search_node().url, prefix=f"q{uuid.uuid4().hex[:10]}")
    else:
        s = make_search_store("elasticsearch", shared_compat_proxy().url, prefix=f"q{uuid.uuid4().hex[:10]}")
    assert [r.outcome for r in s.write_articles(WRITES)] == [WriteOutcome.NEW] * len(WRITES)
    yield s
    if request.param != "sqlite":
        drop_prefix(s)
    s.close()


def hits(store, q: str) -> set[str]:
    result = store.search(SearchQuery(q=q, limit=50, facets=False))
    found = {SLUG[h.id] for h in result.hits}
    assert result.total == len(found)
    return found


STABLECOIN_NOT_BITCOIN = {"hk"}
CONFORMANCE = {
    # boolean operators: AND / NOT / - / + mean the same thing, words without an operator are ANDed
    "stablecoin AND NOT bitcoin": STABLECOIN_NOT_BITCOIN,
    "stablecoin -bitcoin": STABLECOIN_NOT_BITCOIN,
    "stablecoin NOT bitcoin": STABLECOIN_NOT_BITCOIN,
    "+stablecoin -bitcoin": STABLECOIN_NOT_BITCOIN,
    "stablecoin bitcoin": {"eu", "sec"},
    "stablecoin AND bitcoin": {"eu", "sec"},
    "stablecoin OR bitcoin": {"hk", "eu", "sec", "price"},
    "NOT bitcoin": ALL - {"eu", "sec", "price"},
    "-bitcoin -stablecoin": ALL - {"eu", "sec", "price", "hk"},
    # parentheses, and precedence without them (AND binds tighter than OR; the implicit AND loosest)
    "(stablecoin OR bitcoin) AND NOT custody": {"hk", "price"},
    "stablecoin OR bitcoin AND asian": {"hk", "eu", "sec", "price"},
    "(stablecoin OR bitcoin) AND asian": {"price"},
    "stablecoin OR bitcoin -custody": {"hk", "price"},
    "kazakhstan OR (hong AND sandbox)": {"seed", "hk"},
    "NOT (bitcoin OR stablecoin OR rule)": ALL - {"eu", "sec", "price", "hk", "travel", "reversed", "apart"},
    # fields
    "title:Kazakhstan": {"seed"},
    "title:kazakhstan AND text:tokayev": {"seed"},
    "title:tokayev": set(),
    "text:stablecoin": {"hk", "eu", "sec"},
    "title:stablecoin": {"hk"},
    "title:(stablecoin OR bitcoin)": {"hk", "price"},
    'title:"travel rule"': {"travel"},
    "source:coindesk": {"eu", "price", "travel"},
    "source:COINDESK": {"eu", "price", "travel"},
    "source:coin*": {"eu", "price", "travel", "seed"},
    f'author:"{SEED["author"]}"': {"seed"},
    'author:"jane doe"': {"hk", "sec", "reversed", "apart"},
    "author:Jane*": {"hk", "sec", "reversed", "apart"},
    "topic:stablecoins": {"hk", "eu"},
    "topic:(licensing OR enforcement)": {"eu", "sec"},
    "jurisdiction:kz": {"seed"},
    "jurisdiction:KZ AND cash": {"seed"},
    "entity:esma": {"eu"},
    "entity:AIFC OR entity:HKMA": {"seed", "hk"},
    "language:de": {"de"},
    "-language:en": {"de"},
    "bitcoin OR source:handelsblatt": {"eu", "sec", "price", "de"},
    "custody -source:theblock": {"eu"},
    # phrases (a hyphenated word is a phrase too) and proximity: at most N other words between, in any order
    '"stablecoin sandbox"': {"hk"},
    '"sandbox stablecoin"': set(),
    "crypto-to-cash": {"seed"},
    '"travel rule"': {"travel"},
    '"travel rule"~1': {"travel", "reversed"},
    '"rule travel"~1': {"travel", "reversed"},
    '"travel rule"~4': {"travel", "reversed"},
    '"travel rule"~5': {"travel", "reversed", "apart"},
    '"kazakhstan cryptocurrency adoption"~3': {"seed"},
    # date ranges: [] inclusive, {} exclusive, * open, whole years, months and days
    "published:[2024-01-01 TO 2024-06-30]": {"de", "hk", "eu", "price"},
    "published:{2024-01-01 TO 2024-06-30}": {"hk", "eu"},
    "published:[2024-06-30 TO *]": {"price", "sec", "travel", "reversed", "apart"},
    "published:[* TO 2023]": {"seed"},
    "published:2022": {"seed"},
    "published:2024-07": {"sec"},
    "published:2024-08-06": {"reversed"},
    "published:>=2024-07-01": {"sec", "travel", "reversed", "apart"},
    "published:<2024-02": {"seed", "de"},
    'published:"2024-06-30T23:30:00Z"': {"price"},
    "published:[2024-01-01 TO 2024-06-30] -bitcoin": {"de", "hk"},
    # prefixes: a prefix of the word's stem, on both backends
    "stable*": {"hk", "eu", "sec"},
    "regul*": {"hk", "eu", "sec", "seed"},
    "kazakh*": {"seed"},
    "regulations*": {"hk", "eu", "sec", "seed"},
    "regulat*": set(),
    "title:bitc*": {"price"},
    "transfer* -rule": set(),
    # matching is case- and accent-insensitive and stemmed
    "BÉTRUGERISCHEN": {"de"},
    "regulators": {"hk", "eu", "sec", "seed"},
}


@pytest.mark.slow
@pytest.mark.parametrize("q", list(CONFORMANCE))
def test_conformance(store, q):
    assert hits(store, q) == CONFORMANCE[q]


@pytest.mark.slow
def test_title_kazakhstan_finds_the_seed_first(store):
    result = store.search(SearchQuery(q="title:Kazakhstan OR kazakhstan"))
    assert SLUG[result.hits[0].id] == "seed" and result.hits[0].title == SEED["title"]


@pytest.mark.slow
def test_query_fields_and_request_filters_combine(store):
    result = store.search(SearchQuery(q="stablecoin OR bitcoin", sources=["coindesk"], limit=50))
    assert {SLUG[h.id] for h in result.hits} == {"eu", "price"}
    result = store.search(SearchQuery(q="topic:stablecoins", jurisdictions=["EU"], limit=50))
    assert {SLUG[h.id] for h in result.hits} == {"eu"}


# -- errors ---------------------------------------------------------------------------------------------------------

ERRORS = {
    # query → (0-based position, words of the message)
    "MiCA~": (4, "fuzzy matching"),
    "MiCA~2 licensing": (4, "fuzzy matching"),
    "/regul.*/": (0, "regular expressions"),
    "licensing^2": (9, "boosts"),
    '"travel rule': (0, "quote is not closed"),
    "(stablecoin OR bitcoin": (22, "ends too early"),
    "stablecoin AND": (14, "ends too early"),
    "stablecoin)": (10, "unexpected ')'"),
    "regulator:SEC": (0, "unknown field 'regulator'"),
    "title:text:x": (6, "fields cannot nest"),
    "re?ul": (2, "wildcards work only as a trailing *"),
    "sta*le": (3, "wildcards work only as a trailing *"),
    "*": (0, "'*' alone is not a query"),
    "a && b": (2, "no letters or digits"),
    "title:[a TO b]": (6, "ranges work on published only"),
    "published:[2024-13-01 TO *]": (11, "not a date"),
    "published:[2024-06 TO 2024-01]": (10, "the range is empty"),
    '"travel rule"~1.5': (13, "whole number"),
    "source:~2": (7, "unexpected"),
    "published:2024-01-01T00:00+05:00": (10, "quote a date-time with a zone offset"),
    "x" * (MAX_QUERY_CHARS + 1): (MAX_QUERY_CHARS, "the limit is 1000"),
}


@pytest.mark.parametrize("q", list(ERRORS))
def test_bad_queries_name_the_position(q):
    position, words = ERRORS[q]
    with pytest.raises(QuerySyntaxError) as err:
        parse_query(q)
    assert err.value.position == position and words in str(err.value)
    assert f"(at character {position + 1})" in str(err.value)


@pytest.mark.slow
def test_bad_queries_fail_the_same_on_every_backend(store):
    for q in ("MiCA~", "/x/", "title:[a TO b]"):
        with pytest.raises(QuerySyntaxError):
            store.search(SearchQuery(q=q))


FUZZ_ATOMS = ["a", "b", "regul", "title:", "text:", "published:", "topic:", "author:", "entity:", "language:",
              "source:", "(", ")", "[", "]", "{", "}", " TO ", "*", "?", "~", "~2", "^2", '"', "-", "+", " AND ",
              " OR ", " NOT ", "\\", ":", "/", "2024", "2024-01-01", ">=", "<", " ", "&&", "!", "x*", '"a b"', "'",
              "é", "_", "T10:00", '""', "ß"]


@pytest.mark.slow
def test_random_syntax_is_answered_or_refused_never_crashes(store):
    """Fuzz: random strings of Lucene's special characters either search or raise QuerySyntaxError, on every
    backend (never a store or engine error, never a traceback)."""
    rng = random.Random(13)
    runs = 2000 if isinstance(store, SQLiteStore) else 150
    answered = 0
    for _ in range(runs):
        q = "".join(rng.choice(FUZZ_ATOMS) for _ in range(rng.randint(1, 10)))
        try:
            store.search(SearchQuery(q=q, facets=False))
            answered += 1
        except QuerySyntaxError as exc:
            assert exc.position is None or 0 <= exc.position <= len(q), q
    assert answered > runs // 20  # the generator does produce valid queries


def test_a_10kb_query_is_refused_before_any_work(tmp_path):
    q = "stablecoin OR " * 730  # ~10 KB
    with SQLiteStore(tmp_path / "big.db") as store:
        store.write_articles(WRITES)
        started = time.perf_counter()
        with pytest.raises(QuerySyntaxError, match="the limit is 1000"):
            store.search(SearchQuery(q=q))
        assert time.perf_counter() - started < 1.0  # generous: the cap is checked before parsing


def test_parsing_a_query_at_the_cap_stays_cheap():
    # the longest allowed query, deeply grouped and full of operators, parses (or is refused) quickly
    for q in ["(a OR b) AND " * 76 + "c", "(" * 21 + "a" + ")" * 21, "-a " * 333]:
        assert len(q) <= MAX_QUERY_CHARS
        started = time.perf_counter()
        try:
            parse_query(q)
        except QuerySyntaxError as exc:
            assert "nests deeper" in str(exc)
        assert time.perf_counter() - started < 1.0


# -- the command line and the API -----------------------------------------------------------------------------------


@pytest.fixture
def cli_home(tmp_path, monkeypatch):
    monkeypatch.setenv("REGWIRE_HOME", str(tmp_path))
    with SQLiteStore(tmp_path / "regwire.db") as store:
        store.write_articles(WRITES)
    return tmp_path


def cli(*args: str, as_json: bool = True):
    from pipeline.cli import app

    return CliRunner().invoke(app, ["search", *(["--json"] if as_json else []), *args])


def cli_hits(result) -> set[str]:
    assert result.exit_code == 0, result.output
    return {SLUG[h["id"]] for h in json.loads(result.stdout)["hits"]}


def test_cli_leading_minus_is_an_exclusion_not_an_option(cli_home):
    assert cli_hits(cli("-bitcoin")) == ALL - {"eu", "sec", "price"}
    assert cli_hits(cli("--", "-bitcoin")) == ALL - {"eu", "sec", "price"}
    assert cli_hits(cli("stablecoin", "-bitcoin")) == STABLECOIN_NOT_BITCOIN
    assert cli_hits(cli("stablecoin AND NOT bitcoin")) == STABLECOIN_NOT_BITCOIN
    assert cli_hits(cli("title:Kazakhstan", "--limit", "5")) == {"seed"}


def test_cli_bad_query_and_mistyped_option_exit_2(cli_home):
    result = cli("MiCA~", as_json=False)
    message = " ".join(result.output.split())  # rich wraps long messages
    assert result.exit_code == 2 and "fuzzy matching" in message and "at character 5" in message
    result = cli("stablecoin", "--limt", "5")
    assert result.exit_code == 2 and "no such option: --limt" in result.output
    started = time.perf_counter()
    result = cli("x " * 5000)
    assert result.exit_code == 2 and "the limit is 1000" in result.output
    assert time.perf_counter() - started < 5.0  # generous; it took 56 s before the cap


def test_api_bad_query_is_400_with_the_position(tmp_path):
    from pipeline.web import create_app

    with SQLiteStore(tmp_path / "api.db") as store:
        store.write_articles(WRITES)
        client = TestClient(create_app(lambda: EmbeddedBackend(store.path, articles=store)))
        response = client.get("/api/search", params={"q": "MiCA~"})
        assert response.status_code == 400 and "at character 5" in response.json()["detail"]
        response = client.get("/api/search", params={"q": "x" * 10_000})
        assert response.status_code == 400 and "the limit is 1000" in response.json()["detail"]
        body = client.get("/api/search", params={"q": "title:Kazakhstan"}).json()
        assert [SLUG[h["id"]] for h in body["hits"]] == ["seed"]


def test_alerts_add_checks_the_query_like_search(cli_home):
    from pipeline.cli import app

    def add(name: str, q: str):
        return CliRunner().invoke(app, ["alerts", "add", name, "--owner", "desk", "-q", q,
                                        "--channel", "json://127.0.0.1:9/h"])

    result = add("fuzzy", "MiCA~")
    message = " ".join(result.output.split())  # rich wraps long messages
    assert result.exit_code == 2 and "fuzzy matching" in message and "at character 5" in message
    result = add("long", "x " * 600)
    assert result.exit_code == 2 and "the limit is 1000" in " ".join(result.output.split())
    result = add("kz", "title:Kazakhstan -bitcoin")
    assert result.exit_code == 0, result.output
