"""Tests for pipeline.tagging: the seed article, dev-set floors, taxonomy errors, context rules, evidence."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from pipeline.errors import ConfigError, TaxonomyError
from pipeline.tagging import TOPICS, Tagger, Tags, default_tagger, load_taxonomy, tag_article
from pipeline.tagging.evaluation import evaluate, load_labeled

DEV_SET = Path(__file__).resolve().parent / "tagging" / "dev_set.jsonl"
SEED_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "seed"
SEED_FILE = SEED_DIR / "cointelegraph-2022-09-28-kazakhstan.txt"
SEED_TITLE = "Kazakhstan ready to legalize crypto-to-cash conversion, says president"


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger()


@pytest.fixture(scope="module")
def articles():
    return load_labeled(DEV_SET)


def _labels(tags: Tags, prefix: str) -> set[str]:
    return {m.label for m in tags.matches if m.label.startswith(prefix)}


# ---------------------------------------------------------------------------------------- seed
@pytest.fixture(scope="module")
def seed_tags(tagger: Tagger) -> Tags:
    if not SEED_FILE.exists():
        pytest.skip(f"seed article not found at {SEED_FILE} (shared/ is not next to this checkout)")
    return tagger.tag(SEED_TITLE, SEED_FILE.read_text(encoding="utf-8"))


def test_seed_jurisdictions_and_primary(seed_tags: Tags):
    assert seed_tags.primary_jurisdiction == "KZ"
    # Ukraine appears only as "to fight in Ukraine": a passing mention
    assert set(seed_tags.jurisdictions) == {"KZ", "RU", "GE", "EU", "US"}


def test_seed_topics(seed_tags: Tags):
    assert set(seed_tags.topics) == {"fiat-ramp", "legalization", "licensing", "mining", "sanctions", "payments"}
    # "plan to ban Russian citizens" is a sanctions measure, not a crypto ban
    assert "ban" not in seed_tags.topics


def test_seed_entities(seed_tags: Tags):
    names = {e.name for e in seed_tags.entities}
    expected = {"Eurasian Bank", "Intebix", "ATAIX", "Halyk Bank", "Altyn Bank", "AIFC", "Bank of Russia", "US Treasury"}
    assert expected <= names
    by_name = {e.name: e for e in seed_tags.entities}
    assert by_name["AIFC"].jurisdiction == "KZ"
    assert by_name["AIFC"].type == "financial_centre"
    assert by_name["Bank of Russia"].type == "central_bank"
    assert by_name["US Treasury"].jurisdiction == "US"


def test_seed_is_relevant_english(seed_tags: Tags):
    assert seed_tags.relevance >= 0.9
    assert seed_tags.language == "en"


def test_seed_evidence_points_at_the_text(seed_tags: Tags):
    text = SEED_FILE.read_text(encoding="utf-8")
    fields = {"title": SEED_TITLE, "text": text}
    for match in seed_tags.matches:
        source = fields[match.field]
        assert source[match.offset:match.offset + len(match.phrase)] == match.phrase
    # the AIFC is named by its full title in the article
    aifc = [m for m in seed_tags.matches if m.label == "entity:AIFC"]
    assert [m.phrase for m in aifc] == ["Astana International Financial Center"]
    # every output label has evidence, and evidence is only given for output labels
    assert _labels(seed_tags, "topic:") == {f"topic:{t}" for t in seed_tags.topics}
    assert _labels(seed_tags, "jurisdiction:") == {f"jurisdiction:{j}" for j in seed_tags.jurisdictions}


# ---------------------------------------------------------------------------------------- dev set
def test_dev_set_shape(articles):
    assert len(articles) >= 200
    english = [a for a in articles if a.language == "en"]
    assert sum(not a.labels.relevant for a in english) >= 40
    heldout = [a for a in articles if a.split == "heldout"]
    assert len(heldout) >= 30
    # the current held-out set was written at realistic news length (docs/tagging.md)
    assert all(250 <= len(a.text.split()) <= 600 for a in heldout), [a.id for a in heldout]
    assert len({a.id for a in articles}) == len(articles)
    for a in articles:
        assert set(a.labels.topics) <= set(TOPICS), a.id
        assert a.labels.primary is None or a.labels.primary in a.labels.jurisdictions, a.id
        assert not a.labels.topics or a.labels.relevant, f"{a.id}: topics are only labelled on relevant articles"


def test_dev_split_floors(tagger: Tagger, articles):
    dev = [a for a in articles if a.split == "dev" and a.language == "en"]
    report = evaluate(dev, tagger.tag)
    detail = "\n".join(report.errors)
    # measured 0.93 / 0.95 / 0.99 / 0.99 on 209 articles (docs/tagging.md)
    assert report.topics.f1 >= 0.90, detail
    assert report.jurisdictions.f1 >= 0.93, detail
    assert report.primary_accuracy >= 0.97, detail
    assert report.relevance_accuracy >= 0.97, detail


def test_heldout_split_regression_floors(tagger: Tagger, articles):
    # Never tuned on; these floors sit just under the figures measured when the split was written
    # (docs/tagging.md) and only guard against regressions.
    heldout = [a for a in articles if a.split == "heldout" and a.language == "en"]
    report = evaluate(heldout, tagger.tag)
    detail = "\n".join(report.errors)
    # round 7, taxonomy 2c40d37b9bd3: measured 0.84 / 0.88 / 0.94 / 0.94 on 31 articles
    assert report.topics.f1 >= 0.80, detail
    assert report.jurisdictions.f1 >= 0.85, detail
    assert report.primary_accuracy >= 0.90, detail
    assert report.relevance_accuracy >= 0.90, detail


def test_non_english_articles_record_their_language(tagger: Tagger, articles):
    others = [a for a in articles if a.language != "en"]
    assert others
    for a in others:
        assert tagger.tag(a.title, a.text).language == a.language


# ---------------------------------------------------------------------------------------- context rules
BAN_BODY = (
    "The central bank said it would also tighten supervision of crypto exchanges and require them to "
    "register under the new anti-money laundering law. Lawmakers are drafting the bill, and the "
    "regulator said cryptocurrency platforms must comply with the rules by next year."
)


def test_denied_plans_to_ban_is_not_a_ban(tagger: Tagger):
    denied = tagger.tag(
        "Vietnam's central bank denied plans to ban cryptocurrency trading",
        "The State Bank of Vietnam on Monday denied plans to ban cryptocurrency trading. " + BAN_BODY,
    )
    planned = tagger.tag(
        "Vietnam's central bank plans to ban cryptocurrency trading",
        "The State Bank of Vietnam on Monday announced plans to ban cryptocurrency trading. " + BAN_BODY,
    )
    assert "ban" in planned.topics
    assert "ban" not in denied.topics
    assert denied.is_relevant and "VN" in denied.jurisdictions


def test_hedged_evidence_counts_less(tagger: Tagger):
    later = " Officials said the ban on crypto mining would start in May. " + BAN_BODY
    plain = tagger.tag("Crypto rules", "The government will ban crypto mining in the north." + later)
    hedged = tagger.tag("Crypto rules", "The government is said to plan to ban crypto mining in the north." + later)
    first = lambda tags: min((m for m in tags.matches if m.label == "topic:ban"), key=lambda m: m.offset)  # noqa: E731
    assert "ban" in plain.topics and "ban" in hedged.topics
    assert first(hedged).weight == pytest.approx(first(plain).weight * load_taxonomy().scoring.hedge_factor)


def test_hedging_does_not_weaken_subject_topics(tagger: Tagger):
    # "is exploring a CBDC" is still a statement about CBDCs, though "could ban" is less than a ban
    body = ("The central bank said crypto remains illegal and warned the public about the risks. "
            "Officials said the central bank is exploring a central bank digital currency.")
    tags = tagger.tag("Central bank warns on crypto", body)
    cbdc = [m for m in tags.matches if m.label == "topic:cbdc"]
    assert "cbdc" in tags.topics
    scoring = load_taxonomy().scoring
    expected = load_taxonomy().topics["cbdc"].patterns["central bank digital currenc*"] * scoring.lead_weight
    assert cbdc and cbdc[0].offset < scoring.lead_chars and cbdc[0].weight == pytest.approx(expected)


def test_weak_words_alone_do_not_make_a_topic(tagger: Tagger):
    # "banks" is 0.25 fiat-ramp evidence: named again and again it still says nothing about on-ramps
    banks = " ".join(["Banks said the crypto rules were welcome, and banks will comply with them."] * 6)
    tags = tagger.tag("Regulator publishes crypto licensing rules",
                      "The regulator published licensing rules for crypto exchanges. " + banks)
    assert "fiat-ramp" not in tags.topics
    with_anchor = tagger.tag("Regulator publishes crypto licensing rules",
                             "The regulator published licensing rules for crypto exchanges. " + banks
                             + " Exchanges will be able to open bank accounts for customers.")
    assert "fiat-ramp" in with_anchor.topics


def test_a_company_named_often_counts_once_for_its_home(tagger: Tagger):
    # Coinbase is a US company; naming it ten times in an Irish enforcement story is not US news
    text = ("The Central Bank of Ireland fined Coinbase Europe for anti-money laundering failures. "
            + "Coinbase said it had fixed the problem. " * 10)
    tags = tagger.tag("Irish regulator fines Coinbase", text)
    assert tags.primary_jurisdiction == "IE"
    assert "US" not in tags.jurisdictions
    us = [m for m in tags.matches if m.label == "jurisdiction:US"]
    assert not us


def test_born_founder_is_not_a_jurisdiction(tagger: Tagger):
    text = (
        "The US Securities and Exchange Commission sued the exchange on Tuesday, accusing it of "
        "operating an unregistered securities exchange. The complaint, filed in federal court, seeks "
        "penalties and an injunction. The exchange's Canadian-born founder said the company would fight "
        "the lawsuit and keep serving customers while the crypto case proceeds."
    )
    tags = tagger.tag("SEC sues crypto exchange over unregistered trading", text)
    assert tags.jurisdictions == ["US"]
    assert tags.primary_jurisdiction == "US"
    # the same country named as a regulator's home is a jurisdiction
    canadian = text.replace("The exchange's Canadian-born founder said", "Canada's securities regulators said")
    assert "CA" in tagger.tag("SEC sues crypto exchange over unregistered trading", canadian).jurisdictions


def test_prices_in_asian_trading_is_not_a_jurisdiction(tagger: Tagger):
    tags = tagger.tag(
        "Bitcoin rallies in Asian trading",
        "Bitcoin prices rose 4% in Asian trading on Monday and ether gained 6% in Japanese trading, as "
        "traders bought after short liquidations. Bitcoin broke through resistance at $70,000 and analysts "
        "said the next level was the all-time high. Crypto funds saw inflows for a third day.",
    )
    assert tags.jurisdictions == []
    assert tags.primary_jurisdiction is None
    assert tags.relevance < 0.5 and tags.topics == []


def test_capitalisation_and_word_boundaries(tagger: Tagger):
    tags = tagger.tag(
        "Crypto exchange tells us about its urban banking partners",
        "Let us say the exchange serves customers in urban areas through a bank partner. The turkey "
        "sandwich at the crypto conference was popular. Banks and banking apps were discussed.",
    )
    assert "US" not in tags.jurisdictions and "TR" not in tags.jurisdictions
    assert not any(m.phrase.lower() == "ban" for m in tags.matches)


def test_ambiguous_acronym_follows_the_article(tagger: Tagger):
    tags = tagger.tag(
        "Nigeria's SEC registers two crypto exchanges",
        "Nigeria's Securities and Exchange Commission said on Friday that it had registered two crypto "
        "exchanges under its new rules for digital assets. The SEC said Nigerian investors should only "
        "use licensed platforms, and warned that unregistered firms would face penalties.",
    )
    assert tags.primary_jurisdiction == "NG"
    assert "US" not in tags.jurisdictions
    assert {e.name: e.jurisdiction for e in tags.entities}.get("SEC Nigeria") == "NG"


def test_relevance_low_for_regulation_of_other_things(tagger: Tagger):
    tags = tagger.tag(
        "EU lawmakers approve rules on packaging waste",
        "The European Parliament approved a law that bans some single-use plastic packaging and sets "
        "recycling targets. Companies that break the rules face fines, and the European Commission will "
        "supervise national authorities. The regulation still needs approval from the Council.",
    )
    assert tags.relevance < 0.5
    assert tags.topics == []
    assert tags.primary_jurisdiction == "EU"


def test_language_is_recorded(tagger: Tagger):
    german = tagger.tag(
        "BaFin warnt vor Kryptobetrug",
        "Die Finanzaufsicht BaFin warnt Verbraucher vor unseriösen Anbietern von Kryptowerten. Die "
        "Behörde hat nach eigenen Angaben mehrere Plattformen untersagt, die ohne Erlaubnis tätig sind.",
    )
    assert german.language == "de"
    assert "DE" in german.jurisdictions  # names and acronyms still match in other languages
    assert tagger.tag("", "").language == "und"


def test_tags_record_the_taxonomy_version(tagger: Tagger):
    tags = tag_article("Crypto", "Bitcoin rose.")
    assert tags.taxonomy_version == tagger.version == load_taxonomy().version
    assert len(tags.taxonomy_version) == 12
    assert 0.0 <= tags.relevance <= 1.0
    assert set(tags.topics) <= set(TOPICS)


# ---------------------------------------------------------------------------------------- taxonomy files
def _write(tmp_path: Path, text: str, name: str = "taxonomy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_bad_yaml_names_file_and_line(tmp_path: Path):
    path = _write(tmp_path, "topics:\n  ban: {patterns: {ban: 1.0}\n")
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(path)
    message = str(err.value)
    assert str(path) in message and "invalid YAML" in message and "line" in message
    assert isinstance(err.value, ConfigError)


def test_unknown_topic_id_names_file_and_entry(tmp_path: Path):
    path = _write(tmp_path, """
        topics:
          minning:
            patterns: {hashrate: 1.0}
    """)
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(path)
    message = str(err.value)
    assert str(path) in message and "'minning'" in message and "unknown topic id" in message


def test_misspelt_field_names_file_and_entry(tmp_path: Path):
    path = _write(tmp_path, """
        topics:
          ban:
            pattern: {embargo: 1.0}
    """)
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(path)
    assert f"{path}: topics.ban.pattern:" in str(err.value)


def test_bad_weight_and_bad_jurisdiction_are_named(tmp_path: Path):
    path = _write(tmp_path, """
        topics:
          taxation:
            patterns: {tithe: 9}
        entities:
          Norges Bank: {type: central_bank, jurisdiction: NO}
    """)
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(path)
    message = str(err.value)
    assert "topics.taxation.patterns" in message and "'tithe'" in message
    assert "entities.Norges Bank.jurisdiction" in message and 'write "NO"' in message


def test_entity_with_undefined_jurisdiction(tmp_path: Path):
    path = _write(tmp_path, """
        entities:
          Atlantis Monetary Authority: {type: regulator, jurisdiction: XX}
    """)
    with pytest.raises(TaxonomyError, match=r"entity 'Atlantis Monetary Authority': jurisdiction 'XX'"):
        load_taxonomy(path)


def test_missing_file(tmp_path: Path):
    with pytest.raises(TaxonomyError, match="cannot read taxonomy file"):
        load_taxonomy(tmp_path / "nope.yaml")


def test_user_file_extends_the_packaged_taxonomy(tmp_path: Path):
    path = _write(tmp_path, """
        topics:
          enforcement:
            patterns: {subpoena: 1.5}
        entities:
          Atlantis Crypto Office: {type: regulator, jurisdiction: GR, aliases: [ACO]}
    """)
    taxonomy = load_taxonomy(path)
    packaged = load_taxonomy()
    assert taxonomy.topics["enforcement"].patterns["subpoena"] == 1.5
    assert taxonomy.topics["enforcement"].patterns["lawsuit*"] == packaged.topics["enforcement"].patterns["lawsuit*"]
    assert set(packaged.entities) < set(taxonomy.entities)
    assert taxonomy.version != packaged.version
    tags = Tagger(taxonomy).tag(
        "ACO issues subpoena to crypto exchange",
        "The ACO said it had sent a subpoena to a crypto exchange as part of its investigation into bitcoin "
        "trading, and another subpoena to its bank. The regulator is enforcing new crypto rules.",
    )
    assert "entity:Atlantis Crypto Office" in _labels(tags, "entity:")
    assert "enforcement" in tags.topics and "GR" in tags.jurisdictions


def test_standalone_file_replaces_the_packaged_taxonomy(tmp_path: Path):
    path = _write(tmp_path, """
        extends: false
        topics:
          mining: {patterns: {hashrate: 1.0}}
        jurisdictions:
          IS: {name: Iceland, names: [Iceland]}
    """)
    taxonomy = load_taxonomy(path)
    assert list(taxonomy.topics) == ["mining"] and list(taxonomy.jurisdictions) == ["IS"]
    assert taxonomy.entities == {}


def test_default_tagger_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = _write(tmp_path, """
        entities:
          Atlantis Crypto Office: {type: regulator, jurisdiction: GR}
    """)
    monkeypatch.delenv("REGWIRE_TAXONOMY", raising=False)
    packaged = default_tagger()
    assert packaged is default_tagger()  # cached
    monkeypatch.setenv("REGWIRE_TAXONOMY", str(path))
    extended = default_tagger()
    assert extended is not packaged and "Atlantis Crypto Office" in extended.taxonomy.entities
    assert default_tagger(path) is extended
    monkeypatch.setenv("REGWIRE_TAXONOMY", str(tmp_path / "missing.yaml"))
    with pytest.raises(TaxonomyError):
        default_tagger()


def test_tags_serialise(tagger: Tagger):
    tags = tagger.tag("SEC fines crypto lender", "The SEC fined a crypto lender for unregistered securities offerings.")
    again = Tags.model_validate(json.loads(tags.model_dump_json()))
    assert again == tags
