"""Tests for pipeline.tagging: the seed article, floors on the labelled set, the learned models, context rules,
taxonomy errors and evidence."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipeline.errors import ConfigError, TaxonomyError
from pipeline.tagging import TOPICS, Tagger, TaggerModel, Tags, default_tagger, load_taxonomy, tag_article
from pipeline.tagging.evaluation import evaluate, file_digest, load_labeled

ROOT = Path(__file__).resolve().parents[1]
LABELLED = Path(__file__).resolve().parent / "tagging" / "labelled.jsonl"
SEED_DIR = Path(__file__).resolve().parent / "data" / "seed"
SEED_FILE = SEED_DIR / "cointelegraph-2022-09-28-kazakhstan.txt"
SEED_TITLE = "Kazakhstan ready to legalize crypto-to-cash conversion, says president"
# what issue 17 asks of the seed (docs/tagging.md, "The seed article")
SEED_SUBJECTS = {"KZ", "RU", "GE", "EU", "US"}
SEED_TOPICS = {"fiat-ramp", "legalization", "licensing", "mining", "sanctions"}


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger()


@pytest.fixture(scope="module")
def rules() -> Tagger:
    """The rule layer deciding with its own thresholds: the context rules are tested on it."""
    return Tagger(rules_only=True)


@pytest.fixture(scope="module")
def articles():
    return load_labeled(LABELLED)


def _rule_subjects(rules: Tagger, title: str, text: str) -> list[str]:
    """Jurisdictions the rule layer scores at its threshold, before the relevance gate (short test texts
    are not relevant enough to keep subjects), strongest first."""
    candidates = rules.analyse(title, text).jurisdictions.candidates
    kept = [c for c in candidates if candidates[c].score >= rules.taxonomy.scoring.jurisdiction_threshold]
    return sorted(kept, key=lambda c: -candidates[c].score)


def _labels(tags: Tags, prefix: str) -> set[str]:
    return {m.label for m in tags.matches if m.label.startswith(prefix)}


# ---------------------------------------------------------------------------------------- seed
@pytest.fixture(scope="module")
def seed_text() -> str:
    return SEED_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def seed_tags(tagger: Tagger, seed_text: str) -> Tags:
    return tagger.tag(SEED_TITLE, seed_text)


def test_seed_primary_and_roles(seed_tags: Tags):
    assert seed_tags.primary_jurisdiction == "KZ"
    assert "KZ" in seed_tags.jurisdictions
    # every jurisdiction the issue names is found, as a subject or a mention, with evidence
    found = set(seed_tags.jurisdictions) | set(seed_tags.mentioned_jurisdictions)
    assert SEED_SUBJECTS <= found
    # Ukraine appears only as "to fight in Ukraine": a passing mention, never a subject
    assert "UA" in seed_tags.mentioned_jurisdictions
    ukraine = [m for m in seed_tags.matches if m.label == "mentioned:UA"]
    assert ukraine and all("passing" in m.feature.split(",") for m in ukraine)


def test_seed_topics(seed_tags: Tags):
    assert {"fiat-ramp", "legalization"} <= set(seed_tags.topics) <= SEED_TOPICS
    # "plan to ban Russian citizens" is a sanctions measure, not a crypto ban; "cross-border payments"
    # is only in the Related line, and the Mir-card sentence is about cards, not crypto payments
    assert "ban" not in seed_tags.topics and "payments" not in seed_tags.topics


@pytest.mark.xfail(strict=True, reason=(
    "issue 17 expects RU, GE, EU, US as subjects and licensing, mining, sanctions as topics; the models trained "
    "on the labelled set score these one-sentence secondary statements as mentions (docs/tagging.md, 'The seed "
    "article'). Strict: when a model meets it, this test fails and the expectation above should be tightened."))
def test_seed_as_the_issue_states_it(seed_tags: Tags):
    assert set(seed_tags.jurisdictions) == SEED_SUBJECTS
    assert set(seed_tags.topics) == SEED_TOPICS


def test_seed_rule_layer_finds_what_the_issue_states(rules: Tagger, seed_text: str):
    # the rule layer alone (no classifiers) keeps exactly the issue's subjects and topics
    tags = rules.tag(SEED_TITLE, seed_text)
    assert tags.primary_jurisdiction == "KZ"
    assert set(tags.jurisdictions) == SEED_SUBJECTS and tags.mentioned_jurisdictions == ["UA"]
    assert set(tags.topics) == SEED_TOPICS


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


def test_seed_evidence_points_at_the_text(seed_tags: Tags, seed_text: str):
    fields = {"title": SEED_TITLE, "text": seed_text}
    for match in seed_tags.matches:
        source = fields[match.field]
        assert source[match.offset:match.offset + len(match.phrase)] == match.phrase
    # the AIFC is named by its full title in the article
    aifc = [m for m in seed_tags.matches if m.label == "entity:AIFC"]
    assert [m.phrase for m in aifc] == ["Astana International Financial Center"]
    # every output label has evidence, and evidence is only given for output labels
    assert _labels(seed_tags, "topic:") == {f"topic:{t}" for t in seed_tags.topics}
    assert _labels(seed_tags, "jurisdiction:") == {f"jurisdiction:{j}" for j in seed_tags.jurisdictions}
    assert _labels(seed_tags, "mentioned:") == {f"mentioned:{j}" for j in seed_tags.mentioned_jurisdictions}
    # ... with the classifiers' confidence, rescaled so that 0.5 is where each decides
    for label in _labels(seed_tags, ""):
        if not label.startswith("entity:"):
            assert (seed_tags.confidence[label] >= 0.5) == label.startswith(("topic:", "jurisdiction:")), label
    # jurisdiction evidence names the mention features the classifier read
    kz = [m.feature.split(",") for m in seed_tags.matches if m.label == "jurisdiction:KZ"]
    assert ["title", "k:name"] == kz[0][:2]


def test_seed_related_line_is_not_evidence(tagger: Tagger, seed_tags: Tags, seed_text: str):
    # "Related: Russian officials agree to use cryptocurrency for cross-border payments" is another story
    start = seed_text.index("Related:")
    end = seed_text.index("\n", start)
    inside = [m for m in seed_tags.matches if m.field == "text" and start <= m.offset < end]
    assert all(m.label.startswith("mentioned:") for m in inside)
    # its place is a mention flagged as such, and its words add to no topic
    analysis = tagger.analyse(SEED_TITLE, seed_text)
    russian = [flags for f, hit, weight, flags in analysis.jurisdictions.candidates["RU"].mentions
               if f.name == "text" and start <= hit.start < end]
    assert russian == [["k:adjective", "related"]]
    assert not [hit for st in analysis.topics.values() for f, hit, _ in st.evidence
                if f.name == "text" and start <= hit.start < end]


# ---------------------------------------------------------------------------------------- labelled set
def test_labelled_set_shape(articles):
    assert len(articles) >= 800
    assert len({a.id for a in articles}) == len(articles)
    english = [a for a in articles if a.language == "en"]
    assert sum(not a.labels.relevant for a in english) >= 0.15 * len(english)
    # several hands: the round-15 writers and the earlier rounds
    assert len({a.writer for a in articles}) >= 5 and {a.round for a in articles} >= {"round-14", "round-15"}
    for a in articles:
        labels = a.labels
        assert set(labels.topics) <= set(TOPICS), a.id
        assert labels.primary is None or labels.primary in labels.jurisdictions, a.id
        assert not set(labels.jurisdictions) & set(labels.mentioned), a.id
        assert not labels.topics or labels.relevant, f"{a.id}: topics are only labelled on relevant articles"
        assert labels.relevant or not labels.jurisdictions, f"{a.id}: subjects only on relevant articles"
    # at least a quarter have mentions that must not be labelled as subjects
    assert sum(bool(a.labels.mentioned) for a in articles) >= 0.25 * len(articles)


def test_load_labeled_filters_by_round_and_writer():
    round15 = load_labeled(LABELLED, round="round-15")
    assert round15 and all(a.round == "round-15" for a in round15)
    wire = load_labeled(LABELLED, writer="wire-a")
    assert wire and all(a.writer == "wire-a" for a in wire) and len(wire) < len(round15)


def test_floors_on_the_training_data(tagger: Tagger, articles):
    # IN-SAMPLE: the models were trained on these articles, so these floors only catch regressions;
    # the fair figures are cross-validated (bench/train_tagger.py --cv, docs/tagging.md). Measured with
    # models 68aaa70bf553: topics 0.99, subjects 0.97, primary 0.995, relevance 1.00.
    english = [a for a in articles if a.language == "en"]
    report = evaluate(english, tagger.tag)
    detail = "\n".join(report.errors[:40])
    assert report.topics.f1 >= 0.95, detail
    assert report.jurisdictions.f1 >= 0.95, detail
    assert report.jurisdictions.precision >= 0.96, detail
    assert report.primary_accuracy >= 0.97, detail
    assert report.relevance_accuracy >= 0.98, detail


def test_rule_layer_floors(rules: Tagger, articles):
    # the rule layer alone is recall-oriented: the classifiers bring the precision (docs/tagging.md);
    # measured: topics P 0.62 R 0.91, subjects P 0.66 R 0.98, primary 0.97, relevance 0.97
    report = evaluate([a for a in articles if a.language == "en"], rules.tag)
    assert report.topics.recall >= 0.89 and report.jurisdictions.recall >= 0.97
    assert report.primary_accuracy >= 0.95 and report.relevance_accuracy >= 0.95


# ---------------------------------------------------------------------------------------- learned models
def test_packaged_model_was_trained_on_the_current_labelled_file():
    model = TaggerModel.load()
    assert model.trained_on["sha256"] == file_digest(LABELLED), (
        "tests/tagging/labelled.jsonl changed since the model files were trained: "
        "run .venv/bin/python bench/train_tagger.py")
    assert model.trained_on["articles"] == len([a for a in load_labeled(LABELLED) if a.language == "en"])


def test_training_reproduces_the_shipped_model_files():
    pytest.importorskip("sklearn")
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "train_tagger.py"), "--check"],
                            capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "identical to the shipped files" in result.stdout


def test_model_files_are_pure_data_read_without_numpy():
    code = ("import sys; from pipeline.tagging import tag_article; tag_article('SEC sues exchange', "
            "'The SEC sued a crypto exchange on Monday for operating without registration.'); "
            "print(sorted(m for m in ('numpy', 'sklearn', 'scipy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    # py3langid (the language identifier) brings numpy; the tagger's own models do not need it
    assert "sklearn" not in result.stdout and "scipy" not in result.stdout


def test_model_round_trips_and_bad_files_are_named(tmp_path: Path):
    model = TaggerModel.load()
    model.dump(tmp_path)
    again = TaggerModel.load(tmp_path)
    assert again.version == model.version
    for name in ("topic_model.json", "jurisdiction_model.json"):
        assert (tmp_path / name).read_bytes() == (ROOT / "pipeline" / "tagging" / name).read_bytes()
    body = json.loads((tmp_path / "topic_model.json").read_text())
    body["models"]["minning"] = body["models"].pop("mining")
    (tmp_path / "topic_model.json").write_text(json.dumps(body))
    with pytest.raises(TaxonomyError) as err:
        TaggerModel.load(tmp_path)
    assert str(tmp_path) in str(err.value) and "minning" in str(err.value)


def test_model_can_be_switched_off_and_changes_the_version(tmp_path: Path):
    path = _write(tmp_path, """
        scoring:
          topic_model: false
    """)
    off = Tagger(load_taxonomy(path))
    assert off.model is None and off.version == load_taxonomy(path).version
    on = Tagger()
    assert on.model is not None and on.version != on.taxonomy.version
    assert Tagger(rules_only=True).version == on.taxonomy.version


def test_learned_tagger_separates_subjects_from_mentions(tagger: Tagger):
    text = ("The US Securities and Exchange Commission sued a crypto exchange on Tuesday, accusing it of operating "
            "an unregistered securities exchange and broker. The complaint, filed in federal court in New York, "
            "seeks penalties and an injunction. The exchange's Canadian-born founder said the company would fight "
            "the lawsuit. The case follows similar actions in Singapore last year.\n\n"
            "Related: Hong Kong regulator licenses two more crypto exchanges")
    tags = tagger.tag("SEC sues crypto exchange over unregistered trading", text)
    assert tags.jurisdictions == ["US"] and tags.primary_jurisdiction == "US"
    assert {"CA", "HK"} <= set(tags.mentioned_jurisdictions)
    assert "enforcement" in tags.topics
    hk = [m for m in tags.matches if m.label == "mentioned:HK"]
    assert hk and all("related" in m.feature.split(",") for m in hk)
    # a label's evidence: phrases (rule weights) and, where they helped, the model's words
    assert {m.feature for m in tags.matches if m.label == "topic:enforcement"} & {"phrase"}


def test_language_is_recorded(tagger: Tagger):
    german = tagger.tag(
        "BaFin warnt vor Kryptobetrug",
        "Die Finanzaufsicht BaFin warnt Verbraucher vor unseriösen Anbietern von Kryptowerten. Die "
        "Behörde hat nach eigenen Angaben mehrere Plattformen untersagt, die ohne Erlaubnis tätig sind.",
    )
    assert german.language == "de"
    assert "DE" in german.jurisdictions + german.mentioned_jurisdictions  # names and acronyms match in any language
    assert tagger.tag("", "").language == "und"
    assert tagger.tag("Short", "Too short.").language == "und"


def test_non_english_articles_record_their_language(tagger: Tagger, articles):
    others = [a for a in articles if a.language != "en"]
    assert others
    for a in others:
        assert tagger.tag(a.title, a.text).language == a.language


def test_tags_record_the_taxonomy_version(tagger: Tagger):
    tags = tag_article("Crypto", "Bitcoin rose.")
    # the version covers the taxonomy and the learned models: retag when either changes
    assert tags.taxonomy_version == tagger.version != load_taxonomy().version
    assert len(tags.taxonomy_version) == 12
    assert 0.0 <= tags.relevance <= 1.0
    assert set(tags.topics) <= set(TOPICS)
    expected = hashlib.sha256(f"{load_taxonomy().version}:{tagger.model.version}".encode()).hexdigest()[:12]
    assert tags.taxonomy_version == expected


def test_old_tags_without_the_new_fields_still_load():
    stored = {"topics": ["mining"], "jurisdictions": ["KZ"], "primary_jurisdiction": "KZ", "relevance": 0.9,
              "matches": [{"label": "jurisdiction:KZ", "phrase": "Kazakhstan", "offset": 0, "weight": 1.0,
                           "field": "title"}], "language": "en", "taxonomy_version": "0123456789ab"}
    tags = Tags.model_validate(stored)
    assert tags.mentioned_jurisdictions == [] and tags.confidence == {} and tags.matches[0].feature == ""


# ---------------------------------------------------------------------------------------- context rules
BAN_BODY = (
    "The central bank said it would also tighten supervision of crypto exchanges and require them to "
    "register under the new anti-money laundering law. Lawmakers are drafting the bill, and the "
    "regulator said cryptocurrency platforms must comply with the rules by next year."
)


def test_denied_plans_to_ban_is_not_a_ban(rules: Tagger):
    denied = rules.tag(
        "Vietnam's central bank denied plans to ban cryptocurrency trading",
        "The State Bank of Vietnam on Monday denied plans to ban cryptocurrency trading. " + BAN_BODY,
    )
    planned = rules.tag(
        "Vietnam's central bank plans to ban cryptocurrency trading",
        "The State Bank of Vietnam on Monday announced plans to ban cryptocurrency trading. " + BAN_BODY,
    )
    assert "ban" in planned.topics
    assert "ban" not in denied.topics
    assert denied.is_relevant and "VN" in denied.jurisdictions


def test_hedged_evidence_counts_less(rules: Tagger):
    later = " Officials said the ban on crypto mining would start in May. " + BAN_BODY
    plain = rules.tag("Crypto rules", "The government will ban crypto mining in the north." + later)
    hedged = rules.tag("Crypto rules", "The government is said to plan to ban crypto mining in the north." + later)
    first = lambda tags: min((m for m in tags.matches if m.label == "topic:ban"), key=lambda m: m.offset)  # noqa: E731
    assert "ban" in plain.topics and "ban" in hedged.topics
    assert first(hedged).weight == pytest.approx(first(plain).weight * load_taxonomy().scoring.hedge_factor)


def test_hedging_does_not_weaken_subject_topics(rules: Tagger):
    # "is exploring a CBDC" is still a statement about CBDCs, though "could ban" is less than a ban
    body = ("The central bank said crypto remains illegal and warned the public about the risks. "
            "Officials said the central bank is exploring a central bank digital currency.")
    tags = rules.tag("Central bank warns on crypto", body)
    cbdc = [m for m in tags.matches if m.label == "topic:cbdc"]
    assert "cbdc" in tags.topics
    scoring = load_taxonomy().scoring
    expected = load_taxonomy().topics["cbdc"].patterns["central bank digital currenc*"] * scoring.lead_weight
    assert cbdc and cbdc[0].offset < scoring.lead_chars and cbdc[0].weight == pytest.approx(expected)


def test_weak_words_alone_do_not_make_a_topic(rules: Tagger):
    # "banks" is 0.25 fiat-ramp evidence: named again and again it still says nothing about on-ramps
    banks = " ".join(["Banks said the crypto rules were welcome, and banks will comply with them."] * 6)
    tags = rules.tag("Regulator publishes crypto licensing rules",
                      "The regulator published licensing rules for crypto exchanges. " + banks)
    assert "fiat-ramp" not in tags.topics
    with_anchor = rules.tag("Regulator publishes crypto licensing rules",
                             "The regulator published licensing rules for crypto exchanges. " + banks
                             + " Exchanges will be able to open bank accounts for customers.")
    assert "fiat-ramp" in with_anchor.topics


def test_a_company_named_often_counts_once_for_its_home(rules: Tagger):
    # Coinbase is a US company; naming it ten times in an Irish enforcement story is not US news
    text = ("The Central Bank of Ireland fined Coinbase Europe for anti-money laundering failures. "
            + "Coinbase said it had fixed the problem. " * 10)
    assert _rule_subjects(rules, "Irish regulator fines Coinbase", text)[0] == "IE"
    assert "US" not in _rule_subjects(rules, "Irish regulator fines Coinbase", text)


def test_born_founder_is_not_a_jurisdiction(rules: Tagger):
    text = (
        "The US Securities and Exchange Commission sued the exchange on Tuesday, accusing it of "
        "operating an unregistered securities exchange. The complaint, filed in federal court, seeks "
        "penalties and an injunction. The exchange's Canadian-born founder said the company would fight "
        "the lawsuit and keep serving customers while the crypto case proceeds."
    )
    tags = rules.tag("SEC sues crypto exchange over unregistered trading", text)
    assert tags.jurisdictions == ["US"]
    assert tags.primary_jurisdiction == "US"
    # the same country named as a regulator's home is a jurisdiction
    canadian = text.replace("The exchange's Canadian-born founder said", "Canada's securities regulators said")
    assert "CA" in rules.tag("SEC sues crypto exchange over unregistered trading", canadian).jurisdictions


TZ_BODY = (
    "Tanzania's parliament approved a 3% tax on digital asset transfers, the finance ministry said. "
    "The Tanzania Revenue Authority will collect the tax from exchanges each month. "
    "Officials said the tax would apply from July. "
)


def test_subject_of_one_regulatory_sentence_is_a_jurisdiction(rules: Tagger):
    # one sentence in which the country's own rules are the subject is enough (docs/tagging.md)
    tags = rules.tag("Tanzania taxes crypto transfers",
                      TZ_BODY + "Kenya cut its own tax on digital asset transfers this year to 1.5%.")
    assert tags.primary_jurisdiction == "TZ" and "KE" in tags.jurisdictions
    # a place after a preposition is where something happens, not who acts
    tags = rules.tag("Tanzania taxes crypto transfers",
                      TZ_BODY + "In Kenya traders said volumes rose this year by 1.5%.")
    assert tags.jurisdictions == ["TZ"]
    # places listed with the subject share it, and so does a place followed by ", which" and a rule
    tags = rules.tag("Tanzania taxes crypto transfers",
                      TZ_BODY + "Officials cited neighbours such as Uganda and Rwanda, which tax crypto gains.")
    assert {"UG", "RW"} <= set(tags.jurisdictions)
    tags = rules.tag("Tanzania taxes crypto transfers",
                      TZ_BODY + "In Uganda, a court fined an exchange for unpaid tax last year.")
    assert "UG" in tags.jurisdictions


def test_target_of_another_jurisdictions_sanctions_is_not_a_jurisdiction(rules: Tagger):
    tags = rules.tag(
        "Lithuania fines crypto firm",
        "The Bank of Lithuania fined a crypto exchange for breaching anti-money laundering rules, and said "
        "it had helped clients evade sanctions on Russia. The central bank said the firm must stop "
        "providing services. The exchange said it would appeal the fine in court.",
    )
    assert tags.jurisdictions == ["LT"]
    assert "sanctions" in tags.topics


def test_described_target_of_sanctions_and_dateline_are_not_jurisdictions(rules: Tagger):
    tags = rules.tag(
        "UK sanctions office fines crypto exchange over Russian payments",
        "LONDON - Britain's Office of Financial Sanctions Implementation fined a crypto exchange for "
        "breaching sanctions by processing transfers for customers linked to a sanctioned Russian bank. "
        "The exchange must improve its screening, the Financial Conduct Authority said.",
    )
    assert tags.jurisdictions == ["GB"]
    # a dateline says where the story was filed, not whose rules it is about
    subjects = _rule_subjects(
        rules, "FATF urges countries to enforce travel rule",
        "PARIS - The Financial Action Task Force said countries must enforce the travel rule for crypto "
        "transfers, and that supervisors should license or register crypto service providers.",
    )
    assert subjects == ["INT"]


def test_authority_of_a_place_counts_for_the_place(rules: Tagger):
    # "Zambia's Securities and Exchange Commission" is not the US SEC, though it shares the name
    tags = rules.tag(
        "Zambia admits crypto firms to sandbox",
        "Zambia's Securities and Exchange Commission has admitted four crypto companies to its regulatory "
        "sandbox. The commission said the firms must comply with anti-money laundering rules.",
    )
    assert tags.jurisdictions == ["ZM"]
    assert "SEC" not in {e.name for e in tags.entities}
    # "a Dutch court" is an authority of the Netherlands, named once
    tags = rules.tag(
        "Turkey tightens crypto rules",
        "Turkey's Capital Markets Board said crypto platforms must obtain licences. A Dutch court "
        "separately sentenced a developer for money laundering in a crypto case.",
    )
    assert tags.primary_jurisdiction == "TR" and "NL" in tags.jurisdictions


def test_product_story_without_rules_or_authorities_is_not_relevant(rules: Tagger):
    # crypto words and "retail customers" make no regulatory news without a rule-maker or a rule
    tags = rules.tag(
        "Exchange launches gold token for retail customers",
        "A crypto exchange launched a token backed by gold for retail customers. The token will be "
        "available to retail investors in the app, and crypto users can buy fractions. Bitcoin rose. "
        "Fans lost money on tokens promoted by clubs.",
    )
    assert tags.relevance < 0.5 and tags.topics == []


def test_one_sentence_of_crypto_does_not_make_a_crypto_story(rules: Tagger):
    text = ("The European Commission proposed rules for artificial intelligence in lending, and banks asked "
            "the regulator to delay the law. Supervisors said the rules would apply next year. ")
    alone = rules.tag("EU proposes AI lending rules", text + "Bitcoin, ether and other cryptocurrencies were not discussed.")
    assert alone.relevance < 0.5


def test_a_phrase_matched_twice_for_one_label_counts_once(rules: Tagger):
    # "retail investors" is both a phrase and a prefix phrase ("retail investor*") of one topic
    tags = rules.tag("Regulator sets crypto rules", "The regulator set rules for crypto exchanges and said "
                      "retail investors would be covered.")
    hits = [m for m in tags.matches if m.label == "topic:consumer-protection"]
    assert len({m.offset for m in hits}) == len(hits)


def test_regulation_in_one_aside_does_not_make_a_story_relevant(rules: Tagger):
    story = ("A crypto exchange extended its sponsorship of a racing team for five years, the companies said. "
             "The exchange's logo will stay on the cars, and fans can win passes by trading crypto in its app. "
             "Crypto firms spent heavily on sports deals in 2021 before prices fell. "
             "Spending on sponsorships has picked up as bitcoin rose to records this year. "
             "The team said the crypto partnership had been one of its most successful. ")
    aside = "The logo will not appear at races where local rules restrict crypto advertising to protect consumers."
    assert rules.tag("Crypto exchange extends racing sponsorship", story + aside).relevance < 0.5


def test_prices_in_asian_trading_is_not_a_jurisdiction(rules: Tagger):
    tags = rules.tag(
        "Bitcoin rallies in Asian trading",
        "Bitcoin prices rose 4% in Asian trading on Monday and ether gained 6% in Japanese trading, as "
        "traders bought after short liquidations. Bitcoin broke through resistance at $70,000 and analysts "
        "said the next level was the all-time high. Crypto funds saw inflows for a third day.",
    )
    assert tags.jurisdictions == []
    assert tags.primary_jurisdiction is None
    assert tags.relevance < 0.5 and tags.topics == []


def test_capitalisation_and_word_boundaries(rules: Tagger):
    tags = rules.tag(
        "Crypto exchange tells us about its urban banking partners",
        "Let us say the exchange serves customers in urban areas through a bank partner. The turkey "
        "sandwich at the crypto conference was popular. Banks and banking apps were discussed.",
    )
    assert "US" not in tags.jurisdictions and "TR" not in tags.jurisdictions
    assert not any(m.phrase.lower() == "ban" for m in tags.matches)


def test_ambiguous_acronym_follows_the_article(rules: Tagger):
    tags = rules.tag(
        "Nigeria's SEC registers two crypto exchanges",
        "Nigeria's Securities and Exchange Commission said on Friday that it had registered two crypto "
        "exchanges under its new rules for digital assets. The SEC said Nigerian investors should only "
        "use licensed platforms, and warned that unregistered firms would face penalties.",
    )
    assert tags.primary_jurisdiction == "NG"
    assert "US" not in tags.jurisdictions
    assert {e.name: e.jurisdiction for e in tags.entities}.get("SEC Nigeria") == "NG"


def test_relevance_low_for_regulation_of_other_things(rules: Tagger):
    tags = rules.tag(
        "EU lawmakers approve rules on packaging waste",
        "The European Parliament approved a law that bans some single-use plastic packaging and sets "
        "recycling targets. Companies that break the rules face fines, and the European Commission will "
        "supervise national authorities. The regulation still needs approval from the Council.",
    )
    assert tags.relevance < 0.5
    assert tags.topics == []
    # not a story about crypto rules, so the EU is only mentioned (docs/labeling-guide.md)
    assert tags.jurisdictions == [] and tags.primary_jurisdiction is None
    assert tags.mentioned_jurisdictions == ["EU"]


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
    with pytest.raises(TaxonomyError, match="taxonomy file: cannot read"):
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


def test_the_taxonomy_setting_selects_the_shared_tagger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``REGWIRE_TAXONOMY`` reaches the tagger through the settings (the task context); the tagger reads no
    environment itself."""
    from pipeline.settings import load_settings
    from pipeline.tasks import task_context

    path = _write(tmp_path, """
        entities:
          Atlantis Crypto Office: {type: regulator, jurisdiction: GR}
    """)
    packaged = default_tagger()
    assert packaged is default_tagger()  # cached
    monkeypatch.setenv("REGWIRE_TAXONOMY", str(path))
    assert default_tagger() is packaged
    with task_context(load_settings(home=tmp_path / "home")) as ctx:
        extended = ctx.tagger
    assert extended is not packaged and "Atlantis Crypto Office" in extended.taxonomy.entities
    assert default_tagger(path) is extended
    with pytest.raises(TaxonomyError):
        default_tagger(tmp_path / "missing.yaml")


def test_tags_serialise(tagger: Tagger):
    tags = tagger.tag("SEC fines crypto lender", "The SEC fined a crypto lender for unregistered securities offerings.")
    again = Tags.model_validate(json.loads(tags.model_dump_json()))
    assert again == tags
