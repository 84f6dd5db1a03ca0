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
let liveAbort = null;
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
  if (!resp.ok) throw new Error((data && data.error) || resp.statusText);
  return data;
}

function cell(row, label, content) {
  const td = document.createElement("td");
  td.dataset.label = label;
  if (content instanceof Node) td.appendChild(content); else td.textContent = content ?? "";
  row.appendChild(td);
  return td;
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
    cell(tr, "When", (a.condition === "cross" ? "crosses " : a.condition + " ") + a.target_price);
    cell(tr, "Status", badge(a.status)).classList.add("status");
    cell(tr, "Price now", a.current_price ?? "–").classList.add("price");
    cell(tr, "Fired at", a.triggered_price ? a.triggered_price + " · " + a.triggered_at.replace("T", " ").replace("Z", " UTC") : "–");
    const n = a.notification;
    cell(tr, "Email", n ? badge(n.status) : "–").title = n && n.last_error ? n.last_error : "";
    const del = document.createElement("button");
    del.className = "danger";
    del.textContent = "Delete";
    del.onclick = async () => { try { await api("DELETE", "/alerts/" + a.id + "/"); alerts.delete(a.id); render(); restartLive(); } catch (e) { say(e.message); } };
    cell(tr, "", a.status === "created" || a.status === "triggered" ? del : "");
    rows.appendChild(tr);
  }
  if (location.hash.startsWith("#alert-")) {
    const row = document.getElementById(location.hash.slice(1));
    if (row) row.classList.add("flash");
  }
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
    for (const tr of document.querySelectorAll("#alert-rows tr")) {
      const a = alerts.get(Number(tr.id.slice(6)));
      if (a) tr.querySelector(".price").textContent = a.current_price ?? "–";
    }
  } else if (ev.alert) {
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
  $("#live").textContent = "● live";
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
    $("#live").textContent = "○ reconnecting";
    setTimeout(async () => { try { await api("GET", "/alerts/?page_size=1"); } catch (_) {} if (store.access) { loadAlerts().catch(() => {}); run(); } }, 2000);
  });
  run();
}

async function enter() {
  $("#auth").classList.add("hidden");
  for (const id of ["#create", "#alerts", "#logout"]) $(id).classList.remove("hidden");
  $("#who").textContent = localStorage.getItem("pa.user") || "";
  await loadAlerts();
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
  for (const id of ["#create", "#alerts", "#logout"]) $(id).classList.add("hidden");
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

$("#create-form").onsubmit = async (event) => {
  event.preventDefault();
  const f = new FormData(event.target);
  const body = { cryptocurrency: f.get("cryptocurrency").trim(), target_price: f.get("target_price").trim() };
  if (f.get("condition")) body.condition = f.get("condition");
  $("#create-message").textContent = "";
  try {
    const a = await api("POST", "/alerts/create/", body);
    alerts.set(a.id, a);
    render();
    event.target.reset();
    restartLive();
  } catch (e) { $("#create-message").textContent = e.message; }
};

$("#logout").onclick = logout;
if (store.access) enter().catch(() => logout());
