// Renders the page's icon (src/web/icon.svg) to the PNG sizes phones want for the home screen
// (the web app manifest's 192 and 512, and iOS's 180 apple-touch-icon), in Chromium.
// Usage, from the repository's root: node tests/browser/render-icons.mjs
// The PNGs are committed in src/web; run this again only when icon.svg changes.
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const svg = readFileSync("src/web/icon.svg", "utf8");
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  for (const size of [180, 192, 512]) {
    const page = await browser.newPage({ viewport: { width: size, height: size } });
    await page.setContent(`<style>html,body{margin:0;background:transparent}svg{display:block;width:${size}px;height:${size}px}</style>${svg}`);
    await page.screenshot({ path: `src/web/icon-${size}.png`, omitBackground: true });
    await page.close();
  }
} finally {
  await browser.close();
}
