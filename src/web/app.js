"use strict";
const $ = (sel) => document.querySelector(sel);
const store = {
  get access() { return localStorage.getItem("pa.access"); },
  get refresh() { return localStorage.getItem("pa.refresh"); },
  set(tokens) { localStorage.setItem("pa.access", tokens.access); localStorage.setItem("pa.refresh", tokens.refresh); },
  clear() { localStorage.removeItem("pa.access"); localStorage.removeItem("pa.refresh"); localStorage.removeItem("pa.user"); },
};
let signup = false;
let alerts = new Map();
let channels = new Map();
const KIND_HELP = {
  ntfy: "ntfy: pick a topic name nobody can guess and subscribe to it in the ntfy app. Your own server? Set its URL (and notify.allow_private_targets on a LAN).",
  telegram: "Telegram: create a bot with @BotFather to get its token, send your bot a message, then find your chat id in https://api.telegram.org/bot<token>/getUpdates.",
  discord: "Discord: Server settings → Integrations → Webhooks → New webhook → Copy webhook URL.",
  gotify: "Gotify: in the Gotify web UI, Apps → Create application, and use its token.",
  webhook: "Webhook: pricealert POSTs JSON to the URL; with a secret, each request is signed (X-Pricealert-Signature: sha256=HMAC).",
  email: "Email: another address to send alerts to (needs SMTP configured on the server).",
};
let liveAbort = null;
// Alerts fired since the user last looked: counted in the tab's title until they look again.
// The count starts from the fires since the last visit (the time the page was last hidden or
// closed, kept in localStorage) and grows with each fire while the tab is in the background.
let unseen = 0;
const lastVisit = localStorage.getItem("pa.seen");
function showUnseen() { document.title = unseen ? "(" + unseen + ") pricealert" : "pricealert"; }
function seen() { unseen = 0; showUnseen(); }
function leaving() { localStorage.setItem("pa.seen", new Date().toISOString()); }
document.addEventListener("visibilitychange", () => { if (document.hidden) leaving(); else seen(); });
window.addEventListener("pagehide", leaving);
for (const kind of ["pointerdown", "keydown"]) document.addEventListener(kind, seen);
// The live stream said its session ended (token expired, logged out elsewhere, password changed).
let sessionEnded = false;

function say(text) { $("#message").textContent = text || ""; }

// Exchanges the refresh token for a new pair, once at a time in this tab and across the
// browser's tabs (which share localStorage): a tab that waited for the lock finds the pair
// another tab already got and uses it. Returns whether a usable pair is stored.
let refreshing = null;
function refreshTokens() {
  if (!refreshing) {
    const used = store.refresh;
    const run = async () => {
      if (store.refresh && store.refresh !== used) return true;
      if (!store.refresh) return false;
      const r = await fetch("/auth/refresh/", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh: store.refresh }) });
      if (!r.ok) return false;
      store.set(await r.json());
      return true;
    };
    const locked = navigator.locks ? navigator.locks.request("pricealert-refresh", run) : run();
    refreshing = locked.catch(() => false).finally(() => { refreshing = null; });
  }
  return refreshing;
}

async function api(method, path, body, retry = true) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (store.access) headers["Authorization"] = "Bearer " + store.access;
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (resp.status === 401 && retry && store.refresh && !path.startsWith("/auth/")) {
    if (await refreshTokens()) return api(method, path, body, false);
    logout();
  }
  const data = resp.status === 204 ? null : await resp.json().catch(() => null);
  if (!resp.ok) throw new Error(inWords((data && data.error) || resp.statusText));
  return data;
}

// The API names fields as the API spells them; the page says what the form calls them.
const FIELD_WORDS = { percent: "By at least (%)", window: "Within", expires_at: "Stop watching at", "repeat.rearm": "Comes back by", "repeat.cooldown": "Quiet for at least", repeat: "Repeat", cryptocurrency: "Symbol", target_price: "Target price", condition: "Condition", note: "Note", bot_token: "Bot token", chat_id: "Chat id", username: "Username", password: "Password", email: "Email", address: "Address", url: "URL", topic: "Topic", token: "Token", server: "Server", priority: "Priority", secret: "Secret", name: "Name" };
function inWords(message) {
  const m = /^([a-z_.]+)( .*)$/.exec(message);
  return m && FIELD_WORDS[m[1]] ? FIELD_WORDS[m[1]] + m[2] : message;
}

function cell(row, label, content) {
  const td = document.createElement("td");
  td.dataset.label = label;
  if (content instanceof Node) td.appendChild(content); else td.textContent = content ?? "";
  row.appendChild(td);
  return td;
}

// A time from the API (RFC 3339 UTC) in the browser's own time zone, with UTC on hover.
function when(iso) {
  const t = document.createElement("time");
  const d = new Date(iso);
  t.dateTime = iso;
  t.textContent = d.toLocaleString([], { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  t.title = d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  return t;
}

// "BTCUSDT above 65000": an alert in words.
// What an alert watches, in words: "above 65000", "rises 5% within 1h".
const MOVES = { percent_up: "rises", percent_down: "falls", percent_move: "moves" };
function watches(a) {
  if (a.percent) return MOVES[a.condition] + " " + a.percent + "% within " + a.window;
  return (a.condition === "cross" ? "crosses " : a.condition + " ") + a.target_price;
}
function describe(a) { return a.cryptocurrency + " " + watches(a); }

// "65001.50 · <time>": a price and when it was.
function priceAt(price, iso) {
  const span = document.createElement("span");
  span.append(price + " · ", when(iso));
  return span;
}

function badge(text) {
  const span = document.createElement("span");
  span.className = "badge " + text;
  span.textContent = text;
  return span;
}

function render() {
  const rows = $("#alert-rows");
  rows.textContent = "";
  const list = [...alerts.values()].sort((a, b) => b.id - a.id);
  $("#empty").classList.toggle("hidden", list.length > 0);
  for (const a of list) {
    const tr = document.createElement("tr");
    tr.id = "alert-" + a.id;
    tr.dataset.status = a.status;
    cell(tr, "Symbol", a.cryptocurrency);
    const whenCell = cell(tr, "When", watches(a));
    if (a.repeat) {
      const rule = document.createElement("div");
      rule.className = "muted repeat";
      const again = a.repeat.rearm ? "again after " + a.repeat.rearm + " back" : "again, the window starting at each fire";
      rule.textContent = "repeats: " + again + (a.repeat.cooldown === "0s" ? "" : ", " + a.repeat.cooldown + " apart") + " · fired " + a.fire_count + "×";
      whenCell.appendChild(rule);
    }
    if (a.expires_at && (a.status === "created" || a.status === "expired")) {
      const ends = document.createElement("div");
      ends.className = "muted expiry";
      ends.append(a.status === "expired" ? "expired at " : "until ", when(a.expires_at));
      whenCell.appendChild(ends);
    }
    if (a.warning) {
      const warn = document.createElement("div");
      warn.className = "warning";
      warn.textContent = a.warning;
      whenCell.appendChild(warn);
    }
    if (a.note) {
      const note = document.createElement("div");
      note.className = "muted note";
      note.textContent = a.note;
      whenCell.appendChild(note);
    }
    const status = cell(tr, "Status", badge(a.status));
    status.classList.add("status");
    if (a.repeat && a.status === "created" && !a.armed) {
      const wait = badge("waiting");
      wait.textContent = "waiting to re-arm";
      status.appendChild(wait);
    }
    cell(tr, "Price now", a.current_price ?? "–").classList.add("price");
    const fired = cell(tr, "Fired at", a.triggered_price ? priceAt(a.triggered_price, a.triggered_at) : "–");
    if (a.triggered_reference) {
      const from = document.createElement("div");
      from.className = "muted reference";
      from.textContent = "from " + a.triggered_reference;
      fired.appendChild(from);
    }
    cell(tr, "Notified", deliveries(a)).classList.add("deliveries");
    const actions = document.createElement("span");
    actions.className = "actions";
    if (a.status === "created") actions.appendChild(button("Edit", "secondary edit", () => openEdit(a)));
    if (a.status === "triggered") actions.appendChild(button("Re-arm", "secondary rearm", () => change(() => api("POST", "/alerts/" + a.id + "/rearm/"))));
    // An expired alert needs a new end: a day from now.
    if (a.status === "expired") actions.appendChild(button("Re-arm for a day", "secondary rearm", () => change(() => api("POST", "/alerts/" + a.id + "/rearm/", { expires_at: new Date(Date.now() + 86400e3).toISOString() }))));
    if (a.triggered_at) actions.appendChild(button("History", "secondary history", () => openHistory(a)));
    if (a.status !== "deleted") {
      actions.appendChild(button("Delete", "danger", async () => {
        if (!confirm("Delete the alert " + describe(a) + "?")) return;
        try { await api("DELETE", "/alerts/" + a.id + "/"); $("#alerts-message").textContent = ""; alerts.delete(a.id); render(); restartLive(); refreshActivity(); }
        catch (e) { $("#alerts-message").textContent = e.message; }
      }));
    }
    cell(tr, "", actions);
    rows.appendChild(tr);
  }
  if (location.hash.startsWith("#alert-")) {
    const row = document.getElementById(location.hash.slice(1));
    if (row) row.classList.add("flash");
  }
  charts.update([...alerts.values()]);
}

// Recent activity: the latest fires across the user's alerts, each with its deliveries; those
// since the last visit are marked new (and, on the first load, counted in the title).
let activityLoaded = false;
async function loadActivity() {
  const page = await api("GET", "/fires/?page_size=10");
  const isNew = (fire) => lastVisit !== null && Date.parse(fire.fired_at) > Date.parse(lastVisit);
  if (!activityLoaded) {
    activityLoaded = true;
    unseen += page.results.filter(isNew).length;
    showUnseen();
  }
  const rows = $("#activity-rows");
  rows.textContent = "";
  $("#activity-empty").classList.toggle("hidden", page.results.length > 0);
  for (const fire of page.results) {
    const tr = document.createElement("tr");
    tr.dataset.alert = fire.alert_id;
    const time = cell(tr, "Fired at", when(fire.fired_at));
    if (isNew(fire)) time.append(" ", badge("new"));
    const a = alerts.get(fire.alert_id);
    const what = cell(tr, "Alert", a ? describe(a) : fire.cryptocurrency);
    if (a) {
      const link = document.createElement("a");
      link.href = "#alert-" + a.id;
      link.textContent = what.textContent;
      what.textContent = "";
      what.appendChild(link);
    }
    cell(tr, "Price", fire.price);
    cell(tr, "Notified", deliveries(fire));
    rows.appendChild(tr);
  }
}

// Loads the activity a moment after the latest change, once for a burst of events.
let activityTimer = null;
function refreshActivity() {
  clearTimeout(activityTimer);
  activityTimer = setTimeout(() => loadActivity().catch(() => {}), 300);
}

// Browser notifications while the page is open: asked for only when the user clicks.
const notifyKey = "pa.notify";
function notifyOn() {
  return "Notification" in window && Notification.permission === "granted" && localStorage.getItem(notifyKey) === "1";
}
function showNotifyButton() {
  const b = $("#notify");
  if (!("Notification" in window)) { b.classList.add("hidden"); return; }
  b.textContent = notifyOn() ? "Browser notifications: on" : Notification.permission === "denied" ? "Browser notifications: blocked" : "Notify me in this browser";
  b.setAttribute("aria-pressed", String(notifyOn()));
}
$("#notify").onclick = async () => {
  if (notifyOn()) localStorage.removeItem(notifyKey);
  else if ((await Notification.requestPermission()) === "granted") localStorage.setItem(notifyKey, "1");
  showNotifyButton();
};
function notifyFire(a) {
  if (!notifyOn()) return;
  const n = new Notification(describe(a), {
    body: "Fired at " + a.triggered_price + (a.note ? "\n" + a.note : ""),
    tag: "pricealert-" + a.id + "-" + a.triggered_at,
    icon: "/icon-192.png",
  });
  n.onclick = () => { window.focus(); location.hash = "#alert-" + a.id; n.close(); };
}

function button(text, className, onclick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.textContent = text;
  b.onclick = onclick;
  return b;
}

// Runs a request that answers the changed alert, and shows it.
async function change(request, message = $("#alerts-message")) {
  try {
    const a = await request();
    message.textContent = "";
    alerts.set(a.id, a);
    render();
    restartLive();
    return true;
  } catch (e) { message.textContent = e.message; return false; }
}

let editing = null;
function openEdit(a) {
  editing = a.id;
  const f = $("#edit-form");
  $("#edit-title").textContent = "Edit " + a.cryptocurrency + " alert";
  f.target_price.value = a.target_price ?? "";
  f.condition.value = a.condition === "cross" ? "" : a.condition;
  f.percent.value = a.percent ?? "";
  f.window.value = a.window ?? "";
  showWatchFields(f);
  f.note.value = a.note || "";
  f.repeat.value = a.repeat ? "yes" : "";
  f.rearm.value = a.repeat ? a.repeat.rearm ?? "" : "";
  f.cooldown.value = a.repeat ? a.repeat.cooldown : "";
  f.expires_at.value = a.expires_at ? localInput(a.expires_at) : "";
  showRepeatFields(f);
  $("#edit-message").textContent = "";
  $("#edit-dialog").showModal();
}

async function openHistory(a) {
  $("#history-title").textContent = "Fires of " + describe(a);
  const rows = $("#history-rows");
  rows.textContent = "";
  $("#history-message").textContent = "";
  $("#history-dialog").showModal();
  try {
    const page = await api("GET", "/alerts/" + a.id + "/fires/?page_size=100");
    for (const fire of page.results) {
      const tr = document.createElement("tr");
      cell(tr, "Fired at", when(fire.fired_at));
      cell(tr, "Price", fire.price);
      cell(tr, "Notified", deliveries(fire));
      rows.appendChild(tr);
    }
    if (page.count > page.results.length) $("#history-message").textContent = "The latest " + page.results.length + " of " + page.count + " fires.";
  } catch (e) { $("#history-message").textContent = e.message; }
}

// Each channel's delivery of the latest fire (or of one fire), as a badge named after the channel.
function deliveries(a) {
  const notes = a.notifications || [];
  if (!notes.length) return "–";
  const span = document.createElement("span");
  for (const n of notes) {
    const b = badge(n.status);
    const ch = channels.get(n.channel_id);
    b.textContent = (ch ? ch.name : n.kind) + ": " + n.status;
    b.title = n.last_error || "";
    span.appendChild(b);
  }
  return span;
}

function target(c) {
  return c.address || c.url || (c.server ? c.server + (c.topic ? "/" + c.topic : "") : "") || (c.chat_id ? "chat " + c.chat_id : "");
}

function renderChannels() {
  const rows = $("#channel-rows");
  rows.textContent = "";
  const picks = $("#alert-channels");
  for (const old of picks.querySelectorAll("label")) old.remove();
  for (const c of channels.values()) {
    const tr = document.createElement("tr");
    tr.id = "channel-" + c.id;
    cell(tr, "Name", c.name);
    cell(tr, "Kind", c.kind);
    cell(tr, "Sends to", target(c));
    const toggle = document.createElement("input");
    toggle.type = "checkbox";
    toggle.checked = c.enabled;
    toggle.setAttribute("aria-label", "enabled");
    toggle.onchange = async () => {
      try { channels.set(c.id, await api("PATCH", "/channels/" + c.id + "/", { enabled: toggle.checked })); renderChannels(); }
      catch (e) { $("#channel-message").textContent = e.message; toggle.checked = !toggle.checked; }
    };
    cell(tr, "On", toggle);
    const actions = document.createElement("span");
    const test = document.createElement("button");
    test.className = "secondary test";
    test.type = "button";
    test.textContent = "Test";
    test.onclick = async () => {
      $("#channel-message").textContent = "Sending a test message through " + c.name + "…";
      try {
        const r = await api("POST", "/channels/" + c.id + "/test/");
        $("#channel-message").textContent = c.name + ": " + (r.delivered ? "the test message was accepted." : "not delivered: " + r.error);
      }
      catch (e) { $("#channel-message").textContent = c.name + ": " + e.message; }
    };
    const del = document.createElement("button");
    del.className = "danger";
    del.type = "button";
    del.textContent = "Delete";
    del.onclick = async () => {
      if (!confirm("Delete the channel " + c.name + "?")) return;
      try { await api("DELETE", "/channels/" + c.id + "/"); channels.delete(c.id); renderChannels(); }
      catch (e) { $("#channel-message").textContent = e.message; }
    };
    actions.append(test, " ", del);
    cell(tr, "", actions);
    rows.appendChild(tr);
    if (c.enabled) {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.name = "channel";
      box.value = c.id;
      box.checked = true;
      box.defaultChecked = true;
      label.append(box, " " + c.name);
      picks.appendChild(label);
    }
  }
}

async function loadChannels() {
  const list = await api("GET", "/channels/");
  channels = new Map(list.results.map((c) => [c.id, c]));
  renderChannels();
}

function showKindFields() {
  const kind = $("#channel-kind").value;
  for (const label of document.querySelectorAll("#channel-form label[data-kinds]")) {
    label.classList.toggle("hidden", !label.dataset.kinds.split(" ").includes(kind));
  }
  $("#channel-help").textContent = KIND_HELP[kind] || "";
}

async function loadAlerts() {
  const page = await api("GET", "/alerts/?page_size=100");
  alerts = new Map(page.results.map((a) => [a.id, a]));
  render();
}

async function loadSymbols() {
  try {
    const prices = await api("GET", "/prices/");
    const list = $("#symbols");
    list.textContent = "";
    for (const p of prices.results) {
      const option = document.createElement("option");
      option.value = p.symbol;
      option.label = p.price;
      list.appendChild(option);
    }
  } catch (e) { /* suggestions are optional */ }
}

function applyEvent(ev) {
  if (ev.kind === "unauthorized") {
    sessionEnded = true;
  } else if (ev.kind === "prices") {
    const bySymbol = new Map(ev.prices.map((p) => [p.symbol, p.price]));
    for (const a of alerts.values()) if (bySymbol.has(a.cryptocurrency)) a.current_price = bySymbol.get(a.cryptocurrency);
    for (const [symbol, price] of bySymbol) charts.price(symbol, price);
    for (const tr of document.querySelectorAll("#alert-rows tr")) {
      const a = alerts.get(Number(tr.id.slice(6)));
      if (a) tr.querySelector(".price").textContent = a.current_price ?? "–";
    }
  } else if (ev.alert) {
    if (ev.kind === "triggered" && document.hidden) {
      unseen += 1;
      showUnseen();
    }
    if (ev.kind === "triggered") notifyFire(ev.alert);
    refreshActivity();
    alerts.set(ev.alert.id, ev.alert);
    render();
    const row = document.getElementById("alert-" + ev.alert.id);
    if (row) row.classList.add("flash");
  }
}

async function live() {
  const symbols = [...new Set([...alerts.values()].map((a) => a.cryptocurrency))].join(",");
  liveAbort = new AbortController();
  const url = "/events" + (symbols ? "?symbols=" + symbols : "");
  const resp = await fetch(url, { headers: { "Authorization": "Bearer " + store.access, "Accept": "text/event-stream" }, signal: liveAbort.signal });
  if (resp.status === 401) sessionEnded = true;
  if (!resp.ok) throw new Error("live updates: " + resp.status);
  $("#live").textContent = "● page updating live";
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = chunk.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
      if (data) { try { applyEvent(JSON.parse(data)); } catch (e) { /* ignore a bad event */ } }
    }
  }
  throw new Error("live updates ended");
}

function restartLive() {
  if (liveAbort) liveAbort.abort();
  const run = () => live().catch(async (e) => {
    if (e.name === "AbortError") return;
    if (sessionEnded) {
      // Renew the session without the user noticing; only a refused refresh logs out.
      sessionEnded = false;
      if (await refreshTokens()) { run(); return; }
      logout();
      return;
    }
    $("#live").textContent = "○ page reconnecting";
    setTimeout(async () => { try { await api("GET", "/alerts/?page_size=1"); } catch (_) {} if (store.access) { loadAlerts().catch(() => {}); run(); } }, 2000);
  });
  run();
}

// What the server says about its exchange stream and SMTP, shown where the user looks; the
// banner goes away by itself once the problem does.
async function checkHealth() {
  let h;
  try { h = await (await fetch("/healthz", { headers: { "Accept": "application/json" } })).json(); } catch (_) { return; }
  const notes = [];
  if (h.stream === "failing" && h.stream_problem) {
    const p = h.stream_problem;
    const since = new Date(p.since).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    notes.push("Can't reach the exchange (" + p.host + ") since " + since + " — " + p.last_error + "; see market.stream_url. Alerts are kept and missed trades are checked once it connects.");
  }
  if (h.smtp === "not_configured" && [...channels.values()].some((c) => c.kind === "email" && c.enabled)) {
    notes.push("Email is not set up on this server (smtp.host), so email notifications wait until it is.");
  }
  if (h.storage) notes.push("The server cannot save changes: " + h.storage);
  $("#banner").textContent = notes.join(" ");
  $("#banner").classList.toggle("hidden", notes.length === 0);
}
setInterval(checkHealth, 5000);
checkHealth();

async function enter() {
  $("#auth").classList.add("hidden");
  for (const id of ["#create", "#alerts", "#activity", "#channels", "#logout"]) $(id).classList.remove("hidden");
  showNotifyButton();
  $("#who").textContent = localStorage.getItem("pa.user") || "";
  await loadChannels();
  checkHealth();
  await loadAlerts();
  loadActivity().catch(() => {});
  loadSymbols();
  restartLive();
}

function logout() {
  const refresh = store.refresh;
  if (refresh) fetch("/auth/logout/", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh }) });
  store.clear();
  if (liveAbort) liveAbort.abort();
  $("#live").textContent = "";
  $("#who").textContent = "";
  for (const id of ["#create", "#alerts", "#activity", "#channels", "#logout"]) $(id).classList.add("hidden");
  charts.update([]);
  $("#auth").classList.remove("hidden");
}

$("#toggle-signup").onclick = () => {
  signup = !signup;
  document.querySelector(".signup-only").classList.toggle("hidden", !signup);
  document.querySelector(".signup-only input").required = signup;
  $("#login-button").textContent = signup ? "Sign up" : "Log in";
  $("#toggle-signup").textContent = signup ? "Have an account? Log in" : "New here? Sign up";
};

$("#login-form").onsubmit = async (event) => {
  event.preventDefault();
  say("");
  const f = new FormData(event.target);
  const username = f.get("username"), password = f.get("password");
  try {
    if (signup) await api("POST", "/auth/register/", { username, password, email: f.get("email") });
    store.set(await api("POST", "/auth/login/", { username, password }));
    localStorage.setItem("pa.user", username);
    await enter();
  } catch (e) { say(e.message); }
};

// The re-arm fields show only for an alert that fires again.
function showRepeatFields(form) {
  const on = form.repeat.value === "yes";
  for (const label of form.querySelectorAll(".repeat-only")) label.classList.toggle("hidden", !on || (isPercent(form) && label.contains(form.rearm)));
}
function repeatOf(f, percent) {
  if (f.get("repeat") !== "yes") return null;
  const repeat = percent ? {} : { rearm: f.get("rearm").trim() };
  if (f.get("cooldown").trim()) repeat.cooldown = f.get("cooldown").trim();
  return repeat;
}
for (const form of [$("#create-form"), $("#edit-form")]) form.repeat.onchange = () => showRepeatFields(form);

// A target for above/below, a percentage and window for the percent kinds; a percent alert
// re-arms after its cooldown alone, so it has no distance to come back by.
function isPercent(form) { return form.condition.value.startsWith("percent_"); }
function showWatchFields(form) {
  const percent = isPercent(form);
  for (const label of form.querySelectorAll(".percent-only")) label.classList.toggle("hidden", !percent);
  for (const label of form.querySelectorAll(".target-only")) label.classList.toggle("hidden", percent);
  form.target_price.required = !percent;
  showRepeatFields(form);
}
for (const form of [$("#create-form"), $("#edit-form")]) form.condition.onchange = () => showWatchFields(form);
// The fields that say what an alert watches, for a body.
function kindOf(f, form) {
  if (isPercent(form)) return { condition: f.get("condition"), percent: f.get("percent").trim(), window: f.get("window").trim() };
  return { target_price: f.get("target_price").trim(), condition: f.get("condition") || null };
}

// A datetime-local field holds the browser's local time without a zone; the API takes UTC.
function expiryOf(f) {
  const local = f.get("expires_at");
  return local ? new Date(local).toISOString() : null;
}
function localInput(iso) {
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
}

$("#create-form").onsubmit = async (event) => {
  event.preventDefault();
  const f = new FormData(event.target);
  const body = { cryptocurrency: f.get("cryptocurrency").trim(), ...kindOf(f, event.target) };
  if (!body.condition) delete body.condition;
  if (f.get("note").trim()) body.note = f.get("note");
  const repeat = repeatOf(f, isPercent(event.target));
  if (repeat) body.repeat = repeat;
  if (expiryOf(f)) body.expires_at = expiryOf(f);
  const picked = f.getAll("channel").map(Number);
  if (picked.length) body.channels = picked;
  $("#create-message").textContent = "";
  try {
    const a = await api("POST", "/alerts/create/", body);
    alerts.set(a.id, a);
    render();
    event.target.reset();
    showRepeatFields(event.target);
    showWatchFields(event.target);
    restartLive();
  } catch (e) { $("#create-message").textContent = e.message; }
};

$("#edit-form").onsubmit = async (event) => {
  event.preventDefault();
  const f = new FormData(event.target);
  const body = { ...kindOf(f, event.target), note: f.get("note"), repeat: repeatOf(f, isPercent(event.target)), expires_at: expiryOf(f) };
  const id = editing;
  if (await change(() => api("PATCH", "/alerts/" + id + "/", body), $("#edit-message"))) $("#edit-dialog").close();
};
$("#edit-cancel").onclick = () => $("#edit-dialog").close();
$("#history-close").onclick = () => $("#history-dialog").close();

$("#channel-kind").onchange = showKindFields;
showKindFields();

$("#channel-form").onsubmit = async (event) => {
  event.preventDefault();
  const f = new FormData(event.target);
  const kind = f.get("kind");
  const body = { kind };
  for (const label of event.target.querySelectorAll("label[data-kinds]")) {
    if (!label.dataset.kinds.split(" ").includes(kind)) continue;
    const input = label.querySelector("input, select");
    const value = (input.value || "").trim();
    if (value) body[input.name] = input.name === "priority" ? Number(value) : value;
  }
  if ((f.get("name") || "").trim()) body.name = f.get("name").trim();
  $("#channel-message").textContent = "";
  try {
    const c = await api("POST", "/channels/", body);
    channels.set(c.id, c);
    renderChannels();
    event.target.reset();
    showKindFields();
    $("#channel-message").textContent = c.name + " added. Press Test to check it.";
  } catch (e) { $("#channel-message").textContent = e.message; }
};

$("#logout").onclick = logout;
charts.setup(api);
if (store.access) enter().catch(() => logout());
