"""Drafting a story's headline and its cited, extractive details paragraph.

Everything here is extractive and deterministic: the headline is the
story's most representative source headline (shortened at a natural
break when too long, put in sentence case), and every sentence of the
paragraph is a sentence of one of the story's sources, linked to it. The
key fact of the lead sentence (the clause with a figure, else the main
clause) is set in bold. Nothing is generated, so nothing can be invented.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from urllib.parse import quote

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from alliance_digest.pipeline.records import StoryArticle, StoryDraft
from alliance_digest.pipeline.text import split_sentences, squash, words

HEADLINE_MAX_WORDS = 12
SUMMARY_MIN_WORDS = 60
SUMMARY_TARGET_WORDS = 100
FEED_ONLY_TARGET_WORDS = 30
SUMMARY_MAX_WORDS = 160
SENTENCE_MIN_WORDS = 6
SENTENCE_MAX_WORDS = 48
REDUNDANT = 0.4  # cosine above which a sentence repeats one already chosen
RESTATED_LEDE = 1 / 3  # share of another article's opening sentence already said above which it only restates
TEASER_TELLS_HEADLINE = 0.5  # share of a headline's content words its teaser repeats to open the paragraph instead
BOLD_MAX_WORDS = 16
HEADLINE_RELEVANCE_SHARE = 0.6  # of the story's best relevance, to give the headline or lead sentence

_BOILERPLATE = re.compile(
    r"(subscribe|sign up|newsletter|click here|read more|all rights reserved|©|cookie|"
    r"follow us|advertisement|share this|related:|photo:|file photo)", re.I)
_NUMBER = re.compile(r"(\$|¥|€|£)?\d[\d,.]*\s*(%|percent|billion|million|trillion|yen|dollars)?", re.I)
_CLAUSE_BREAK = re.compile(r",\s+|;\s+|\s+[—–]\s+|:\s+")
_TITLE_SUFFIX = re.compile(r"\s+[|\-–—]\s+[^|\-–—]{2,40}$")
_TITLE_PREFIX = re.compile(r"^(opinion|analysis|exclusive|explainer|watch|live|update|breaking|editorial|"
                           r"commentary|review|podcast|video)\s*[|:\-–—]\s*", re.I)
_SUBORDINATE = ("which", "who", "whom", "whose", "where", "when", "while", "although", "though", "as", "after")
HEADLINE_HARD_MAX = 16
_TRAILING_ATTRIBUTION = re.compile(r",\s+(?:saying|adding|citing|according to|as|while|which)\s")
_CUT_BEFORE = {"after", "amid", "as", "over", "with", "for", "in", "on", "despite", "following", "ahead",
               "while", "before", "to", "at", "by", "from"}  # beyond this a headline is cut at a natural break
NEWS_VERBS = {
    "announced", "announces", "said", "says", "signed", "signs", "agreed", "agree", "agrees",
    "named", "names", "met", "meet", "meets", "unveiled", "unveils", "reported", "reports",
    "confirmed", "confirms", "approved", "approves", "launched", "launches", "held", "hold",
    "holds", "pledged", "pledges", "called", "calls", "warned", "warns", "plans", "planned",
    "agreed", "appointed", "appoints", "established", "establishes",
    "conducted", "conducts", "joined", "joins", "told", "stated", "released", "releases",
    "discussed", "discusses", "expects", "expected", "completed", "completes", "begins",
    "began", "opened", "opens", "set", "sets", "led", "leads", "won", "wins", "raised",
    "raises", "cut", "cuts", "visited", "visits", "urged", "urges", "committed",
}
_NOT_VERBS = {"united", "red", "need", "feed", "seed", "speed", "hundred", "kindred", "bed"}
_MODALS = {"will", "would", "could", "should", "may", "might", "must", "can", "plan", "plans", "aim", "aims",
           "agreed", "agree", "agrees", "decided", "promised", "vowed", "pledged"}  # "will set up": the verb follows
_LINKABLE_AFTER_MODAL = re.compile(r"^[a-z]{2,}$")
_AUXILIARIES = {"to", "be", "been", "have", "not", "also", "soon", "likely"}


@dataclass
class Sentence:
    text: str
    article: StoryArticle
    position: int
    score: float = 0.0


def clean_title(title: str) -> str:
    """A source headline without the outlet suffix or trailing period."""
    title = _TITLE_PREFIX.sub("", squash(title))
    stripped = _TITLE_SUFFIX.sub("", title)
    if len(words(stripped)) >= 4:
        title = stripped
    title = title.rstrip(" ")
    if title.endswith(".") and not _ENDS_IN_ABBREVIATION.search(title):  # "... With U.S." keeps its period
        title = title.rstrip(".").rstrip()
    return title


_ENDS_IN_ABBREVIATION = re.compile(r"(?:\b(?:[A-Z]\.){2,}|\b(?:Inc|Corp|Co|Ltd|Jr|Sr|St)\.)$")


_HEADLINE_WORDS = NEWS_VERBS | {"will", "would"} | set("""a an the and or but of to in on at for with by from as over amid after before
into about against under new next first last top key talks deal deals plan plans pact agree agrees sign
signs name names pick picks tap taps back backs seek seeks push pushes hit hits face faces vow vows eye eyes
boost boosts cut cuts raise raises say says meet meets hold holds open opens launch launches set sets
end ends begin begins hike hikes tariff tariffs trade minister ministers envoy ambassador president
prime secretary chief official officials leader leaders drill drills exercise exercises summit""".split())


_TOKEN = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?")
_PIECE = re.compile(_TOKEN.pattern + r"|[^A-Za-z]+")  # words and what lies between them
CASING_TEXT_CHARS = 2000  # enough running text per article to learn how it writes a word


def _base(token: str) -> str:
    """``"Japan's"`` -> ``"Japan"``: casing is judged on the word, not its possessive."""
    return re.split(r"['’]", token, maxsplit=1)[0]


def _capitalised(word: str) -> bool:
    return word[:1].isupper() and word[1:].islower()


def _title_case(title: str) -> bool:
    tokens = title.split(" ")
    capitalised = [t for t in tokens[1:] if t[:1].isupper()]
    return len(tokens) >= 4 and len(capitalised) >= 0.6 * (len(tokens) - 1)


@dataclass
class Casing:
    """How the sources write each word in running text, to put Title Case headlines in sentence case.

    Counts, per lower-cased word, its lower-case uses and its capitalised uses
    that do not start a sentence, plus pairs of capitalised words seen side by
    side ("New York", "Reserve Bank"). A headline is converted only when every
    capitalised word is decided, so the result is never half converted: a word
    the sources write in lower case (three times as often, at least) is lowered,
    a word they capitalise mid-sentence (as often) or a known pair keeps its
    capital, and one word without clear evidence keeps the source's own casing.
    """

    lower: Counter
    capital: Counter
    pairs: Counter

    @classmethod
    def learn(cls, texts: list[str]) -> "Casing":
        casing = cls(Counter(), Counter(), Counter())
        for text in texts:
            if _title_case(text):  # a Title Case headline says nothing about casing
                continue
            for sentence in split_sentences(text[:CASING_TEXT_CHARS]):
                tokens = [_base(t) for t in _TOKEN.findall(sentence)]
                for k, word in enumerate(tokens):
                    if word.islower():
                        casing.lower[word] += 1
                    elif k and _capitalised(word):
                        casing.capital[word.lower()] += 1
                for k in range(1, len(tokens) - 1):
                    if _capitalised(tokens[k]) and _capitalised(tokens[k + 1]):
                        casing.pairs[(tokens[k].lower(), tokens[k + 1].lower())] += 1
        return casing

    @classmethod
    def of_articles(cls, articles: list[StoryArticle]) -> "Casing":
        return cls.learn([t for a in articles for t in (a.title, a.summary, a.text) if t])

    def sentence_case(self, title: str) -> str:
        """``title`` in sentence case, or unchanged when it is not Title Case or a word is undecided."""
        if not _title_case(title):
            return title
        pieces = _PIECE.findall(title)
        words = [(i, _base(p)) for i, p in enumerate(pieces) if p[:1].isalpha()]
        out = list(pieces)
        for n, (i, word) in enumerate(words[1:], start=1):
            if not _capitalised(word):
                continue  # acronyms (BOJ), inner capitals (SoftBank), lower case already
            gap, before = pieces[i - 1], words[n - 1][1]
            if re.match(r"\s*[?!:]", gap) or (gap.startswith(".") and before[-2:].islower()):
                continue  # a new sentence or a colon's clause keeps its capital
            low, after = word.lower(), (words[n + 1][1] if n + 1 < len(words) else "")
            named = ((_capitalised(before) and not gap.strip() and self.pairs[(before.lower(), low)])
                     or (_capitalised(after) and self.pairs[(low, after.lower())])
                     or (self.capital[low] and self.capital[low] >= 3 * self.lower[low]))
            if named:
                continue
            if (self.lower[low] and self.lower[low] >= 3 * self.capital[low]) or (
                    low in _HEADLINE_WORDS and self.capital[low] <= self.lower[low]):
                out[i] = pieces[i].replace(word, low, 1)
            else:
                return title  # undecided: the source's casing beats a half-converted headline
        return "".join(out)


def _shorten(title: str) -> str:
    """Cut an over-long headline at a natural break, keeping its first part.

    A headline a little over the target is kept whole: a cut mid-phrase
    reads worse than two extra words. But a title that runs on past its
    news (a second sentence, or a trailing ", saying ..." as some feeds give
    a lead sentence for a title) ends where the news does.
    """
    if len(words(title)) > HEADLINE_MAX_WORDS:
        first = split_sentences(title)[0] if split_sentences(title) else title  # knows "Gen.", "Mr.", "St."
        for head in (first.rstrip(".!? "), _TRAILING_ATTRIBUTION.split(title, maxsplit=1)[0].strip()):
            if head != title and 4 <= len(words(head)) <= HEADLINE_MAX_WORDS:
                return head
    if len(words(title)) <= HEADLINE_HARD_MAX:
        return title
    for part in re.split(r":\s+|\s+[—–-]\s+|;\s+", title):
        if 3 <= len(words(part)) <= HEADLINE_MAX_WORDS:
            return part.strip()
    head = title.split(", ")[0]
    if 3 <= len(words(head)) <= HEADLINE_HARD_MAX:
        return head
    tokens = title.split()
    for k in range(min(HEADLINE_MAX_WORDS, len(tokens) - 1), 4, -1):
        if tokens[k].lower() in _CUT_BEFORE:  # drop a trailing qualifier phrase
            return " ".join(tokens[:k]).rstrip(",;:")
    return " ".join(tokens[:HEADLINE_MAX_WORDS])


_OPINION_TITLE = re.compile(r"^\s*(opinion|editorial|commentary|review|letters?)\s*[|:\-–—]", re.I)
_OPINION_PATH = re.compile(r"/(opinion|opinions|editorials?|commentary|letters)/", re.I)


def is_opinion(article: StoryArticle) -> bool:
    """An opinion piece, column or editorial (its outlet labels it so, in the title or the address)."""
    return bool(_OPINION_TITLE.match(article.title or "") or _OPINION_PATH.search(article.url or ""))


def _news_only(story: StoryDraft) -> list[bool]:
    """Which articles report rather than argue: an opinion's standfirst ("Approving the takeover will
    help steel workers") would read as fact in the digest's voice. All, if the story has no news."""
    news = [not is_opinion(a) for a in story.articles]
    return news if any(news) else [True] * len(news)


def _on_topic(story: StoryDraft) -> list[bool]:
    """Which of the story's articles may give its headline and lead sentence.

    A story keeps coverage somewhat below the relevance bar (general trade
    news beside a US-Japan deal); the digest's headline must still be about
    its topic, so it comes from an article nearly as relevant as the
    story's best. A folded story is headlined by its leading event. Opinion
    pieces give neither while the story has news.
    """
    eligible = story.lead_articles or len(story.articles)
    news = _news_only(story)
    pool = {k for k in range(eligible) if news[k]} or set(range(eligible))
    best = max((story.articles[k].relevance for k in pool), default=0.0)
    return [k in pool and a.relevance >= HEADLINE_RELEVANCE_SHARE * best for k, a in enumerate(story.articles)]


def _central_title(story: StoryDraft) -> int:
    """Index of the story's most representative on-topic source headline."""
    titles = [clean_title(a.title) for a in story.articles]
    sets = [set(w.lower() for w in words(t) if len(w) > 2) for t in titles]
    best, best_score = 0, -1.0
    on_topic = _on_topic(story)
    # a headline that reports the news, not a response to it ("EU welcomes ..."), when there is one
    reports = [ok and not is_reaction(t) for ok, t in zip(on_topic, titles)]
    eligible = reports if any(reports) else on_topic
    # judged against all the story's coverage
    for i, (title, toks) in enumerate(zip(titles, sets)):
        if not eligible[i]:
            continue
        others = [s for j, s in enumerate(sets) if j != i]
        central = (sum(len(toks & o) / (len(toks | o) or 1) for o in others) / len(others)) if others else 0
        n = len(words(title))
        fit = 0.25 if 5 <= n <= HEADLINE_MAX_WORDS else 0.0
        score = central + fit + 0.15 * story.articles[i].authority
        if score > best_score + 1e-9:
            best, best_score = i, score
    return best


def draft_headline(story: StoryDraft, casing: Casing | None = None) -> str:
    """The most representative source headline, newsroom-shaped.

    ``casing``: what the window's coverage says about how words are written
    (learned from the story's own articles when not given).
    """
    title = clean_title(story.articles[_central_title(story)].title)
    return (casing or Casing.of_articles(story.articles)).sentence_case(_shorten(title))


_DATELINE = re.compile(r"^[A-Z][A-Z.'’-]+(?: [A-Z][A-Z.'’-]+){0,3}(?:, [A-Z][a-z]{2,8}\.? \d{1,2})?"
                       r"(?: \([^()]{2,40}\))? ?[—–-]{1,2} (?=[A-Z\"“‘])")


_REACTION = re.compile(
    r"\b(?:welcom|prais|hail|applaud|critici[sz]|condemn|denounc|slamm|blast|laud|cheer)(?:ed|es|s)\b"
    r"|\bdecrie[ds]\b|\bdr(?:ew|aws) (?:\w+ )?(?:praise|criticism|reactions?|fire|backlash)\b", re.I)
_COMMENTATORS = re.compile(r"^(?:some |many )?(?:critics|opponents|supporters|skeptics|sceptics|analysts|observers)\b",
                           re.I)
_FIRST_CLAUSE = re.compile(r"[,;:]\s+(?=[a-z])|\s+[—–]\s+")  # a clause break; "Youngstown, Ohio-based" is none


def is_reaction(sentence: str) -> bool:
    """Whether a sentence's main clause reports a response to the news rather than the news.

    "Lawmakers on Friday welcomed an agreement under which ...", "Critics said ...": under the story's
    headline such an opening reads as if the reaction were the event. Only the first clause counts, so
    "Japan and the US agreed ..., a move welcomed by lawmakers" reports the event.
    """
    head = _FIRST_CLAUSE.split(sentence, maxsplit=1)[0]
    return bool(_REACTION.search(head) or _COMMENTATORS.match(head))


def _candidate_sentences(story: StoryDraft) -> list[Sentence]:
    out: list[Sentence] = []
    seen: set[str] = set()
    news = _news_only(story)
    for k, article in enumerate(story.articles):
        if not news[k]:
            continue  # an opinion's sentences are its author's view, not the digest's facts
        body = article.text or article.summary
        for pos, sent in enumerate(split_sentences(body)):
            if pos == 0:  # "WASHINGTON (Meridian Wire) — The United States...": the dateline is not news
                sent = _DATELINE.sub("", sent, count=1)
            n = len(words(sent))
            key = sent.lower()
            if key in seen or not (SENTENCE_MIN_WORDS <= n <= SENTENCE_MAX_WORDS):
                continue
            if _BOILERPLATE.search(sent) or not sent.rstrip("\"”’')").endswith((".", "!", "?")):
                continue
            seen.add(key)
            out.append(Sentence(sent, article, pos))
    if not out:  # feed-only stories: fall back to descriptions, then headlines
        for k, article in enumerate(story.articles):
            if not news[k]:
                continue
            text = article.summary or article.title
            if text and text.lower() not in seen:
                seen.add(text.lower())
                sent = text if text.endswith((".", "!", "?")) else text + "."
                out.append(Sentence(sent, article, 0))
    return out


def select_sentences(story: StoryDraft) -> list[Sentence]:
    """Central, non-redundant sentences from several sources, lead first."""
    candidates = _candidate_sentences(story)
    lead_title = None  # feed-only coverage: the sentence that opens the paragraph under the story's headline
    if not any(a.text for a in story.articles):
        article = story.articles[_central_title(story)]  # the story's headline is this article's
        title = clean_title(article.title)
        lead_title = _teaser_telling(title, article, candidates)
        if lead_title:  # told as a sentence: the headline is not printed twice
            candidates.remove(lead_title)
            candidates.insert(0, lead_title)
        elif len(words(title)) >= 4:  # the source's own headline carries the key fact its teaser follows up
            lead_title = Sentence(title if title.endswith((".", "!", "?")) else title + ".", article, -1)
            candidates = [c for c in candidates if c.text.lower() != lead_title.text.lower()]
            candidates.insert(0, lead_title)
    if not candidates:
        return []
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True)
    try:
        matrix = vectorizer.fit_transform([c.text for c in candidates])
    except ValueError:
        return candidates[:1]
    centroid = np.asarray(matrix.mean(axis=0)).ravel()
    norm = np.linalg.norm(centroid) or 1.0
    central = (matrix @ centroid) / norm
    for i, cand in enumerate(candidates):
        position = {0: 0.3, 1: 0.15, 2: 0.05}.get(cand.position, 0.0)
        figure = 0.08 if _NUMBER.search(cand.text) and re.search(r"\d", cand.text) else 0.0
        cand.score = float(central[i]) + position + 0.1 * cand.article.authority + figure
    sims = np.maximum((matrix @ matrix.T).toarray(), _overlap([c.text for c in candidates]))
    chosen: list[int] = [0] if lead_title else []
    total = len(words(lead_title.text)) if lead_title else 0
    sources: set[str] = {lead_title.article.source} if lead_title else set()
    remaining = set(range(len(candidates))) - set(chosen)
    on_topic = {a.id: ok for a, ok in zip(story.articles, _on_topic(story))}
    # feed descriptions are teasers: past a headline and a few of them, more
    # adds words faster than facts
    target = FEED_ONLY_TARGET_WORDS if lead_title else SUMMARY_TARGET_WORDS
    while remaining and total < target:
        def gain(i: int) -> float:
            redundancy = max((sims[i, j] for j in chosen), default=0.0)
            fresh = 0.1 if candidates[i].article.source not in sources else 0.0
            return candidates[i].score - 0.7 * redundancy + fresh
        pool = remaining
        if not chosen:  # the lead sentence, like the headline, comes from on-topic coverage and reports the event
            pool = {i for i in remaining if on_topic[candidates[i].article.id]} or remaining
            pool = {i for i in pool if not is_reaction(candidates[i].text)} or pool
        best = max(sorted(pool), key=gain)
        remaining.discard(best)
        n = len(words(candidates[best].text))
        if chosen and max(max(sims[best, j] for j in chosen), _covered(candidates, best, chosen)) > REDUNDANT:
            continue
        if chosen and _restates_the_event(candidates, best, chosen):
            continue
        if total + n > SUMMARY_MAX_WORDS:
            if total >= SUMMARY_MIN_WORDS:
                break
            continue
        chosen.append(best)
        total += n
        sources.add(candidates[best].article.source)
    lead, rest = chosen[:1], chosen[1:]
    # after the lead, keep each source's sentences in its own order
    order = {a.id: k for k, a in enumerate(story.articles)}
    rest.sort(key=lambda i: (order[candidates[i].article.id], candidates[i].position))
    return [candidates[i] for i in lead + rest]


def _teaser_telling(title: str, article: StoryArticle, candidates: list[Sentence]) -> Sentence | None:
    """The headline's own teaser sentence that tells its news, if any: it holds at least half of the
    headline's content words ("Exports fell for a second straight month in June, ..." under "Japan's
    Exports Drop Again as Tariffs Weigh"). It opens the paragraph in the headline's place, which the
    story prints right above; a teaser that only follows the headline up leaves the headline to open."""
    told = _content(_shorten(title))  # as the story's headline prints it
    teaser = squash(article.summary or "")
    for candidate in candidates:
        text = candidate.text.rstrip(".")
        if candidate.article is not article or not teaser or text not in teaser or text == title.rstrip("."):
            continue
        if told and len(told & _content(candidate.text)) >= TEASER_TELLS_HEADLINE * len(told):
            return candidate
    return None


_STOP = frozenset("""a an and are as at be by for from has have he in is it its of on or that the their
this to was were will with after said says who which while also they than two three""".split())


def _content(text: str) -> set[str]:
    return {w.lower() for w in words(text) if w.lower() not in _STOP}


def _already_said(candidates: list, i: int, chosen: list[int]) -> float:
    """Share of a sentence's content words the chosen sentences already hold."""
    mine = _content(candidates[i].text)
    said = set().union(*(_content(candidates[j].text) for j in chosen))
    return len(mine & said) / (len(mine) or 1)


def _covered(candidates: list, i: int, chosen: list[int]) -> float:
    """``_already_said`` x 0.8, as ``_overlap``: three sources each restating who was named to what
    repeat one another only in sum."""
    return _already_said(candidates, i, chosen) * 0.8


def _restates_the_event(candidates: list, i: int, chosen: list[int]) -> bool:
    """Another article's opening sentence that repeats more than a third of itself from what is said.

    Every outlet opens with the event, so after the lead another outlet's lede mostly says it again
    ("Tokyo's Cabinet named Sakurai, 61, to replace ..." after "The Cabinet on Tuesday appointed
    Sakurai ..."), yet stays under the half that makes any sentence redundant. It is kept only when
    mostly new. The lead article's own sentences (a feed teaser under its headline) are exempt.
    """
    lead = candidates[chosen[0]]
    if candidates[i].position != 0 or candidates[i].article.id == lead.article.id:
        return False
    return _already_said(candidates, i, chosen) > RESTATED_LEDE


def _overlap(texts: list[str]) -> np.ndarray:
    """Share of the shorter sentence's content words found in the other one."""
    sets = [{w.lower() for w in words(t) if w.lower() not in _STOP} for t in texts]
    n = len(sets)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            small = min(len(sets[i]), len(sets[j])) or 1
            out[i, j] = out[j, i] = len(sets[i] & sets[j]) / small * 0.8
    return out


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>])")


def md_escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_url(url: str) -> str:
    return quote(url, safe=":/?#[]@!$&'*+,;=%~-._")


def _word_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"\S+", text)]


def bold_span(sentence: str) -> tuple[int, int]:
    """Character span of the key fact: the main clause that holds a figure, if any.

    Each clause (and a long clause cut before "that", "to", "which"...) is
    scored: a figure counts most, then being a main clause with a verb; an
    attribution ("the company said on Thursday"), a clause that opens with
    "who" or "which", or a bare noun phrase ("Warships from the Philippines"
    before a list comma) is a poor key fact.
    """
    clauses, start = [], 0
    for m in _BOLD_BREAK.finditer(sentence):
        clauses.append((start, m.start()))
        start = m.end()
    clauses.append((start, len(sentence.rstrip(".!?\"”’'"))))

    def text(span):
        return sentence[span[0]:span[1]]

    def size(span):
        return len(text(span).split())

    def balanced(span):
        t = text(span)
        return t.count('"') % 2 == 0 and t.count("“") == t.count("”") and t.count("(") == t.count(")")

    def has_verb(span):
        tokens = [w.strip("\"“”'’(),").lower() for w in text(span).split()]
        return any(w in _VERBISH or (len(w) > 4 and w.endswith("ed") and w not in _NOT_VERBS) for w in tokens)

    clauses = [c for c in clauses if balanced(c)] or clauses
    # a clause with no verb before a comma is often the start of a list ("Warships from the
    # Philippines, the United States and Japan are holding..."): it also stands joined to the next
    def opens(span):
        first = text(span).split(" ", 1)[0].lower()
        return first in _SUBORDINATE or first == "that" or first.endswith("ing")

    joined = [(a[0], b[1]) for a, b in zip(clauses, clauses[1:])
              if not has_verb(a) and has_verb(b) and not opens(a) and not opens(b)]
    options = []
    for order, clause in enumerate(clauses + joined):
        options.append((order, clause))
        if size(clause) > BOLD_MAX_WORDS:  # a long clause: its head, up to where it trails off
            for cut in _BOLD_CUT.finditer(text(clause)):
                head = (clause[0], clause[0] + cut.start())
                last = text(head).split()[-1] if text(head).split() else ""
                after = text(clause)[cut.end():].split(" ", 1)[0]
                in_a_name = last[:1].isupper() and after[:1].isupper()  # "Center for AI Standards"
                if 4 <= size(head) <= BOLD_MAX_WORDS and last.lower() not in _DANGLING and not in_a_name:
                    options.append((order + 0.5, head))

    def score(option):
        order, span = option
        t = text(span)
        tokens = [w.strip("\"“”'’(),").lower() for w in t.split()]
        value = 0.0
        if re.search(r"\d", t) and _NUMBER.search(t):
            value += 2
        if tokens and (tokens[0] in _SUBORDINATE or tokens[0] in ("that", "with", "including", "but", "and")):
            value -= 2  # "who has held the post since 2023", "with the first phase in 2027": side facts
        else:
            value += 1
        if has_verb(span):
            value += 1
        if _ATTRIBUTION.search(t) and size(span) <= 8:
            value -= 3
        return value - 0.01 * order + 0.005 * size(span)  # of equals, the fuller statement

    fitting = [o for o in options if 3 <= size(o[1]) <= BOLD_MAX_WORDS]
    if fitting:
        pick = max(fitting, key=score)[1]
    else:
        spans = _word_spans(sentence)
        words_at = [sentence[s:e] for s, e in spans]
        last = min(len(spans), 8) - 1
        while 2 < last < len(spans) - 1 and words_at[last][:1].isupper() and (
                words_at[last + 1][:1].isupper() or words_at[last + 1] == "of"):
            last -= 1  # not inside a name ("chiefs from the Group | of Seven"): before it
        while last > 2 and words_at[last].lower().strip(",;:") in _DANGLING:
            last -= 1  # "... offered few details about" ends on its noun instead
        pick = (spans[0][0], spans[last][1])
    t = text(pick)
    lead_trim = len(t) - len(t.lstrip())
    return pick[0] + lead_trim, pick[0] + len(t.rstrip(" ,;:"))


# clause breaks for the bold span; a two-sentence source headline ("X did Y. Z says W") breaks too
_BOLD_BREAK = re.compile(r",\s+|;\s+|\s+[—–]\s+|:\s+|(?<=[a-z0-9])\.\s+(?=[A-Z])")
_BOLD_CUT = re.compile(r"\s(?:that|which|who|to|for|after|as|while|because|so|amid|including|near|on|in|at)\s")
# a head cut short after these reads as a fragment ("will pay up", "an agreement under", "are")
_DANGLING = {"a", "an", "the", "of", "by", "with", "under", "from", "and", "or", "but", "to", "in", "on", "at",
             "for", "up", "is", "are", "was", "were", "be", "been", "being", "has", "have", "had", "will",
             "would", "could", "should", "may", "might", "must", "can", "its", "their", "his", "her"}
_ATTRIBUTION = re.compile(r"\b(said|says|told|according to|reported|announced|stated)\b", re.I)
_VERBISH = NEWS_VERBS | _MODALS | {"is", "are", "was", "were", "be", "been", "has", "have", "had", "do", "does",
                                   "did", "will", "would"}


_DETERMINERS = {"the", "a", "an", "this", "that", "its", "their", "his", "her", "our", "whose", "new"}
# words that carry no news: a link on them reads as a slip ("under the plan, [which] Japan ...")
_FUNCTION_WORDS = {"the", "which", "that", "this", "these", "those", "with", "from", "into", "onto", "about",
                   "after", "before", "while", "where", "when", "than", "then", "there", "their", "them", "they",
                   "also", "over", "under", "some", "such", "both", "each", "more", "most", "other", "whose"}


def link_span(sentence: str) -> tuple[int, int]:
    """The phrase to carry the citation: the first reporting/action verb."""
    spans = _word_spans(sentence)
    for k, (s, e) in enumerate(spans):
        token = sentence[s:e].strip(".,;:\"“”'’()")
        low = token.lower()
        if k == 0 or not token.isalpha():
            continue
        if low in NEWS_VERBS or (low == token and low.endswith("ed") and len(low) > 4 and low not in _NOT_VERBS):
            off = sentence[s:e].find(token)
            return s + off, s + off + len(token)
        before = sentence[spans[k - 1][0]:spans[k - 1][1]].lower()
        if low in _MODALS - NEWS_VERBS and before not in _DETERMINERS and sentence[s:e][-1:].isalpha():
            # "will set up", "will be built": link the verb, not "will" (but "the plan, which" has no verb)
            for ns, ne in spans[k + 1:k + 4]:
                verb = sentence[ns:ne].strip(".,;:\"“”'’()")
                if verb in _AUXILIARIES:
                    continue
                if _LINKABLE_AFTER_MODAL.match(verb) and verb not in _FUNCTION_WORDS:
                    off = sentence[ns:ne].find(verb)
                    return ns + off, ns + off + len(verb)
                break
    if _title_case(sentence):  # a source's headline as the lead: "Japan Determined to Strike Fair Deal With U.S."
        for k, (s, e) in enumerate(spans):
            token = sentence[s:e].strip(".,;:\"“”'’()")
            if k and token.isalpha() and token.lower() in NEWS_VERBS:
                off = sentence[s:e].find(token)
                return s + off, s + off + len(token)
        if len(spans) <= HEADLINE_HARD_MAX:  # no verb to carry it: the headline itself links, as on any news page
            return _whole(sentence)
    for k, (s, e) in enumerate(spans):
        token = sentence[s:e].strip(".,;:\"“”'’()")
        if k and token.isalpha() and token.islower() and len(token) >= 4 and token not in _FUNCTION_WORDS:
            off = sentence[s:e].find(token)
            return s + off, s + off + len(token)
    s, e = spans[0]
    return s, e


def _whole(sentence: str) -> tuple[int, int]:
    spans = _word_spans(sentence)
    start, end = spans[0][0], spans[-1][1]
    while end > start and sentence[end - 1] in ".!?":
        end -= 1
    return start, end


def render_sentence(sentence: str, url: str | None, bold: bool, headline: bool = False) -> str:
    """Markdown for one sentence: escaped text, one link, optional bold span.

    Spans are word-aligned, so a one-word link is wholly inside or outside
    the bold span; marks at one position sort closers first so they nest.
    """
    LINK_CLOSE, BOLD_CLOSE, BOLD_OPEN, LINK_OPEN = range(4)
    marks: list[tuple[int, int, str]] = []
    if bold:
        bs, be = bold_span(sentence)
        marks += [(bs, BOLD_OPEN, "**"), (be, BOLD_CLOSE, "**")]
    if url:
        # a source's headline quoted as the lead links as a headline does on any news page: whole
        ls, le = _whole(sentence) if headline else link_span(sentence)
        if bold and (ls < bs < le or ls < be < le):
            ls, le = bs, be
        marks += [(ls, LINK_OPEN, "["), (le, LINK_CLOSE, f"]({md_url(url)})")]
    out, cursor = [], 0
    for pos, _, mark in sorted(marks):
        out.append(md_escape(sentence[cursor:pos]))
        out.append(mark)
        cursor = pos
    out.append(md_escape(sentence[cursor:]))
    return "".join(out)


def draft_summary(story: StoryDraft) -> str:
    """One details paragraph: sentences of the sources, each source linked."""
    chosen = select_sentences(story)
    parts, previous_url, linked = [], None, set()
    for k, sent in enumerate(chosen):
        url = sent.article.url
        cite = url if (url != previous_url or url not in linked) else None
        parts.append(render_sentence(sent.text, cite, bold=(k == 0), headline=(sent.position == -1)))
        if cite:
            linked.add(url)
        previous_url = url
    return " ".join(parts)


def draft(story: StoryDraft, casing: Casing | None = None) -> None:
    story.headline = draft_headline(story, casing)
    story.summary_markdown = draft_summary(story)
