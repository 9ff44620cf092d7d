"""Conversation: follow-up questions understood from the earlier turns, without an LLM.

People ask the next question the way they would ask a person: "Who wants to change it?",
"And what did Corbyn say?". Such a question has too few words of its own to find its passages,
so the retrieval query borrows the key terms of the earlier user turns it leans on. A question
borrows only when it leans on them by its form (a word that refers back, "and ...", "what about
...") or has no word that names anything; a question that names its own subject ("What is the
capital of Peru?") is searched as it is, so the old topic cannot pollute it. Whether the
articles cover a question is judged on its own words whatever it borrowed (answers.py), and
small talk ("Thanks!", "Tell me a joke") gets a short plain reply without any search.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

from newsdesk.query import Turn

CHAIN_TURNS = 3  # how far back a chain of follow-ups may reach for its topic
OWN_WORDS_FOR_A_NEW_TOPIC = 4  # a question with this many content words can stand alone
CONTEXT_GAIN = 0.03  # the earlier terms must raise the coverage confidence this much to be kept
# A question that only may lean on the earlier turns stands alone when the articles cover it as
# it is by even odds of the coverage model (coverage.py): "Which holiday was celebrated this week?"
STANDS_ALONE = 0.5

# Words that refer back to something said before. "it"/"that" are often not anaphoric
# ("Is it true that ...?"), which is why a long question with them is only a weak signal.
ANAPHORA = frozenset("""
    it its itself they them their theirs themselves he him his himself she her hers herself
    that this those these there then such former latter
""".split())
# These nearly always point back to someone or something named before, however long the question.
PERSONAL = frozenset("its they them their theirs themselves he him his himself she her hers herself".split())
LEADING_CONTINUATIONS = ("and", "but", "also", "so", "then", "or")
WHAT_ABOUT = re.compile(r"^\s*(what|how)\s+about\b", re.IGNORECASE)
FUNCTION_WORDS = frozenset("""
    a an the and or but so also then of in on at to for from by with without into onto about over
    under after before since during as than is are was were be been being am do does did done doing
    has have had having will would shall should can could may might must i me my we us our you your
    what who whom whose which when where why how whether if not no yes any some all more most much many
    one ones other else just only very really too again still ever even please tell know say said says
    said happen happened happens now today week this that these those there it its they them their he
    him his she her hers himself herself itself themselves here thing things get got make made
    s t don doesn didn isn wasn aren weren won
""".split())
# Words, keeping "AT&T", "BA.2" and "Le-Touquet" whole.
_WORD = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9'’&\-]|\.(?=[A-Za-z0-9]))*")
_POSSESSIVE = re.compile(r"['’]s?$")  # "Corbyn's" carries the name "Corbyn"


History = Sequence[Turn]


@dataclass(frozen=True)
class Understood:
    """How a question is searched: on its own, or with the terms of the turns it leans on."""

    question: str
    retrieval_query: str
    context_terms: tuple[str, ...] = ()
    reason: str = "stands on its own"
    reply: str | None = None  # small talk: the whole answer, no search

    @property
    def is_small_talk(self) -> bool:
        return self.reply is not None

    @property
    def is_follow_up(self) -> bool:
        return bool(self.context_terms)

    @property
    def question_in_context(self) -> str:
        """The question with the earlier terms it leans on, for a writer that reads one string."""
        if not self.is_follow_up:
            return self.question
        return f"{self.question} (earlier in the conversation: {' '.join(self.context_terms)})"


Confidence = Callable[[str], float]  # how sure it is that the articles cover a query, 0..1


def understand(question: str, history: History | None = None,
               confidence: Confidence | None = None) -> Understood:
    """Decide whether the question is small talk or a follow-up, and build the query that
    retrieves for it."""
    reply = small_talk(question)
    if reply is not None:
        return Understood(question, question, reason="small talk", reply=reply)
    user_turns = [turn.content for turn in history or () if turn.role == "user"]
    if not user_turns:
        return Understood(question, question)
    terms = topic_terms(user_turns, exclude=content_words(question))
    if not terms:
        return Understood(question, question)
    signal = follow_up_signal(question)
    if signal is None:
        return Understood(question, question)
    contextual = with_terms(question, terms)
    strength, reason = signal
    if strength == "weak":
        if confidence is None:
            return Understood(question, question, reason=f"{reason}, but it may stand alone")
        alone = confidence(question)
        if alone >= STANDS_ALONE:
            return Understood(question, question, reason=f"{reason}, but the articles cover it as it is")
        together = confidence(contextual)
        if together < alone + CONTEXT_GAIN:
            return Understood(question, question, reason=f"{reason}, but the earlier turns do not help")
        reason = f"{reason}; the earlier turns raise coverage confidence {alone:.2f} → {together:.2f}"
    return Understood(question, contextual, tuple(terms), reason)


def follow_up_signal(question: str) -> tuple[Literal["strong", "weak"], str] | None:
    """Why a question looks like it leans on earlier turns, and how sure that is; None if it doesn't."""
    words = [w.lower() for w in _WORD.findall(question)]
    if not words:
        return None
    own = content_words(question)
    referring = sorted({w for w in words if w in ANAPHORA})
    if words[0] in LEADING_CONTINUATIONS:
        return "strong", f"starts with {words[0]!r}"
    if len(own) <= 1:
        return "strong", "has almost no words of its own"
    if WHAT_ABOUT.match(question):
        return "strong", "asks 'what about ...'"
    if referring:
        reason = f"refers back with {', '.join(repr(w) for w in referring)}"
        if len(own) < OWN_WORDS_FOR_A_NEW_TOPIC:
            return "strong", reason
        if any(w in PERSONAL for w in referring):  # "his" may be the question's own subject's
            return "weak", reason
        # "this country", "that day" in a question with words enough of its own: quiz-style
        # questions describe their subject this way, and borrowing pulled in the last topic.
        return None
    # "How many people died?": short, and no word of it names anything. "What is the capital of
    # Peru?" is as short but names its subject, so it stands alone (it once borrowed the last
    # topic whenever that raised the best cosine, which for an uncovered question it always did).
    if len(own) < OWN_WORDS_FOR_A_NEW_TOPIC and not any(_names_something(w) for w in own):
        return "weak", "is short and names nothing"
    return None


def topic_terms(user_turns: Sequence[str], exclude: Sequence[str] = ()) -> list[str]:
    """Key terms of the latest user turn and of the earlier turns it itself leaned on."""
    chain = [user_turns[-1]]
    for earlier in reversed(user_turns[-CHAIN_TURNS:-1]):
        signal = follow_up_signal(chain[-1])
        if signal is None or signal[0] == "weak":
            break  # the chain's oldest turn (probably) stood on its own: it set the topic
        chain.append(earlier)
    terms: list[str] = []
    seen = {word.lower() for word in exclude}
    for turn in chain:
        for word in content_words(turn):
            if word.lower() not in seen:
                seen.add(word.lower())
                terms.append(word)
    return terms


def content_words(text: str) -> list[str]:
    """The words that carry the topic, in their written form (names keep their capitals)."""
    words = (_POSSESSIVE.sub("", w) for w in _WORD.findall(text))
    return [w for w in words if w and (w.lower() not in FUNCTION_WORDS or _acronym(w))]


def _names_something(word: str) -> bool:
    """A name ("Peru", "EQXX"), a number or a year: words that pick out a subject by themselves."""
    return word[:1].isupper() or any(c.isdigit() for c in word)


def _acronym(word: str) -> bool:
    return len(word) > 1 and word.isupper()  # "US", "IT": a name, not the pronoun


def with_terms(question: str, terms: Sequence[str]) -> str:
    return f"{question} {' '.join(terms)}"


# ---------------------------------------------------------------- small talk

# Greetings, thanks and requests no news article can serve. They get a plain reply and no
# citations: searching for them only ever found the last topic's passages again.
_SMALL_TALK = [
    (re.compile(r"^(hi|hello|hey|hiya|howdy|greetings|good (morning|afternoon|evening|day))\b"
                r"( there| newsdesk)?\W*$", re.IGNORECASE),
     "Hello! Ask me about the news in the indexed articles, and I'll answer with the passages I found."),
    (re.compile(r"^(many )?(thanks|thank you|thank u|thx|ta|cheers|great|perfect|cool|nice|ok|okay|"
                r"got it|brilliant|awesome)\b( (so|very) much| a lot| again)?\W*$", re.IGNORECASE),
     "You're welcome. Ask another question whenever you like."),
    (re.compile(r"^(bye|goodbye|see you|see ya|good night)\b\W*$", re.IGNORECASE),
     "Goodbye!"),
    (re.compile(r"^(how are you( doing)?( today)?|how's it going|what's up|who are you|what are you|"
                r"what can you do|help)\W*$", re.IGNORECASE),
     "I answer questions from the indexed news articles, citing the passages each answer comes "
     "from. Ask about a story, a person or an event."),
    (re.compile(r"^(please )?((can|could|would|will) you )?(please )?("
                r"(tell|say|make up|give) (me |us )?(a |an |another |some )?(joke|riddle|fun fact|pun)s?"
                r"|(write|compose) (me |us )?(a |an |another |some )?(\w+ )?(poem|story|song|essay|haiku|"
                r"limerick|letter|e-?mail|code|program|script|joke|rap|speech)s?"
                r"|(draw|sing|paint)|pretend|role-?play|imagine you)\b", re.IGNORECASE),
     "I can only answer questions from the indexed news articles, with the passages that say so; "
     "that isn't something they can do."),
]


def small_talk(question: str) -> str | None:
    """A short plain reply when the question is small talk or a request the articles can't serve."""
    text = question.strip()
    for pattern, reply in _SMALL_TALK:
        if pattern.search(text):
            return reply
    return None
