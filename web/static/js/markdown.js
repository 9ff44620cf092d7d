// An answer as Markdown with its sources as links, for the "Copy as Markdown" button: the same
// text /ask gives for `Accept: text/markdown` (src/newsdesk/server/markdown.py, kept in step).

const MARKER = /\[(\d+)\]/g;
const SPECIAL = /([\\`*_[\]<>|~])/g;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function answerMarkdown(body, origin) {
  const citations = Array.isArray(body.citations) ? body.citations : [];
  const byNumber = new Map(citations.map((c) => [Number(c.n), c]));
  const text = String(body.answer ?? "");
  let out = "";
  let last = 0;
  let cited = [];
  for (const match of text.matchAll(MARKER)) {
    const citation = byNumber.get(Number(match[1]));
    if (!citation) continue;
    out += escaped(text.slice(last, match.index)) + `[\\[${citation.n}\\]](${href(sourceLink(citation, origin))})`;
    last = match.index + match[0].length;
    if (!cited.includes(citation)) cited.push(citation);
  }
  out += escaped(text.slice(last));
  const blocks = [out.trim()];
  if (body.note) blocks.push(`*Note: ${escaped(body.note).trim()}*`);
  if (body.abstained || body.small_talk) cited = [];
  else if (!cited.length) cited = citations;
  if (cited.length) {
    blocks.push("**Sources**\n\n" + cited.map((c) => sourceLine(c, origin)).join("\n"));
  }
  return blocks.join("\n\n") + "\n";
}

function sourceLine(citation, origin) {
  const title = escaped(citation.title).trim() || "Untitled article";
  const day = publishedLabel(citation.published);
  return `- \\[${citation.n}\\] [${title}](${href(sourceLink(citation, origin))})` + (day ? `, ${escaped(day)}` : "")
    + (citation.also_in?.length ? `, also in: ${escaped(citation.also_in.join(", "))}` : "");
}

// The article's own http(s) URL, else this server's page for it with the passage marked.
function sourceLink(citation, origin) {
  try {
    const url = new URL(citation.url);
    if ((url.protocol === "http:" || url.protocol === "https:") && url.hostname) return url.href;
  } catch { /* no URL, or not one: this server's page */ }
  return `${origin}/articles/${encodeURIComponent(citation.article_id)}/view`
    + `?start=${Number(citation.char_start)}&end=${Number(citation.char_end)}`;
}

function escaped(text) {
  return String(text ?? "").replace(BIDI_CONTROLS, "").replace(/\s+/g, " ").replace(SPECIAL, "\\$1");
}

function href(url) {
  return url.replace(/ /g, "%20").replace(/\(/g, "%28").replace(/\)/g, "%29").replace(/</g, "%3C").replace(/>/g, "%3E");
}

function publishedLabel(value) {
  const text = typeof value === "string" ? value.trim() : "";
  const match = /^(\d{4})[-/](\d{2})[-/](\d{2})/.exec(text);
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 12) return text;
  return `${Number(match[3])} ${MONTHS[Number(match[2]) - 1]} ${match[1]}`;
}
