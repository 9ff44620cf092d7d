// Talking to the server: POST /ask/stream, read as server-sent events. What happens is
// reported through events, so the page does not care how an answer arrives:
//   events.partial(text, citations)  the answer so far (at first only the passages), as it streams in
//   events.answer(body)              the finished answer: {answer, citations, abstained, took_ms, note}
//   events.error(message)            a sentence a person can act on

const IDLE_TIMEOUT_MS = 60000; // no byte from the server for this long: give up

// asOf: "YYYY-MM-DD" to prefer articles published in the days up to that day; null for any time.
// filters: {published_after, published_before, sources}, each only when set.
export async function askQuestion({ question, history, asOf, filters = {} }, events) {
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(), IDLE_TIMEOUT_MS);
  const stillAlive = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(), IDLE_TIMEOUT_MS);
  };
  try {
    const response = await fetch("/ask/stream", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ question, history, ...(asOf ? { as_of: asOf } : {}), ...filters }),
      signal: controller.signal,
    });
    if (!response.ok) {
      events.error(await refusal(response));
      return;
    }
    let citations = [];
    let text = "";
    for await (const { name, data } of serverSentEvents(response.body, stillAlive)) {
      if (name === "citations") {
        citations = Array.isArray(data.citations) ? data.citations : [];
        events.partial(text, citations); // the passages show before the answer is written
      } else if (name === "answer") {
        text += String(data.text ?? "");
        events.partial(text, citations);
      } else if (name === "done") {
        events.answer({ ...data, citations });
        return;
      }
    }
    events.error("The answer was cut off before it finished. Please try again.");
  } catch (error) {
    events.error(failure(error, controller.signal.aborted));
  } finally {
    clearTimeout(timer);
  }
}

// Frames of "event: name\ndata: {json}\n\n", as the server writes them (streaming.py).
async function* serverSentEvents(body, onBytes) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onBytes();
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { name, data: JSON.parse(data.join("\n")) };
    }
  }
}

async function refusal(response) {
  let detail = "";
  try {
    detail = describeDetail((await response.json()).detail);
  } catch {
    // not JSON: a proxy's error page; the status says enough
  }
  const what = response.status >= 500
    ? `The server could not answer (error ${response.status})`
    : `The server did not accept the question (error ${response.status})`;
  return detail ? `${what}: ${detail}` : `${what}.`;
}

function describeDetail(detail) {
  if (typeof detail === "string") return withStop(detail);
  if (Array.isArray(detail)) {
    // FastAPI's validation errors: [{msg: "Value error, question must not be blank", ...}]
    return withStop(detail.map((item) => String(item?.msg ?? "").replace(/^Value error, /, ""))
      .filter(Boolean).join("; "));
  }
  return "";
}

function withStop(text) {
  return text && !/[.!?]$/.test(text) ? `${text}.` : text;
}

function failure(error, timedOut) {
  if (timedOut) return "The server took too long to answer. Please try again.";
  if (error instanceof SyntaxError) return "The server sent a reply this page cannot read. Please try again.";
  return "Could not reach the newsdesk server. Check that it is running and your connection, then try again.";
}

// The outlets with their article counts: {sources: [{source, articles}], without_source}.
export async function fetchSources() {
  const response = await fetch("/sources", { headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`sources: ${response.status}`);
  return response.json();
}

export async function fetchHealth() {
  const response = await fetch("/health", { headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`health: ${response.status}`);
  return response.json();
}
