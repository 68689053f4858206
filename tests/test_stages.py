"""Pipeline stages on their own: relevance, grouping, ranking, drafting (no Django)."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime, timedelta, timezone

import pytest

from alliance_digest.pipeline.grouping import GroupInput, group
from alliance_digest.pipeline.ranking import Weights, rank
from alliance_digest.pipeline.records import StoryArticle, StoryDraft
from alliance_digest.pipeline.relevance import EntityGroup, RelevanceScorer
from alliance_digest.pipeline.summarise import Casing, draft_headline, draft_summary, select_sentences
from alliance_digest.pipeline.text import split_sentences
from alliance_digest.profile import Numbering, default_profile_text, parse_profile

PROFILE = parse_profile(tomllib.loads(default_profile_text()))
SCORER = RelevanceScorer(PROFILE.topic)


def test_relevance_needs_both_countries_and_explains_itself():
    both = SCORER.score("Japan and US hold 2+2 security talks in Tokyo",
                        "Foreign and defense ministers of Japan and the United States discussed the alliance.")
    japan_only = SCORER.score("Japan's economy grows", "Japanese output rose in Tokyo factories.")
    assert both.score > PROFILE.topic.threshold > japan_only.score
    explained = both.explanation()
    assert explained["entities"]["Japan"] >= 2 and explained["entities"]["United States"] >= 1
    assert "2+2" in explained["terms"] and "alliance" in explained["terms"]


@pytest.mark.parametrize("entities, terms", [
    ([EntityGroup("Arctic places", ["Arctic", "Svalbard", "Greenland", "Nuuk"])], {"sea ice": 2.0}),
    ([], {"sea ice": 2.0, "icebreaker": 1.5, "Arctic": 2.0, "Greenland": 2.0}),
])
def test_a_one_subject_topic_without_required_groups_scores_unrelated_news_zero(entities, terms):
    """No required group means "any evidence", not "everything is relevant" (a new customer's first profile)."""
    from alliance_digest.pipeline.relevance import TopicProfile

    scorer = RelevanceScorer(TopicProfile(name="Arctic affairs", entities=entities, terms=terms))
    for title, body in [("Formula 1: Verstappen wins in Singapore", "He led from the start."),
                        ("Recipe: Danish apple cake", "Bake it for forty minutes.")]:
        assert scorer.score(title, body).score == 0.0
    for title, body in [("Greenland opens Nuuk airport to transatlantic flights", "The runway in Nuuk opened."),
                        ("Sea ice hits a record low", "Sea ice extent fell, scientists said.")]:
        assert scorer.score(title, body).score > 0.5


def test_exclusions_fire_and_lower_the_score():
    sport = SCORER.score("Japan beats US in baseball final", "The Japan Series champions beat an American team.")
    assert sport.exclusions and sport.score < PROFILE.topic.threshold


def test_previews_and_round_ups_are_not_developments():
    preview = SCORER.score("Week Ahead for FX, Bonds: Focus on U.S. PMI, ECB Decision, Japan Elections",
                           "Investors will watch the U.S.-Japan trade talks and Japan's election.")
    assert preview.score == 0.0 and preview.explanation()["preview"] == "Week Ahead"
    news = SCORER.score("Japan and US agree tariff deal", "Talks in the week ahead will settle details of the "
                        "US-Japan trade agreement, officials in Tokyo and Washington said.")
    assert news.score > PROFILE.topic.threshold and "preview" not in news.explanation()  # body phrases do not count


def test_capitalised_patterns_are_case_sensitive():
    lower = SCORER.score("Talks with us in Tokyo", "Japan invited us to visit.")
    upper = SCORER.score("Talks with US in Tokyo", "Japan invited the US to visit.")
    assert "United States" not in lower.entities and "United States" in upper.entities


STORY_A = ["Japan names new ambassador to the United States",
           "Tokyo appoints veteran diplomat Sato as envoy to Washington",
           "Japan picks Sato as its next ambassador in Washington"]
STORY_B = ["Earthquake of magnitude 6.1 strikes Chile's north coast",
           "Strong quake hits northern Chile, no tsunami warning"]
STORY_C = ["US names new ambassador to South Korea",  # look-alike of A, another event
           "Washington picks Kim as ambassador to Seoul"]


def _items(titles, extra):
    return [GroupInput(t, f"{t}. {extra}") for t in titles]


FILLER_TOPICS = ["football", "election", "bank rates", "new phone", "film festival", "oil prices", "train strike",
                 "museum opening", "wildfire", "chess final", "vaccine trial", "space launch", "court ruling",
                 "housing market", "marathon", "new ambassador to France", "ambassador to Canada named",
                 "bridge collapse", "music awards", "farm subsidies"]


def _filler():
    """A window of unrelated news, so term weights are realistic."""
    return [GroupInput(f"Report on {topic} number {i}", f"Coverage of the {topic}. Officials said the {topic} "
                       f"drew attention on day {i} in city{i}.") for i, topic in enumerate(FILLER_TOPICS)]


def test_grouping_joins_coverage_and_keeps_look_alikes_apart():
    items = (_items(STORY_A, "The cabinet approved Hiro Sato, a former deputy foreign minister, for the post. "
                             "Sato replaces Ken Ito, who served three years. Chief Cabinet Secretary Mori praised "
                             "Sato's experience in alliance management and trade negotiations with Tokyo's ally.")
             + _items(STORY_B, "The magnitude 6.1 earthquake shook Antofagasta; officials reported damage to roads. "
                               "The seismology center said the quake was 40 km deep. Mines paused operations.")
             + _items(STORY_C, "The White House nominated Daniel Kim, a trade negotiator, to serve in Seoul. "
                               "The Senate Foreign Relations Committee will hold a confirmation hearing. Kim "
                               "previously worked on semiconductor export controls at the Commerce Department."))
    clusters = group(items + _filler()).clusters
    assert [c for c in clusters if c[0] < 7] == [[0, 1, 2], [3, 4], [5, 6]]


def test_grouping_compares_only_pairs_sharing_distinctive_terms():
    items = [GroupInput(f"Topic {i} word{i} alpha{i}", f"unique{i} distinct{i} vocabulary{i} " * 3) for i in range(200)]
    result = group(items)
    assert len(result.clusters) == 200
    assert result.compared_pairs < 200 * 199 / 2 / 10


def _article(pk, source, title, text, days=0, relevance=0.8, authority=0.5):
    return StoryArticle(id=pk, url=f"https://{source}.example/{pk}", title=title, text=text, source=source,
                        published=datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(days=days),
                        relevance=relevance, authority=authority)


def test_ranking_prefers_relevant_multi_outlet_authoritative_new_stories():
    start, end = datetime(2026, 10, 26, tzinfo=timezone.utc), datetime(2026, 11, 9, tzinfo=timezone.utc)
    wide = StoryDraft([_article(1, "a", "x", "x"), _article(2, "b", "x", "x"), _article(3, "c", "x", "x")],
                      terms_weights={"ambassador": 1.0})
    single = StoryDraft([_article(4, "a", "y", "y")], terms_weights={"drill": 1.0})
    repeat = StoryDraft([_article(5, "a", "z", "z"), _article(6, "b", "z", "z"), _article(7, "c", "z", "z")],
                        terms_weights={"tariff": 1.0})
    irrelevant = StoryDraft([_article(8, "a", "w", "w", relevance=0.01), _article(9, "b", "w", "w", relevance=0.01)])
    ranked = rank([single, irrelevant, repeat, wide], Weights(), start, end, threshold=0.35,
                  previous=[{"tariff": 1.0}])
    assert ranked[0] is wide
    assert ranked.index(repeat) > ranked.index(wide) and repeat.reasons["repeat_of_earlier_issue"]
    assert ranked[-1] is irrelevant and not irrelevant.relevant
    assert set(wide.reasons) >= {"relevance", "outlets", "authority", "recency", "novelty"}


BODY_1 = ("Japan's cabinet on Tuesday appointed Hiro Sato as ambassador to the United States, replacing Ken Ito. "
          "Sato, 61, served as deputy foreign minister and led trade talks with Washington in 2025. "
          "He is expected to arrive in Washington in December. Subscribe to our newsletter for more.")
BODY_2 = ("Tokyo named veteran diplomat Hiro Sato as its next envoy to Washington on Tuesday. "
          "The appointment comes as the allies prepare for a summit in the spring. "
          "Sato has worked with both Democratic and Republican administrations.")


def test_summary_sentences_are_all_taken_from_cited_sources():
    story = StoryDraft([_article(1, "ledger", "Japan Names Hiro Sato Ambassador To The United States", BODY_1),
                        _article(2, "wire", "Tokyo taps Sato as envoy to Washington", BODY_2)])
    markdown = draft_summary(story)
    plain = re.sub(r"\]\([^)]*\)", "", markdown).replace("[", "").replace("**", "").replace("\\", "")
    source_sentences = set(split_sentences(BODY_1)) | set(split_sentences(BODY_2))
    drafted = split_sentences(plain)
    assert drafted and all(s in source_sentences for s in drafted)
    assert "Subscribe" not in plain
    linked = set(re.findall(r"\]\((https?://[^)]+)\)", markdown))
    assert linked == {"https://ledger.example/1", "https://wire.example/2"}  # several sources cited
    assert markdown.count("**") == 2
    assert 25 <= len(plain.split()) <= 160


def test_headline_is_short_sentence_case_and_from_a_source():
    story = StoryDraft([_article(1, "ledger", "Japan Names Hiro Sato Ambassador To The United States", BODY_1),
                        _article(2, "wire", "Opinion | Why Sato matters", BODY_2)])
    headline = draft_headline(story)
    assert headline == "Japan names Hiro Sato ambassador to the United States"
    long = StoryDraft([_article(3, "x", "Japan and the United States agree after long talks on a wide-ranging package "
                                         "of measures covering trade, investment and security: officials", BODY_2)])
    assert len(draft_headline(long).split()) <= 16


def test_headline_and_lead_come_from_on_topic_coverage():
    """General news kept beside a US-Japan story never gives its headline or first sentence."""
    general = _article(1, "wire", "Trump and EU officials converge on a possible 15% tariff deal",
                       "", relevance=0.38, authority=0.9)
    general.summary = "President Trump's push for a new standard for global trade is coming into focus."
    deal = _article(2, "ledger", "Trump announces a trade deal with Japan setting 15% tariffs", "", relevance=0.89)
    deal.summary = "Japan will face 15% tariffs and fund investments in the United States."
    story = StoryDraft([general, deal])
    assert draft_headline(story) == "Trump announces a trade deal with Japan setting 15% tariffs"
    assert select_sentences(story)[0].article is deal


def test_headline_ends_where_a_run_on_title_news_ends():
    """Feeds that give a lead sentence, or two sentences, as the title get a headline-length cut."""
    def headline(title):
        return draft_headline(StoryDraft([_article(1, "x", title, BODY_1)]))
    assert headline("President Trump announced a trade deal with Japan, saying the country will face "
                    "15% reciprocal tariffs") == "President Trump announced a trade deal with Japan"
    assert headline("Trump’s Tariffs Are the Highest in a Century. But After His Threats, They Seem Like "
                    "a Relief.").lower() == "trump’s tariffs are the highest in a century"
    assert headline("Japan Names Hiro Sato Ambassador, Saying He Knows Washington").lower() == \
        "japan names hiro sato ambassador, saying he knows washington"  # short enough: whole


def test_headline_casing_is_never_half_converted():
    """Title Case becomes sentence case only when the coverage decides every word."""
    casing = Casing.learn([
        "The steel maker said it would strike a fair deal with the union, and exports may fall.",
        "Officials in New York expect the deal to start soon; the Reserve Bank of Australia agreed.",
        "Analysts at the Reserve Bank said exports would start to bite into growth.",
    ])
    assert casing.sentence_case("Japan Determined to Strike Fair Deal With New York Partners") == \
        "Japan Determined to Strike Fair Deal With New York Partners"  # "determined", "partners": no evidence
    assert casing.sentence_case("Steel Maker Will Strike Fair Deal With New York") == \
        "Steel maker will strike fair deal with New York"  # "New York" seen as a pair keeps its capitals
    assert casing.sentence_case("Reserve Bank of Australia Says Exports Fall") == \
        "Reserve Bank of Australia says exports fall"
    assert casing.sentence_case("U.S. Exports Fall. Deal Talks Start") == "U.S. exports fall. Deal talks start"
    assert casing.sentence_case("Japan names a new envoy") == "Japan names a new envoy"  # already sentence case


def test_a_second_outlets_opening_sentence_does_not_state_the_appointment_again():
    """Each outlet leads with the event; the paragraph says it once, then what the second outlet adds."""
    ledger = _article(1, "ledger", "Cabinet names Hiro Sato ambassador to US",
                      "The Cabinet on Tuesday appointed Hiro Sato, a former deputy foreign minister, as Japan's next "
                      "ambassador to the United States, replacing Ken Ito. Chief Cabinet Secretary Aiko Mori announced "
                      "the appointment at a news conference. Sato joined the Foreign Ministry in 1988 and has worked "
                      "on the alliance for most of his career.", authority=0.8)
    wire = _article(2, "wire", "Japan taps Sato as envoy to Washington",
                    "Tokyo's Cabinet named Hiro Sato, 61, to replace Ambassador Ken Ito; he is expected to arrive in "
                    "Washington in December. The US government has already approved the appointment, officials "
                    "said. Ito is expected to retire from the foreign service.")
    sentences = [s.text for s in select_sentences(StoryDraft([ledger, wire]))]
    assert len([s for s in sentences if re.search(r"Cabinet (?:on Tuesday )?(?:appointed|named) Hiro Sato", s)]) == 1
    assert "The US government has already approved the appointment, officials said." in sentences
    assert {s.article.source for s in select_sentences(StoryDraft([ledger, wire]))} == {"ledger", "wire"}


def test_a_paragraph_opens_with_the_event_not_a_reaction_to_it():
    """A reaction ("Lawmakers welcomed an agreement ...") follows the event; it never opens the paragraph
    or, for feed-only coverage, gives the headline, while another source reports the event itself."""
    from alliance_digest.pipeline.summarise import is_reaction

    event = _article(1, "ledger", "Japan, US AI institutes agree to test frontier models together",
                     "Japan's AI Safety Institute and its US counterpart agreed on Friday to jointly test advanced "
                     "artificial intelligence models. The two bodies will exchange staff for periods of up to "
                     "six months.", authority=0.6)
    reaction = _article(2, "dispatch", "AI testing pact draws praise on the Hill",
                        "Lawmakers on Friday welcomed an agreement under which the US Center for AI Standards and "
                        "Innovation and Japan's AI Safety Institute will jointly test advanced AI models. The "
                        "memorandum sets a goal of completing joint evaluations of two AI models by mid-2027.",
                        authority=0.9)
    lead = select_sentences(StoryDraft([event, reaction]))[0]
    assert lead.text.startswith("Japan's AI Safety Institute and its US counterpart agreed")
    assert is_reaction(reaction.text) and not is_reaction(lead.text)
    assert not is_reaction("Japan and the US agreed on Thursday to upgrade the command, a move welcomed by lawmakers.")

    welcomes = _article(3, "wire", "EU Welcomes Progress in US-China Trade Deal", "", authority=0.9)
    welcomes.summary = "Brussels said the truce would calm markets."
    deal = _article(4, "ledger", "US and China Reach Trade Deal on Tariffs", "", authority=0.5)
    deal.summary = "Both sides will cut tariffs for 90 days."
    feed_only = StoryDraft([welcomes, deal])
    assert draft_headline(feed_only).lower() == "us and china reach trade deal on tariffs"
    assert draft_summary(feed_only).startswith("**[US and China Reach Trade Deal on Tariffs](")


def test_selection_is_deterministic():
    story = StoryDraft([_article(1, "ledger", "t", BODY_1), _article(2, "wire", "t", BODY_2)])
    assert [s.text for s in select_sentences(story)] == [s.text for s in select_sentences(story)]


def test_numbering_rolls_over_volumes():
    numbering = Numbering(start_volume=2, start_number=19, issues_per_volume=20)
    assert numbering.first() == (2, 19)
    assert numbering.after(2, 19) == (2, 20)
    assert numbering.after(2, 20) == (3, 1)
    assert numbering.label(2, 20) == "Vol: 2.20"


def test_an_entity_group_can_stand_in_for_a_required_one():
    import dataclasses

    from alliance_digest.pipeline.relevance import EntityGroup

    plain = [e for e in PROFILE.topic.entities if not e.counts_as]
    firms = EntityGroup("Japanese companies", ["SoftBank"], counts_as="Japan", weight=1.0)
    without = RelevanceScorer(dataclasses.replace(PROFILE.topic, entities=plain))
    with_firms = RelevanceScorer(dataclasses.replace(PROFILE.topic, entities=plain + [firms]))
    title, body = "SoftBank in talks to buy US chipmaker's unit", "The US company confirmed the talks."
    assert with_firms.score(title, body).score > PROFILE.topic.threshold > without.score(title, body).score



def test_the_citation_link_sits_on_the_verb_not_on_a_modal():
    from alliance_digest.pipeline.summarise import link_span

    def anchor(sentence: str) -> str:
        start, end = link_span(sentence)
        return sentence[start:end]

    assert anchor("Japan and the United States will set up an early-warning mechanism on chips.") == "set"
    assert anchor("The plant will be built in Arizona by 2028, the company said.") == "built"
    assert anchor("The two sides will not meet again before March.") == "meet"
    assert anchor("Tokyo aims to double chip output by 2030.") == "double"
    assert anchor("The Cabinet on Tuesday appointed Hiroyuki Sakurai as ambassador.") == "appointed"


def test_a_headline_quoted_as_the_lead_links_as_a_headline():
    """A feed-only lead is the source's Title Case headline: its verb, or else the whole headline, carries the link
    (never a noun like "Japan's" picked because it comes first)."""
    from alliance_digest.pipeline.summarise import link_span

    def anchor(sentence: str) -> str:
        start, end = link_span(sentence)
        return sentence[start:end]

    assert anchor("Japan’s Exports to U.S. Fall as Tariffs Start to Bite.") == \
        "Japan’s Exports to U.S. Fall as Tariffs Start to Bite"
    assert anchor("Trump Says Japan Deal Is Done.") == "Says"
    assert anchor("US Steel workers see hope of job security in deal with Japan.") != "US"


def test_the_bold_key_fact_is_a_main_statement_not_a_side_clause_or_an_attribution():
    from alliance_digest.pipeline.summarise import bold_span

    def bold(sentence: str) -> str:
        start, end = bold_span(sentence)
        return sentence[start:end]

    appointed = bold("The Cabinet on Tuesday appointed Hiroyuki Sakurai, a former senior deputy minister, as Japan's "
                     "next ambassador to the United States, replacing Ryoichi Nakabayashi, who has held the post "
                     "since January 2023.")
    assert appointed == "The Cabinet on Tuesday appointed Hiroyuki Sakurai"  # not "who has held the post since..."
    said = bold("Hoshi will buy Calder Bio for $4.6 billion in cash, the Osaka-based drugmaker said on Thursday.")
    assert "said" not in said and "$4.6 billion" in said
    listed = bold("Warships from the Philippines, the United States and Japan are holding their first trilateral "
                  "maritime activity near the Luzon Strait on Tuesday and Wednesday, the Philippine military said.")
    assert listed != "Warships from the Philippines" and "are holding" in listed
    pay = bold("Hoshi Pharmaceutical will pay up to $2.1 billion to license a cancer drug from a US biotech company "
               "based in Boston, the companies said.")
    assert pay.endswith("$2.1 billion") or "$2.1 billion to license" in pay


def test_an_opinion_piece_never_speaks_in_the_digests_voice():
    """An editorial's standfirst is its author's view: it gives no sentence while the story has news."""
    news = _article(1, "ft", "US Steel workers see hope of job security in deal with Nippon Steel",
                    "Workers at US Steel plants said the deal with Japan's Nippon Steel could secure their jobs. "
                    "Nippon Steel raised its investment pledge to $11 billion on Tuesday.", relevance=0.75)
    opinion = _article(2, "wsj", "Opinion | Trump Takes a U.S. Steel Mulligan",
                       "Approving Nippon Steel's takeover bid will help steel workers and the U.S. industry. "
                       "The president should have approved the deal months ago.", relevance=0.9, authority=0.9)
    opinion.url = "https://www.wsj.com/opinion/trump-takes-a-us-steel-mulligan"
    story = StoryDraft([opinion, news])
    assert draft_headline(story).startswith("US Steel workers")
    assert all(s.article is news for s in select_sentences(story))
    only_opinion = StoryDraft([opinion])
    assert select_sentences(only_opinion)  # an opinion alone still gets its paragraph (the editor decides)


def test_a_wire_dateline_is_not_part_of_the_drafted_sentence():
    body = ("WASHINGTON (Meridian Wire) — The United States and Japan agreed on Wednesday to set up an early-warning "
            "system for chip supply disruptions. Officials met at the State Department.")
    story = StoryDraft([_article(1, "wire", "US, Japan agree chip early-warning system", body)])
    first = select_sentences(story)[0].text
    assert first.startswith("The United States and Japan agreed") and "Meridian Wire" not in first


def test_a_feed_only_paragraph_links_its_quoted_headline_whole_and_bolds_a_whole_clause():
    lead = _article(1, "ft", "US Steel workers see hope of job security in deal with Japan’s Nippon", "")
    lead.summary = "Workers in Pennsylvania say the takeover could protect their plants."
    markdown = draft_summary(StoryDraft([lead]))
    assert markdown.startswith("**[US Steel workers see hope of job security in deal with Japan’s Nippon](")
    two = _article(2, "wsj", "Officials from G-7 nations offered few details about their economic summit. U.S. "
                             "officials have discussed whether allies would work toward a unified tariff policy", "")
    two.summary = "Finance ministers met in Canada for three days."
    assert "**[Officials from G-7 nations offered few details about their economic summit](" in \
        draft_summary(StoryDraft([two]))


def test_a_feed_only_paragraph_does_not_print_its_headline_again_when_the_teaser_tells_the_news():
    """Under "Japan's exports fall for third consecutive month" the paragraph opened with the same words
    again; a teaser that tells the headline's news as a sentence now opens it instead."""
    item = _article(1, "wsj", "Japan’s Exports Fall for Third Consecutive Month", "")
    item.summary = ("Japan’s exports fell for a third consecutive month in July amid fears over the impact of "
                    "higher U.S. tariffs.")
    story = StoryDraft([item])
    assert draft_headline(story).lower() == "japan’s exports fall for third consecutive month"
    paragraph = draft_summary(story)
    assert paragraph.startswith("**Japan’s [exports](https://wsj.example/1) fell for a third consecutive month")
    assert "Fall for Third Consecutive Month" not in paragraph
    g7 = _article(2, "wsj", "Officials from G-7 nations offered few details about their economic summit", "")
    g7.summary = ("Finance and central bank chiefs from the Group of Seven nations offered few details about their "
                  "economic summit. U.S. officials have discussed a unified tariff policy on China.")
    assert draft_summary(StoryDraft([g7])).startswith("**Finance and central bank chiefs** from the Group of Seven")
    # a teaser that only follows its headline up leaves the headline to carry the news
    softbank = _article(3, "ft", "SoftBank held talks with Intel on buying contract chipmaking business", "")
    softbank.summary = "Japanese group’s approach comes as US manufacturer struggles to attract customers."
    assert draft_summary(StoryDraft([softbank])).startswith("**[SoftBank held talks with Intel on buying")


def test_folding_stories_of_one_development_is_the_profiles_choice():
    """Two probes on one beat (cosine 0.25, two days apart) fold by default; a profile can keep them apart,
    and a strict grouping threshold is never undone by the fold's "clearly alike" rule."""
    from alliance_digest.pipeline.compose import _merge_same_events

    day = datetime(2026, 9, 18, tzinfo=timezone.utc)

    def story(pk, terms, days):
        article = StoryArticle(id=pk, url=f"https://e.example/{pk}", title=f"Probe {pk}", text="",
                               source="Ledger", published=day + timedelta(days=days), relevance=0.9)
        return StoryDraft(articles=[article], terms_weights=terms)

    def stories():  # cosine 0.25 (one shared term of four) and 0.5 (two of four)
        return [story(1, {"probe": 1, "subsidies": 1, "goldwind": 1, "turbines": 1}, 0),
                story(2, {"probe": 1, "nuctech": 1, "scanners": 1, "airports": 1}, 2),
                story(3, {"probe": 1, "subsidies": 1, "crrc": 1, "trains": 1}, 30)]

    assert [len(s.articles) for s in _merge_same_events(stories())] == [3]  # the default: one development
    assert [len(s.articles) for s in _merge_same_events(stories(), developments=False)] == [2, 1]  # clearly alike only
    assert [len(s.articles) for s in _merge_same_events(stories(), clearly=0.55, developments=False)] == [1, 1, 1]
    from alliance_digest.profile import ProfileError

    off = parse_profile(tomllib.loads(default_profile_text().replace("fold_developments = true",
                                                                     "fold_developments = false")))
    assert off.grouping_fold_developments is False
    with pytest.raises(ProfileError, match="fold_developments must be true or false"):
        parse_profile(tomllib.loads(default_profile_text().replace("fold_developments = true",
                                                                   'fold_developments = "no"')))


def test_a_citation_never_lands_on_a_word_that_carries_no_news():
    from alliance_digest.pipeline.summarise import link_span

    sentence = "About 4,000 Marines are to move to Guam by 2028 under the plan, which Japan is helping to pay for."
    start, end = link_span(sentence)
    assert sentence[start:end] == "move"  # not "which" ("plan" here is a noun, not "plans to")
    start, end = link_span("Japan will set up a joint command next year.")
    assert "Japan will set up a joint command next year."[start:end] == "set"
