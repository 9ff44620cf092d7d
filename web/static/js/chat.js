// The chat page: sends questions, shows the conversation, keeps it for this browser tab so
// that "Back to the chat" from an article finds it again. Without JavaScript the form posts
// to / and the server renders the whole conversation instead, carrying it in hidden fields.

import { askQuestion, fetchHealth, fetchSources } from "./transport.js";
import * as view from "./render.js";

const STORAGE_KEY = "newsdesk.conversation.v1";
const MAX_SAVED_TURNS = 30;
const form = document.getElementById("ask-form");
const box = document.getElementById("question");
// What POST /ask takes at most (query.py), rendered into the page by the server.
const HISTORY_MESSAGES = Number(box.dataset.historyTurns);
const MESSAGE_CHARS = box.maxLength;
const sendButton = document.getElementById("send");
const conversation = document.getElementById("conversation");
const welcome = document.getElementById("welcome");
const newChatButton = document.getElementById("new-chat");
const announcer = document.getElementById("announcer");
const statsText = document.getElementById("stats-text");
const asOfInput = document.getElementById("as-of");
const anyTimeBox = document.getElementById("any-time");
const filtersBox = document.getElementById("filters");
const filterCount = document.getElementById("filter-count");
const afterInput = document.getElementById("published-after");
const beforeInput = document.getElementById("published-before");
const sourcesSet = document.getElementById("filter-sources");
const sourceChips = document.getElementById("source-chips");
// The busiest outlets get a chip; a long tail of one-article sites would bury them.
const MAX_SOURCE_CHIPS = 12;
const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

// Answered turns, oldest first: {question, answer}. A follow-up question ("Who wants to change
// it?") is sent with them as its history.
let turns = [];
// The history a server-rendered page carried in its hidden fields (a form post made without
// JavaScript), sent before the turns asked here.
let carried = [];
let busy = false;

function submit() {
  const question = box.value.trim();
  if (!question || busy) return;
  box.value = "";
  send(question);
}

// One question, from the thinking state through the streamed text to its answer or error.
async function send(question) {
  setBusy(true);
  document.querySelector(".chat > .bubble.error")?.remove(); // a no-JS page's error
  const turn = view.turnElement(question);
  conversation.append(turn.element);
  showConversation();
  turn.show(view.thinkingBubble());
  reveal(turn.element);
  announce("Searching the articles…");
  let partial = null;
  await askQuestion({ question, history: history(), asOf: asOf(), filters: filters() }, {
    partial(text, citations) {
      if (!partial) {
        partial = view.partialAnswer();
        turn.show(partial.element);
      }
      partial.update(text, citations);
    },
    answer(body) {
      turn.show(view.answerBubble(body));
      remember({ question, answer: body });
      announce(body.small_talk ? body.answer
        : body.abstained ? `Not covered. ${body.answer}` : `Answer: ${plainAnswer(body.answer)}`);
      refreshStats();
    },
    error(message) {
      turn.show(view.errorBubble(message, () => {
        turn.element.remove();
        send(question);
      }));
      announce(message);
    },
  });
  reveal(turn.element);
  setBusy(false);
}

function history() {
  const messages = carried.concat(turns.flatMap(({ question, answer }) => [
    { role: "user", content: question },
    { role: "assistant", content: String(answer.answer ?? "") },
  ]));
  return messages.slice(-HISTORY_MESSAGES)
    .map((m) => ({ ...m, content: m.content.slice(0, MESSAGE_CHARS) }))
    .filter((m) => m.content.trim());
}

// -- "News up to": the reader's own today unless they choose another day or any time

function asOf() {
  return anyTimeBox.checked || !asOfInput.value ? null : asOfInput.value;
}

function localToday() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

function setUpAsOf() {
  // The server filled in its own date; the reader's day may differ (another time zone).
  if (asOfInput.dataset.default === "today") asOfInput.value = localToday();
  asOfInput.disabled = anyTimeBox.checked;
  anyTimeBox.addEventListener("change", () => {
    asOfInput.disabled = anyTimeBox.checked;
  });
}

// -- Filters: a date range and source chips, sent with each question (POST /ask's fields)

function filters() {
  const chosen = Array.from(sourceChips.querySelectorAll("input:checked"), (chip) => chip.value);
  return {
    ...(afterInput.value ? { published_after: afterInput.value } : {}),
    ...(beforeInput.value ? { published_before: beforeInput.value } : {}),
    ...(chosen.length ? { sources: chosen } : {}),
  };
}

function showFilterCount() {
  const set = filters();
  const count = ("published_after" in set || "published_before" in set ? 1 : 0) + (set.sources?.length ?? 0);
  filterCount.textContent = count ? ` (${count} on)` : "";
  // A range that holds no day cannot be picked: each end bounds the other.
  beforeInput.min = afterInput.value;
  afterInput.max = beforeInput.value;
}

function sourceChip({ source, articles }) {
  const label = document.createElement("label");
  label.className = "chip";
  const box = document.createElement("input");
  box.type = "checkbox";
  box.value = source;
  box.addEventListener("change", showFilterCount);
  const count = document.createElement("span");
  count.className = "chip-count";
  count.textContent = String(articles);
  count.setAttribute("aria-hidden", "true");
  // The count said as words, not "cnn.com 606": "cnn.com, 606 articles".
  box.setAttribute("aria-label", `${source}, ${view.countLabel(articles, "article")}`);
  label.append(box, source, count);
  return label;
}

async function setUpFilters() {
  filtersBox.hidden = false;
  afterInput.addEventListener("change", showFilterCount);
  beforeInput.addEventListener("change", showFilterCount);
  document.getElementById("clear-filters").addEventListener("click", () => {
    afterInput.value = "";
    beforeInput.value = "";
    sourceChips.querySelectorAll("input:checked").forEach((chip) => { chip.checked = false; });
    showFilterCount();
    announce("Filters cleared");
  });
  try {
    const { sources } = await fetchSources();
    sourceChips.replaceChildren(...sources.slice(0, MAX_SOURCE_CHIPS).map(sourceChip));
    sourcesSet.hidden = sources.length === 0;
  } catch {
    // no chips: the date range still works
  }
}

function setBusy(value) {
  busy = value;
  sendButton.disabled = value;
  form.setAttribute("aria-busy", String(value));
}

// Newest at the bottom, in view; a turn taller than the window shows from its answer's start,
// under the end of its question (.reply's scroll-margin), so that a long question never leaves
// the answer below the fold.
function reveal(element) {
  const fits = element.getBoundingClientRect().height < window.innerHeight * 0.7;
  const target = fits ? element : element.querySelector(".reply");
  target.scrollIntoView({ block: fits ? "end" : "start", behavior: reducedMotion ? "auto" : "smooth" });
}

function announce(text) {
  announcer.textContent = text;
}

function plainAnswer(text) {
  return String(text).replace(/\s*\[\d+\]/g, "");
}

function showConversation() {
  welcome.hidden = conversation.children.length > 0;
  newChatButton.hidden = conversation.children.length === 0;
}

// -- keeping the conversation for this tab

function remember(turn) {
  turns = [...turns, turn].slice(-MAX_SAVED_TURNS);
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(turns));
  } catch {
    // storage full or disabled: the conversation still works, it just isn't kept
  }
}

function restore() {
  if (conversation.children.length) { // the server rendered the conversation (a form post)
    carried = carriedHistory();
    showConversation();
    return;
  }
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "[]");
    turns = Array.isArray(saved) ? saved.filter((t) => t && typeof t.question === "string" && t.answer) : [];
  } catch {
    turns = [];
  }
  for (const { question, answer } of turns) {
    const turn = view.turnElement(question);
    turn.show(view.answerBubble(answer));
    conversation.append(turn.element);
  }
  showConversation();
  if (turns.length) conversation.lastElementChild.scrollIntoView({ block: "end" });
}

function carriedHistory() {
  const roles = form.querySelectorAll("input[name=history_role]");
  const contents = form.querySelectorAll("input[name=history_content]");
  return Array.from(roles, (role, n) => ({ role: role.value, content: contents[n]?.value ?? "" }));
}

function startOver() {
  turns = [];
  carried = [];
  form.querySelectorAll("input[type=hidden]").forEach((field) => field.remove());
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // nothing kept
  }
  conversation.replaceChildren();
  showConversation();
  announce("New chat");
  box.focus();
}

async function refreshStats() {
  try {
    const health = await fetchHealth();
    statsText.textContent = health.generation
      ? `${view.countLabel(health.articles, "article")} · ${view.countLabel(health.passages, "passage")}`
      : "No index yet";
    statsText.parentElement.dataset.status = health.status;
  } catch {
    // the header keeps the counts the page came with
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});

box.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  }
});

newChatButton.addEventListener("click", startOver);

// Enter sends only here, with JavaScript: the hint the server wrote says how to send without it.
document.querySelector("#composer-hint .hint-keys").hidden = false;
document.querySelector("#composer-hint .hint-button").hidden = true;
setUpAsOf();
setUpFilters();
restore();
refreshStats();
// Focus the box where there is a keyboard; on a phone it would pop one up unasked.
if (window.matchMedia("(pointer: fine)").matches) box.focus({ preventScroll: true });
