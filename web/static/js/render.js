// The conversation's DOM, built from /ask answers with createElement and textContent only:
// questions and article text never pass through an HTML parser, so they show as typed.
// The markup matches web/templates/_answer.html; answerParts, sourceGroups and the links mirror
// src/newsdesk/pages.py.

import { answerMarkdown } from "./markdown.js";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const CONTEXT_BEFORE = 140; // characters of passage shown before the highlighted sentence
const CONTEXT_AFTER = 200;
const PLAIN_EXCERPT = 320; // characters shown of a passage with nothing highlighted
const JOINED_CHARS = 20; // at most this much of the word before a marker is kept on its line

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

// -- one turn: the question bubble and a slot for whatever answers it

export function turnElement(question) {
  const element = el("li", "turn");
  const asked = el("div", "bubble question");
  asked.append(el("p", null, question));
  const reply = el("div", "reply");
  reply.append(avatar());
  element.append(asked, reply);
  return {
    element,
    show(bubble) {
      reply.replaceChildren(reply.firstChild, bubble);
    },
  };
}

// The answers' avatar is the header's logo, the one mark of newsdesk (web/templates/_brand.html).
function avatar() {
  const logo = document.querySelector(".top .brand-mark");
  const mark = logo ? logo.cloneNode(true) : el("span");
  mark.setAttribute("class", "avatar");
  mark.setAttribute("aria-hidden", "true");
  return mark;
}

export function thinkingBubble() {
  const bubble = el("div", "bubble thinking");
  bubble.setAttribute("role", "status");
  const dots = el("span", "dots");
  dots.setAttribute("aria-hidden", "true");
  dots.append(el("span"), el("span"), el("span"));
  bubble.append(dots, el("span", "thinking-text", "Searching the articles…"));
  return bubble;
}

export function errorBubble(message, retry) {
  const bubble = el("div", "bubble error");
  bubble.setAttribute("role", "alert");
  bubble.append(el("p", "error-title", "No answer this time"), el("p", "error-text", message));
  const button = el("button", "retry", "Try again");
  button.type = "button";
  button.addEventListener("click", retry);
  bubble.append(button);
  return bubble;
}

// -- answers

// The answer while it streams in: the passages found as soon as they arrive, then the text so
// far with its markers already linked.
export function partialAnswer() {
  const bubble = el("article", "bubble answer streaming");
  bubble.setAttribute("aria-label", "Answer");
  bubble.setAttribute("aria-busy", "true");
  let paragraph = el("p", "answer-text");
  let cards = el("ol", "cards");
  const label = el("p", "sources-label", "Passages found");
  label.hidden = true;
  bubble.append(paragraph, label, cards);
  return {
    element: bubble,
    update(text, citations) {
      const parts = answerParts(text, citations.length);
      const next = answerText(parts, citations);
      paragraph.replaceWith(next);
      paragraph = next;
      const nextCards = cardList(citations, parts);
      cards.replaceWith(nextCards);
      cards = nextCards;
      label.hidden = citations.length === 0;
    },
  };
}

export function answerBubble(body) {
  const citations = Array.isArray(body.citations) ? body.citations : [];
  const parts = answerParts(String(body.answer ?? ""), citations.length);
  const bubble = el("article", body.abstained ? "bubble answer abstained" : "bubble answer");
  bubble.setAttribute("aria-label", "Answer");
  if (body.small_talk) {  // "Thanks!", "Tell me a joke": a plain reply, not a failed search
    bubble.append(el("p", "answer-text", body.answer));
    return bubble;
  }
  if (body.abstained) {
    bubble.append(
      el("p", "answer-label", "Not covered"),
      el("p", "answer-text", body.answer),
      el("p", "answer-hint", "Try other words, or add articles about it to the seeds folder."),
    );
    if (citations.length) {
      bubble.append(moreDetails(`Closest passages found (${citations.length})`, citations, parts));
    }
    return bubble;
  }
  const timeline = Array.isArray(body.timeline) ? body.timeline : [];
  bubble.append(timeline.length ? timelineList(timeline, citations) : answerText(parts, citations));
  if (body.note) bubble.append(el("p", "answer-note", body.note));
  const [sources, others] = sourceGroups(parts, citations);
  if (sources.length) bubble.append(el("p", "sources-label", "Sources"), cardList(sources, parts));
  if (others.length) {
    const label = `${others.length} more related passage${others.length === 1 ? "" : "s"}`;
    bubble.append(moreDetails(label, others, parts));
  }
  if (typeof body.took_ms === "number") {
    bubble.append(el("p", "took", `Answered in ${Math.round(body.took_ms)} ms`));
  }
  bubble.append(copyButton(body));
  return bubble;
}

// "Copy as Markdown": the answer with its sources as links, for a note, an issue or a chat.
function copyButton(body) {
  const button = el("button", "retry copy-markdown", "Copy as Markdown");
  button.type = "button";
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(answerMarkdown(body, window.location.origin));
      button.textContent = "Copied";
    } catch {
      button.textContent = "Copy failed: the browser refused the clipboard";
    }
  });
  return button;
}

// The answer text with its markers as links. A marker is a box of its own, and the line may
// break before a box: each group of markers shares a nowrap span with the word before it, so
// that no marker starts a line and reads as the next sentence's (_answer.html's answer_text).
function answerText(parts, citations) {
  const paragraph = el("p", "answer-text");
  let joined = null; // the open span: a word and the markers after it
  parts.forEach((part, i) => {
    const beforeMarker = parts[i + 1]?.marker !== undefined;
    if (part.marker !== undefined) {
      (joined ?? paragraph).append(markerLink(part, citations[part.marker - 1]));
    } else if (joined && beforeMarker && !part.text.trim()) {
      joined.append(part.text); // the space inside a group: "[1] [2]"
    } else if (beforeMarker) {
      const [head, word] = splitLastWord(part.text);
      joined = el("span", "cite-join", word);
      paragraph.append(head, joined);
    } else {
      joined = null;
      paragraph.append(part.text);
    }
  });
  return paragraph;
}

// A timeline answer (docs/timelines.md): an entry a step, each its day, its sentence and the
// marker that opens the article at that sentence; in the order the server put them.
function timelineList(timeline, citations) {
  const list = el("ol", "timeline");
  for (const entry of timeline) {
    const citation = citations[entry.citation - 1];
    const item = el("li");
    const day = el("time", "timeline-date", publishedLabel(entry.date));
    day.dateTime = entry.date;
    const text = el("p", "timeline-text", `${entry.text} `);
    if (citation) text.append(markerLink({ marker: entry.citation, sentence: entry.text }, citation));
    item.append(day, text);
    list.append(item);
  }
  return list;
}

function markerLink(part, citation) {
  const link = el("a", "marker", String(part.marker));
  link.href = articleLink(citation, part.sentence);
  link.setAttribute("aria-label", `Source ${part.marker}: ${citation.title || "untitled article"}`);
  return link;
}

// (the text before its last word, the last word and the spaces after it); of a long word only
// the last JOINED_CHARS characters go with the marker, so that the rest may still wrap.
function splitLastWord(text) {
  const [, word, spaces] = /(\S*)(\s*)$/.exec(text);
  const kept = Array.from(word).slice(-JOINED_CHARS).join("");
  return [text.slice(0, text.length - kept.length - spaces.length), kept + spaces];
}

// The answer text with each [n] that names a citation as a marker part. A marker's sentence is
// the text since the previous group of markers ("[1] [2]" is a group).
export function answerParts(text, citationCount) {
  const parts = [];
  let position = 0;
  let sentence = "";
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    const n = Number(match[1]);
    if (n < 1 || n > citationCount) continue;
    const between = text.slice(position, match.index);
    if (between) parts.push({ text: between });
    if (between.trim()) sentence = between.trim();
    parts.push({ text: match[0], marker: n, sentence });
    position = match.index + match[0].length;
  }
  if (position < text.length) parts.push({ text: text.slice(position) });
  return parts;
}

// The answer's sentences that cite [n], in order, each once.
function sentencesFor(parts, n) {
  return [...new Set(parts.filter((p) => p.marker === n && p.sentence).map((p) => p.sentence))];
}

function sourceGroups(parts, citations) {
  const named = new Set(parts.filter((p) => p.marker !== undefined).map((p) => p.marker));
  if (!named.size) return [citations, []];
  return [citations.filter((c) => named.has(c.n)), citations.filter((c) => !named.has(c.n))];
}

// -- citation cards

function moreDetails(label, citations, parts) {
  const details = el("details", "more");
  details.append(el("summary", null, label), cardList(citations, parts));
  return details;
}

function cardList(citations, parts) {
  const list = el("ol", "cards");
  for (const citation of citations) list.append(citationCard(citation, sentencesFor(parts, citation.n)));
  return list;
}

function citationCard(citation, sentences) {
  const item = el("li");
  const card = el("a", "card");
  card.href = articleLink(citation, sentences[0]);
  const head = el("span", "card-head");
  const number = el("span", "card-n", String(citation.n));
  number.setAttribute("aria-hidden", "true");
  head.append(number, el("span", "card-title", citation.title || "Untitled article"));
  card.append(head);
  const meta = [publishedLabel(citation.published), domainOf(citation.url), alsoIn(citation)]
    .filter(Boolean).join(" · ");
  if (meta) card.append(el("span", "card-meta", meta));
  card.append(passageExcerpt(String(citation.text ?? ""), sentences));
  item.append(card);
  return item;
}

// The outlets of the same story's other copies: the story is cited once, from its earliest copy.
function alsoIn(citation) {
  const outlets = Array.isArray(citation.also_in) ? citation.also_in : [];
  return outlets.length ? `also in: ${outlets.join(", ")}` : "";
}

// The passage around the highlighted sentences, cut at word boundaries; the article page
// shows it whole.
function passageExcerpt(text, sentences) {
  const spans = highlightSpans(text, sentences);
  let start = 0;
  let end = Math.min(text.length, PLAIN_EXCERPT);
  if (spans.length) {
    start = Math.max(0, spans[0][0] - CONTEXT_BEFORE);
    end = Math.min(text.length, spans[spans.length - 1][1] + CONTEXT_AFTER);
  }
  if (start > 0) {
    const space = text.indexOf(" ", start);
    start = space >= 0 && (!spans.length || space < spans[0][0]) ? space + 1 : start;
  }
  if (end < text.length) {
    const space = text.lastIndexOf(" ", end);
    const floor = spans.length ? spans[spans.length - 1][1] : 0;
    end = space > floor ? space : end;
  }
  const passage = el("span", "card-passage");
  if (start > 0) passage.append("… ");
  let position = start;
  for (const [from, to] of spans) {
    if (from > position) passage.append(text.slice(position, from));
    passage.append(el("mark", null, text.slice(from, to)));
    position = to;
  }
  if (end > position) passage.append(text.slice(position, end));
  if (end < text.length) passage.append(" …");
  return passage;
}

function highlightSpans(text, sentences) {
  const spans = [];
  for (const sentence of sentences) {
    const found = text.indexOf(sentence);
    if (found >= 0) spans.push([found, found + sentence.length]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  return spans.filter((span, i) => i === 0 || span[0] >= spans[i - 1][1]);
}

// The article page with the passage marked and, when found in it, the answer's sentence too.
export function articleLink(citation, sentence) {
  const start = Number(citation.char_start);
  let link = `/articles/${encodeURIComponent(citation.article_id)}/view?start=${start}&end=${Number(citation.char_end)}`;
  const text = String(citation.text ?? "");
  const found = sentence ? text.indexOf(sentence) : -1;
  if (found >= 0) {
    // The server counts code points; JavaScript strings count UTF-16 units.
    const before = codePoints(text.slice(0, found));
    link += `&sentence_start=${start + before}&sentence_end=${start + before + codePoints(sentence)}`;
  }
  return `${link}#cited`;
}

function codePoints(text) {
  return [...text].length;
}

// '2020/03/16' or an ISO date as '16 Mar 2020'; anything else as given.
export function publishedLabel(value) {
  const text = typeof value === "string" ? value.trim() : "";
  const match = /^(\d{4})[-/](\d{2})[-/](\d{2})/.exec(text);
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 12) return text;
  return `${Number(match[3])} ${MONTHS[Number(match[2]) - 1]} ${match[1]}`;
}

// The host an http(s) link really goes to (new URL parses as the browser follows links), as
// links.py's domain_of: no bidi controls, no trailing dot, no www.; "" for other links.
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function domainOf(url) {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return "";
    return parsed.hostname.replace(BIDI_CONTROLS, "").replace(/\.$/, "").replace(/^www\./, "");
  } catch {
    return "";
  }
}

export function countLabel(count, noun) {
  return `${Number(count).toLocaleString("en")} ${noun}${count === 1 ? "" : "s"}`;
}
