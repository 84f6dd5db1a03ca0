"use strict";
// Price charts drawn as SVG by hand: each symbol with alerts gets its recent prices as a line,
// a dashed line at each armed target and a dot where each alert fired. Loaded before app.js,
// which calls `charts.update(alerts)` when alerts change and `charts.price(symbol, price)` on
// live prices.
const charts = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const W = 600, H = 200, PAD = { left: 8, right: 92, top: 10, bottom: 18 };
  // Range → candle length and count.
  const RANGES = { "1h": ["1m", 60], "24h": ["5m", 288], "7d": ["1h", 168] };
  let range = localStorage.getItem("pa.range") in RANGES ? localStorage.getItem("pa.range") : "24h";
  let alerts = [];
  let symbols = "";
  const series = new Map(); // symbol → [{t, c, close}] or {error}
  const hovered = new Map(); // symbol → the time last pointed at, kept across redraws
  let fetcher = null;

  function el(name, attrs, text) {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  async function load() {
    const [interval, limit] = RANGES[range];
    const wanted = symbols ? symbols.split(",") : [];
    await Promise.all(wanted.map(async (s) => {
      try {
        const h = await fetcher("GET", "/prices/" + s + "/history/?interval=" + interval + "&limit=" + limit);
        series.set(s, h.points.map((p) => ({ t: Date.parse(p.t), c: Number(p.close), close: p.close })));
      } catch (e) { series.set(s, { error: e.message }); }
    }));
    draw();
  }

  function draw() {
    const list = document.getElementById("chart-list");
    list.textContent = "";
    document.getElementById("charts").classList.toggle("hidden", !symbols);
    for (const b of document.querySelectorAll("#chart-ranges button")) b.classList.toggle("secondary", b.dataset.range !== range);
    for (const symbol of symbols ? symbols.split(",") : []) list.appendChild(chart(symbol));
  }

  function chart(symbol) {
    const box = document.createElement("figure");
    box.className = "chart";
    const caption = document.createElement("figcaption");
    caption.textContent = symbol;
    box.appendChild(caption);
    const points = series.get(symbol);
    if (!Array.isArray(points) || points.length === 0) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = points && points.error ? "No chart: " + points.error : "No prices yet.";
      box.appendChild(p);
      return box;
    }
    const mine = alerts.filter((a) => a.cryptocurrency === symbol);
    const armed = mine.filter((a) => a.status === "created");
    const t0 = points[0].t, t1 = Math.max(points[points.length - 1].t, Date.now());
    const fired = mine.filter((a) => a.triggered_at && Date.parse(a.triggered_at) >= t0);
    const values = points.map((p) => p.c)
      .concat(armed.map((a) => Number(a.target_price)), fired.map((a) => Number(a.triggered_price)));
    let lo = Math.min(...values), hi = Math.max(...values);
    if (hi === lo) { hi += 1; lo -= 1; }
    const pad = (hi - lo) * 0.06;
    lo -= pad; hi += pad;
    const x = (t) => PAD.left + (W - PAD.left - PAD.right) * (t - t0) / Math.max(1, t1 - t0);
    const y = (v) => PAD.top + (H - PAD.top - PAD.bottom) * (hi - v) / (hi - lo);
    const svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "data-symbol": symbol,
      "aria-label": symbol + " price, " + range });
    svg.appendChild(el("path", { class: "line", d: points.map((p, i) => (i ? "L" : "M") + x(p.t).toFixed(1) + " " + y(p.c).toFixed(1)).join(" ") }));
    for (const a of armed) {
      const v = Number(a.target_price);
      svg.appendChild(el("line", { class: "target", x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }));
      const side = a.condition === "cross" ? "crosses" : a.condition;
      svg.appendChild(el("text", { class: "target-label", x: W - PAD.right + 4, y: y(v) + 4 }, side + " " + a.target_price));
    }
    for (const a of fired) {
      const dot = el("circle", { class: "fire", cx: x(Date.parse(a.triggered_at)), cy: y(Number(a.triggered_price)), r: 5 });
      dot.appendChild(el("title", {}, "fired at " + a.triggered_price + ", " + new Date(a.triggered_at).toLocaleString()));
      svg.appendChild(dot);
    }
    const last = points[points.length - 1];
    svg.appendChild(el("text", { class: "last-label", x: W - PAD.right + 4, y: y(last.c) + 4 }, last.close));
    // Axis ends in the browser's own time zone: the time alone for an hour, with the day for
    // longer ranges.
    const when = { "1h": { hour: "2-digit", minute: "2-digit" },
      "24h": { weekday: "short", hour: "2-digit", minute: "2-digit" },
      "7d": { month: "short", day: "numeric" } }[range];
    const axis = (t) => el("text", { class: "axis", x: x(t), y: H - 4 }, new Date(t).toLocaleString([], when));
    svg.appendChild(axis(t0));
    const end = axis(last.t);
    end.setAttribute("text-anchor", "end");
    end.setAttribute("x", W - PAD.right);
    svg.appendChild(end);
    // Hover or touch: the nearest candle's time (local, UTC on hover) and price.
    const readout = document.createElement("p");
    readout.className = "muted readout";
    const cursor = el("line", { class: "cursor hidden", y1: PAD.top, y2: H - PAD.bottom });
    svg.appendChild(cursor);
    const mark = (px) => {
      let best = points[0];
      for (const p of points) if (Math.abs(x(p.t) - px) < Math.abs(x(best.t) - px)) best = p;
      hovered.set(symbol, best.t);
      cursor.setAttribute("x1", x(best.t));
      cursor.setAttribute("x2", x(best.t));
      cursor.classList.remove("hidden");
      readout.textContent = new Date(best.t).toLocaleString() + " · " + best.close;
      readout.title = new Date(best.t).toISOString().replace("T", " ").replace(".000Z", " UTC");
    };
    const show = (event) => {
      const r = svg.getBoundingClientRect();
      mark((event.clientX - r.left) * W / r.width);
    };
    svg.addEventListener("pointermove", show);
    svg.addEventListener("pointerdown", show);
    if (hovered.has(symbol)) mark(x(hovered.get(symbol)));
    box.appendChild(svg);
    box.appendChild(readout);
    return box;
  }

  return {
    setup(api) {
      fetcher = api;
      for (const b of document.querySelectorAll("#chart-ranges button")) {
        b.onclick = () => { range = b.dataset.range; localStorage.setItem("pa.range", range); load(); };
      }
    },
    // The user's alerts changed: fetch history for new symbols, redraw the lines and dots.
    update(all) {
      alerts = all.filter((a) => a.status !== "deleted");
      const wanted = [...new Set(alerts.map((a) => a.cryptocurrency))].sort().join(",");
      if (wanted !== symbols) { symbols = wanted; load(); } else draw();
    },
    // A live price: the newest point follows it.
    price(symbol, close) {
      const points = series.get(symbol);
      if (!Array.isArray(points) || points.length === 0) return;
      const last = points[points.length - 1];
      if (last.close === close) return;
      last.c = Number(close);
      last.close = close;
      draw();
    },
  };
})();
