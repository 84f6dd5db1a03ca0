// Drives the built-in web page in Debian's Chromium: sign up, log in, create an alert, and
// wait (without reloading) for it to show as triggered when the test's fake exchange crosses it.
// Usage: node e2e.mjs BASE_URL SCREENSHOT.png WEBHOOK_URL
// Prints "CREATED <id>" once the alert exists, "TRIGGERED" when the page shows it fired.
import { chromium } from "playwright-core";

const [base, screenshot, webhook] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  // A phone-sized screen in Tokyo (UTC+9, no summer time), where notifications are allowed.
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 }, locale: "en-GB", timezoneId: "Asia/Tokyo", permissions: ["notifications"],
  });
  // Every notification the page shows is also written down where the test can read it.
  await context.addInitScript(() => {
    window.__notes = [];
    window.Notification = class extends window.Notification {
      constructor(title, options) { super(title, options); window.__notes.push({ title, body: options && options.body }); }
    };
  });
  // Everything the page needs comes from the server itself.
  const outside = [];
  const open = async () => {
    const p = await context.newPage();
    p.on("pageerror", (e) => { console.error("page error:", e.message); process.exitCode = 1; });
    p.on("request", (r) => { if (!r.url().startsWith(base) && !r.url().startsWith("data:")) outside.push(r.url()); });
    return p;
  };
  let page = await open();
  await page.goto(base + "/");
  await page.click("#toggle-signup");
  await page.fill("input[name=username]", "browser");
  await page.fill("input[name=password]", "browser-password");
  await page.fill("input[name=email]", "browser@example.com");
  await page.click("#login-button");
  await page.waitForSelector("#create:not(.hidden)");
  // A web app manifest Chromium reads without complaint, with an icon a phone's home screen takes.
  const cdp = await context.newCDPSession(page);
  const manifest = await cdp.send("Page.getAppManifest");
  if (manifest.errors.length) throw new Error("manifest: " + JSON.stringify(manifest.errors));
  if (!JSON.parse(manifest.data).icons.some((i) => i.sizes === "512x512")) throw new Error("no 512 icon");
  // Browser notifications, turned on by a click.
  await page.waitForSelector("#activity-empty:not(.hidden)");
  await page.click("#notify");
  await page.waitForFunction(() => document.querySelector("#notify").textContent === "Browser notifications: on");
  // Add a webhook channel, test it, and see the service's answer on the page.
  await page.selectOption("#channel-kind", "webhook");
  await page.fill("#channel-form input[name=name]", "My hook");
  await page.fill("#channel-form input[name=url]", webhook);
  await page.click("#channel-form button[type=submit]");
  const channelRow = await page.waitForSelector("#channel-rows tr:has-text('My hook')");
  await (await channelRow.$("button.test")).click();
  await page.waitForFunction(() => document.querySelector("#channel-message").textContent.includes("accepted"));
  await page.waitForSelector("#alert-channels label:has-text('My hook') input:checked");
  // A bad value: the error names the form's field in words, and clears on the next success.
  await page.fill("input[name=cryptocurrency]", "btcusdt");
  await page.fill("input[name=target_price]", "abc");
  await page.click("#create-form button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#create-message").textContent.startsWith("Target price"));
  await page.fill("input[name=target_price]", "65000");
  await page.selectOption("select[name=condition]", "above");
  await page.fill("textarea[name=note]", "Sell half <b>now</b>");
  await page.click("#create-form button[type=submit]");
  const row = await page.waitForSelector("#alert-rows tr[data-status=created]");
  if ((await row.textContent()).indexOf("Sell half <b>now</b>") < 0) throw new Error("the note is not shown as typed");
  if ((await page.textContent("#create-message")) !== "") throw new Error("the old error stayed");
  const id = (await row.getAttribute("id")).replace("alert-", "");
  // Its chart: a day of prices with a dashed line at the target, labelled with its side.
  await page.waitForSelector("#chart-list svg[data-symbol=BTCUSDT] path.line");
  const label = await page.textContent("#chart-list svg[data-symbol=BTCUSDT] .target-label");
  if (label !== "above 65000") throw new Error("target label: " + label);
  const box = await page.$("#chart-list svg[data-symbol=BTCUSDT]");
  const bounds = await box.boundingBox();
  await box.hover({ position: { x: bounds.width * 0.3, y: bounds.height / 2 } });
  if (!/\d/.test(await page.textContent("#chart-list .readout"))) throw new Error("no readout on hover");
  // The range switch: an hour of 1-minute candles (the fake exchange answers the last 60).
  const points = () => page.evaluate(() => document.querySelector("#chart-list svg[data-symbol=BTCUSDT] path.line").getAttribute("d").split(/[ML]/).length - 1);
  if (await points() !== 288) throw new Error("24 h is not 288 candles: " + await points());
  await page.click("#chart-ranges button[data-range='1h']");
  await page.waitForSelector("#chart-list svg[aria-label='BTCUSDT price, 1h']");
  if (await points() !== 60) throw new Error("1 h is not 60 candles: " + await points());
  await page.click("#chart-ranges button[data-range='24h']");
  await page.waitForSelector("#chart-list svg[aria-label='BTCUSDT price, 24h']");
  await page.evaluate(() => { window.__notReloaded = true; });
  // Let the live stream (re)connect with the new symbol before the trade is sent.
  await page.waitForFunction(() => document.querySelector("#live").textContent.includes("live"));
  console.log("CREATED " + id);
  await page.waitForSelector(`#alert-${id}[data-status=triggered]`, { timeout: 20000 });
  if (!(await page.evaluate(() => window.__notReloaded === true))) throw new Error("the page reloaded");
  const text = await page.textContent(`#alert-${id}`);
  if (!text.includes("65001.5")) throw new Error("no trigger price shown: " + text);
  // Its time in the browser's zone, UTC on hover.
  const time = await page.$(`#alert-${id} time`);
  const iso = await time.getAttribute("datetime");
  const tokyo = new Date(Date.parse(iso) + 9 * 3600e3).toISOString().slice(11, 19);
  if (!(await time.textContent()).includes(tokyo)) throw new Error("not Tokyo time " + tokyo + ": " + await time.textContent());
  if (!(await time.getAttribute("title")).endsWith(" UTC")) throw new Error("no UTC on hover");
  // A browser notification, with the note.
  await page.waitForFunction(() => window.__notes.length > 0);
  const [note] = await page.evaluate(() => window.__notes);
  if (note.title !== "BTCUSDT above 65000" || !note.body.includes("65001.50") || !note.body.includes("Sell half <b>now</b>")) throw new Error("notification: " + JSON.stringify(note));
  // Recent activity lists the fire, and its delivery once it is made.
  await page.waitForSelector("#activity-rows tr:has-text('65001.50')");
  await page.waitForSelector("#activity-rows tr:has-text('My hook: sent')", { timeout: 20000 });
  // The fire is marked on the chart, and its last price moved, without a reload.
  await page.waitForSelector("#chart-list svg[data-symbol=BTCUSDT] circle.fire");
  await page.waitForFunction(() => document.querySelector("#chart-list svg[data-symbol=BTCUSDT] .last-label").textContent === "65001.50", null, { timeout: 20000 });
  // Its delivery through the webhook shows, live.
  await page.waitForFunction((id) => document.querySelector(`#alert-${id} .deliveries`).textContent.includes("My hook: sent"), id, { timeout: 20000 });
  // Coming back after a fire: it is counted in the tab's title and marked new, until the user
  // does something on the page.
  // (Leaving sets the time of the visit, so the new tab moves it back to before the fire.)
  await page.close();
  page = await open();
  await page.addInitScript((iso) => localStorage.setItem("pa.seen", new Date(Date.parse(iso) - 1000).toISOString()), iso);
  await page.goto(base + "/");
  await page.waitForSelector("#activity-rows tr:has-text('65001.50') .badge.new");
  if ((await page.title()) !== "(1) pricealert") throw new Error("title: " + await page.title());
  await page.click("h1");
  if ((await page.title()) !== "pricealert") throw new Error("title after a click: " + await page.title());
  await page.waitForFunction((id) => document.querySelector(`#alert-${id} .deliveries`).textContent.includes("My hook: sent"), id);
  // Phone and desktop, light and dark (dark when the system is).
  const shot = (name, fullPage) => page.screenshot({ path: screenshot.replace(/\.png$/, name + ".png"), fullPage });
  await shot("", true);
  await page.emulateMedia({ colorScheme: "dark" });
  const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  if (dark !== "rgb(17, 21, 27)") throw new Error("not dark: " + dark);
  await shot("-dark", true);
  await page.setViewportSize({ width: 1100, height: 1000 });
  await page.mouse.move(0, 0);
  await page.evaluate(() => document.querySelector("#charts").scrollIntoView());
  await shot("-desktop-dark", false);
  await page.emulateMedia({ colorScheme: "light" });
  await shot("-desktop", false);
  // The exchange is reachable, so the banner does not blame it; SMTP is not set up here while
  // the account's email channel is on, and the banner says that.
  await page.waitForFunction(() => document.querySelector("#banner").textContent !== "");
  const banner = await page.textContent("#banner");
  if (banner.includes("Can't reach") || !banner.includes("Email is not set up")) throw new Error("banner: " + banner);
  // The fire history, then re-arm, then edit: each answer shows at once.
  await page.click(`#alert-${id} button.history`);
  await page.waitForSelector("#history-rows tr:has-text('65001.5')");
  await page.waitForSelector("#history-rows tr:has-text('My hook: sent')");
  await page.click("#history-close");
  await page.click(`#alert-${id} button.rearm`);
  await page.waitForSelector(`#alert-${id}[data-status=created]`);
  await page.click(`#alert-${id} button.edit`);
  await page.fill("#edit-form input[name=target_price]", "abc");
  await page.click("#edit-form button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#edit-message").textContent.startsWith("Target price"));
  await page.fill("#edit-form input[name=target_price]", "70000");
  await page.fill("#edit-form textarea[name=note]", "");
  await page.click("#edit-form button[type=submit]");
  await page.waitForFunction((id) => document.querySelector(`#alert-${id}`).textContent.includes("above 70000"), id);
  if (await page.isVisible("#edit-dialog")) throw new Error("the edit dialog stayed open");
  if ((await page.textContent(`#alert-${id}`)).includes("Sell half")) throw new Error("the cleared note stayed");
  // A repeating alert: its re-arm fields appear when asked for, a bad distance is named in
  // words, and the row says how it repeats.
  if (await page.isVisible("#create-form input[name=rearm]")) throw new Error("re-arm field shown for a one-shot alert");
  await page.fill("input[name=cryptocurrency]", "ETHUSDT");
  await page.fill("input[name=target_price]", "4000");
  await page.selectOption("#create-form select[name=condition]", "above");
  await page.selectOption("#create-form select[name=repeat]", "yes");
  await page.fill("#create-form input[name=rearm]", "abc");
  await page.fill("#create-form input[name=cooldown]", "15m");
  await page.click("#create-form button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#create-message").textContent.startsWith("Comes back by"));
  await page.fill("#create-form input[name=rearm]", "1%");
  await page.click("#create-form button[type=submit]");
  await page.waitForSelector("#alert-rows tr:has-text('repeats: again after 1% back, 15m apart · fired 0×')");
  // An alert that stops watching at a time given in the browser's zone (Tokyo): the row says
  // until when, the edit dialog shows the same local time, and it turns expired live when
  // the exchange trades at that moment.
  const ends = new Date(Date.now() + 3600e3);
  ends.setSeconds(0, 0);
  const local = await page.evaluate((ms) => localInput(new Date(ms).toISOString()), ends.getTime());
  await page.fill("input[name=cryptocurrency]", "ETHUSDT");
  await page.fill("input[name=target_price]", "9000");
  await page.selectOption("#create-form select[name=condition]", "above");
  await page.fill("#create-form input[name=expires_at]", local);
  await page.click("#create-form button[type=submit]");
  const expiring = await page.waitForSelector("#alert-rows tr:has-text('above 9000')");
  const eid = Number((await expiring.getAttribute("id")).slice(6));
  const until = await page.getAttribute(`#alert-${eid} .expiry time`, "datetime");
  if (new Date(until).getTime() !== ends.getTime()) throw new Error("expires at " + until + ", not " + ends.toISOString());
  await page.click(`#alert-${eid} button.edit`);
  if ((await page.inputValue("#edit-form input[name=expires_at]")) !== local) throw new Error("the edit dialog lost the expiry");
  await page.click("#edit-cancel");
  // A percent alert: choosing the kind swaps the target for a percentage and a window, and a
  // repeating one has no distance to come back by.
  await page.selectOption("#create-form select[name=condition]", "percent_up");
  if (await page.isVisible("#create-form input[name=target_price]")) throw new Error("target shown for a percent alert");
  await page.fill("input[name=cryptocurrency]", "ETHUSDT");
  await page.fill("#create-form input[name=percent]", "5");
  await page.fill("#create-form input[name=window]", "1h");
  await page.selectOption("#create-form select[name=repeat]", "yes");
  if (await page.isVisible("#create-form input[name=rearm]")) throw new Error("re-arm distance shown for a percent alert");
  await page.click("#create-form button[type=submit]");
  await page.waitForSelector("#alert-rows tr:has-text('rises 5% within 1h')");
  if (!(await page.isVisible("#create-form input[name=target_price]"))) throw new Error("the target did not come back after the form reset");
  console.log("EXPIRING " + ends.getTime());
  await page.waitForSelector(`#alert-${eid} .badge.expired`);
  if (!(await page.textContent(`#alert-${eid}`)).includes("expired at")) throw new Error("no expiry shown");
  await page.waitForSelector(`#alert-${eid} button.rearm`);
  // Deleting asks once.
  let asked = 0;
  page.on("dialog", (d) => { asked += 1; d.accept(); });
  await page.click(`#alert-${id} button.danger`);
  await page.waitForSelector(`#alert-${id}`, { state: "detached" });
  // Its fire leaves the recent activity with it.
  await page.waitForSelector("#activity-empty:not(.hidden)");
  if (asked !== 1) throw new Error("asked " + asked + " times before deleting");
  if (outside.length) throw new Error("requests outside the server: " + outside.join(", "));
  console.log("TRIGGERED");
} finally {
  await browser.close();
}
