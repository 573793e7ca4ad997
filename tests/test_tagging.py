"""Tests for pipeline.tagging: the seed article, dev-set floors, taxonomy errors, context rules, evidence."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from pipeline.errors import ConfigError, TaxonomyError
from pipeline.tagging import TOPICS, Tagger, Tags, default_tagger, load_taxonomy, tag_article
from pipeline.tagging.evaluation import dev_split_digest, evaluate, load_labeled
from pipeline.tagging.learned import TopicModel

DEV_SET = Path(__file__).resolve().parent / "tagging" / "dev_set.jsonl"
SEED_DIR = Path(__file__).resolve().parent / "data" / "seed"
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
    assert len(heldout) >= 40
    # the current held-out set was written at realistic news length (docs/tagging.md)
    assert all(250 <= len(a.text.split()) <= 600 for a in heldout), [a.id for a in heldout]
    assert len({a.id for a in articles}) == len(articles)
    for a in articles:
        assert set(a.labels.topics) <= set(TOPICS), a.id
        assert a.labels.primary is None or a.labels.primary in a.labels.jurisdictions, a.id
        assert not a.labels.topics or a.labels.relevant, f"{a.id}: topics are only labelled on relevant articles"


@pytest.fixture(scope="module")
def rules_only() -> Tagger:
    taxonomy = load_taxonomy()
    taxonomy.scoring.topic_model = False
    return Tagger(taxonomy)


def test_dev_split_floors(rules_only: Tagger, articles):
    # The learned model was trained on the dev split, so its figures there say nothing; the
    # rules are checked alone (bench/train_topic_model.py --cv gives the model's dev figures).
    dev = [a for a in articles if a.split == "dev" and a.language == "en"]
    report = evaluate(dev, rules_only.tag)
    detail = "\n".join(report.errors)
    # rules alone measured 0.89 / 0.96 / 0.97 / 0.98 on 573 articles (docs/tagging.md)
    assert report.topics.f1 >= 0.87, detail
    assert report.jurisdictions.f1 >= 0.95, detail
    assert report.primary_accuracy >= 0.96, detail
    assert report.relevance_accuracy >= 0.97, detail


def test_heldout_split_regression_floors(tagger: Tagger, articles):
    # Never tuned on; these floors sit just under the figures measured when the split was written
    # (docs/tagging.md) and only guard against regressions.
    heldout = [a for a in articles if a.split == "heldout" and a.language == "en"]
    report = evaluate(heldout, tagger.tag)
    detail = "\n".join(report.errors)
    # round 14, tagger 814d58aff4e3: measured 0.88 / 0.95 / 0.96 / 0.99 on 72 articles
    assert report.topics.f1 >= 0.86, detail
    assert report.jurisdictions.f1 >= 0.93, detail
    assert report.primary_accuracy >= 0.94, detail
    assert report.relevance_accuracy >= 0.97, detail


def test_packaged_topic_model_was_trained_on_the_current_dev_split():
    model = TopicModel.load()
    assert model.trained_on["sha256"] == dev_split_digest(DEV_SET), (
        "the dev split changed since pipeline/tagging/topic_model.json was trained: "
        "run .venv/bin/python bench/train_topic_model.py")
    assert model.trained_on["split"] == "dev"


def _one_word_model(**weights) -> TopicModel:
    """A hand-made model: every topic unlikely, except as the given word weights say."""
    topics = {t: {} for t in TOPICS}
    for topic_word, weight in weights.items():
        topic, word = topic_word.split("__")
        topics[topic.replace("_", "-")][word] = weight
    return TopicModel(biases={t: -8.0 for t in TOPICS}, weights=topics, add=0.8, veto=0.05, max_chars=2500,
                      trained_on={})


def test_learned_model_adds_a_topic_with_its_words_as_evidence():
    title = "Regulator sets rules for crypto exchanges"
    text = ("The regulator said crypto exchanges must register with it and follow new rules. The diaspora "
            "sends money home through the exchanges, the regulator said, and the rules cover it.")
    taxonomy = load_taxonomy()
    rules = Tagger(taxonomy, topic_model=_one_word_model(licensing__register=9.0))
    with_model = Tagger(taxonomy, topic_model=_one_word_model(licensing__register=9.0, payments__diaspora=12.0))
    assert "payments" not in rules.tag(title, text).topics
    tags = with_model.tag(title, text)
    assert "payments" in tags.topics
    evidence = [m for m in tags.matches if m.label == "topic:payments"]
    assert [(m.phrase, m.field, text[m.offset:m.offset + len(m.phrase)], m.weight) for m in evidence] == [
        ("diaspora", "text", "diaspora", 12.0)]


def test_learned_model_vetoes_a_rule_topic_it_is_sure_is_wrong():
    title = "Regulator bans crypto trading"
    text = "The regulator banned crypto trading and crypto exchanges on Monday, under the new rules on crypto."
    taxonomy = load_taxonomy()
    keeps = Tagger(taxonomy, topic_model=_one_word_model(ban__banned=12.0))
    vetoes = Tagger(taxonomy, topic_model=_one_word_model())  # every topic at p = 0.0003
    assert "ban" in keeps.tag(title, text).topics
    tags = vetoes.tag(title, text)
    assert "ban" not in tags.topics and not _labels(tags, "topic:ban")


def test_topic_model_can_be_switched_off_and_changes_the_version(tmp_path: Path):
    path = _write(tmp_path, """
        scoring:
          topic_model: false
    """)
    off = Tagger(load_taxonomy(path))
    assert off.topic_model is None and off.version == load_taxonomy(path).version
    on = Tagger()
    assert on.topic_model is not None and on.version != on.taxonomy.version


def test_topic_model_round_trips_and_bad_files_are_named(tmp_path: Path):
    model = _one_word_model(payments__remittances=1.5)
    model.dump(tmp_path / "model.json")
    again = TopicModel.load(tmp_path / "model.json")
    assert again.version == model.version and again.weights["payments"] == {"remittances": 1.5}
    (tmp_path / "bad.json").write_text('{"format": 1, "topics": {"minning": {}}}')
    with pytest.raises(TaxonomyError) as err:
        TopicModel.load(tmp_path / "bad.json")
    assert str(tmp_path / "bad.json") in str(err.value) and "minning" in str(err.value)


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


TZ_BODY = (
    "Tanzania's parliament approved a 3% tax on digital asset transfers, the finance ministry said. "
    "The Tanzania Revenue Authority will collect the tax from exchanges each month. "
    "Officials said the tax would apply from July. "
)


def test_subject_of_one_regulatory_sentence_is_a_jurisdiction(tagger: Tagger):
    # one sentence in which the country's own rules are the subject is enough (docs/tagging.md)
    tags = tagger.tag("Tanzania taxes crypto transfers",
                      TZ_BODY + "Kenya cut its own tax on digital asset transfers this year to 1.5%.")
    assert tags.primary_jurisdiction == "TZ" and "KE" in tags.jurisdictions
    # a place after a preposition is where something happens, not who acts
    tags = tagger.tag("Tanzania taxes crypto transfers",
                      TZ_BODY + "In Kenya traders said volumes rose this year by 1.5%.")
    assert tags.jurisdictions == ["TZ"]
    # places listed with the subject share it, and so does a place followed by ", which" and a rule
    tags = tagger.tag("Tanzania taxes crypto transfers",
                      TZ_BODY + "Officials cited neighbours such as Uganda and Rwanda, which tax crypto gains.")
    assert {"UG", "RW"} <= set(tags.jurisdictions)
    tags = tagger.tag("Tanzania taxes crypto transfers",
                      TZ_BODY + "In Uganda, a court fined an exchange for unpaid tax last year.")
    assert "UG" in tags.jurisdictions


def test_target_of_another_jurisdictions_sanctions_is_not_a_jurisdiction(tagger: Tagger):
    tags = tagger.tag(
        "Lithuania fines crypto firm",
        "The Bank of Lithuania fined a crypto exchange for breaching anti-money laundering rules, and said "
        "it had helped clients evade sanctions on Russia. The central bank said the firm must stop "
        "providing services. The exchange said it would appeal the fine in court.",
    )
    assert tags.jurisdictions == ["LT"]
    assert "sanctions" in tags.topics


def test_described_target_of_sanctions_and_dateline_are_not_jurisdictions(tagger: Tagger):
    tags = tagger.tag(
        "UK sanctions office fines crypto exchange over Russian payments",
        "LONDON - Britain's Office of Financial Sanctions Implementation fined a crypto exchange for "
        "breaching sanctions by processing transfers for customers linked to a sanctioned Russian bank. "
        "The exchange must improve its screening, the Financial Conduct Authority said.",
    )
    assert tags.jurisdictions == ["GB"]
    # a dateline says where the story was filed, not whose rules it is about
    tags = tagger.tag(
        "FATF urges countries to enforce travel rule",
        "PARIS - The Financial Action Task Force said countries must enforce the travel rule for crypto "
        "transfers, and that supervisors should license or register crypto service providers.",
    )
    assert tags.jurisdictions == ["INT"]


def test_authority_of_a_place_counts_for_the_place(tagger: Tagger):
    # "Zambia's Securities and Exchange Commission" is not the US SEC, though it shares the name
    tags = tagger.tag(
        "Zambia admits crypto firms to sandbox",
        "Zambia's Securities and Exchange Commission has admitted four crypto companies to its regulatory "
        "sandbox. The commission said the firms must comply with anti-money laundering rules.",
    )
    assert tags.jurisdictions == ["ZM"]
    assert "SEC" not in {e.name for e in tags.entities}
    # "a Dutch court" is an authority of the Netherlands, named once
    tags = tagger.tag(
        "Turkey tightens crypto rules",
        "Turkey's Capital Markets Board said crypto platforms must obtain licences. A Dutch court "
        "separately sentenced a developer for money laundering in a crypto case.",
    )
    assert tags.primary_jurisdiction == "TR" and "NL" in tags.jurisdictions


def test_product_story_without_rules_or_authorities_is_not_relevant(tagger: Tagger):
    # crypto words and "retail customers" make no regulatory news without a rule-maker or a rule
    tags = tagger.tag(
        "Exchange launches gold token for retail customers",
        "A crypto exchange launched a token backed by gold for retail customers. The token will be "
        "available to retail investors in the app, and crypto users can buy fractions. Bitcoin rose. "
        "Fans lost money on tokens promoted by clubs.",
    )
    assert tags.relevance < 0.5 and tags.topics == []


def test_one_sentence_of_crypto_does_not_make_a_crypto_story(tagger: Tagger):
    text = ("The European Commission proposed rules for artificial intelligence in lending, and banks asked "
            "the regulator to delay the law. Supervisors said the rules would apply next year. ")
    alone = tagger.tag("EU proposes AI lending rules", text + "Bitcoin, ether and other cryptocurrencies were not discussed.")
    assert alone.relevance < 0.5


def test_a_phrase_matched_twice_for_one_label_counts_once(tagger: Tagger):
    # "retail investors" is both a phrase and a prefix phrase ("retail investor*") of one topic
    tags = tagger.tag("Regulator sets crypto rules", "The regulator set rules for crypto exchanges and said "
                      "retail investors would be covered.")
    hits = [m for m in tags.matches if m.label == "topic:consumer-protection"]
    assert len({m.offset for m in hits}) == len(hits)


def test_regulation_in_one_aside_does_not_make_a_story_relevant(tagger: Tagger):
    story = ("A crypto exchange extended its sponsorship of a racing team for five years, the companies said. "
             "The exchange's logo will stay on the cars, and fans can win passes by trading crypto in its app. "
             "Crypto firms spent heavily on sports deals in 2021 before prices fell. "
             "Spending on sponsorships has picked up as bitcoin rose to records this year. "
             "The team said the crypto partnership had been one of its most successful. ")
    aside = "The logo will not appear at races where local rules restrict crypto advertising to protect consumers."
    assert tagger.tag("Crypto exchange extends racing sponsorship", story + aside).relevance < 0.5


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
    # the version covers the taxonomy and the learned topic model: retag when either changes
    assert tags.taxonomy_version == tagger.version != load_taxonomy().version
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
