#!/usr/bin/env node
// Load a refchain HTML report (refchain.report / `refchain report --html`) in
// headless Chromium through playwright-core, use it as a reader would, and
// print what happened as JSON on stdout (tests/py/test_html_report.py reads it).
//
//   node tools/html-check.js REPORT.html SCREENSHOT.png [FILTER]
//
// Environment: CHROMIUM (default /usr/bin/chromium).  It records console
// errors, page errors, every request, alert()/confirm()/prompt() calls and
// dialogs; sorts the census by bytes; filters it by FILTER; clicks the first
// leak suspect and the first dominator block; takes a full-page screenshot
// and counts its colours (the browser decodes the PNG).
"use strict";
const path = require("path");
const { chromium } = require(path.join(__dirname, "js", "node_modules", "playwright-core"));

async function main() {
  const [file, shot, filter] = process.argv.slice(2);
  if (!file || !shot) {
    process.stderr.write("usage: html-check.js REPORT.html SCREENSHOT.png [FILTER]\n");
    process.exit(2);
  }
  const out = { console_errors: [], page_errors: [], requests: [], dialogs: [] };
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    // The hook: anything from the data that ran and called these is recorded.
    await page.addInitScript(() => {
      window.__calls = [];
      for (const name of ["alert", "confirm", "prompt"]) {
        window[name] = function (m) { window.__calls.push(name + ":" + String(m)); };
      }
    });
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") out.console_errors.push(m.type() + ": " + m.text());
    });
    page.on("pageerror", (e) => out.page_errors.push(String(e)));
    page.on("request", (r) => out.requests.push(r.url().slice(0, 120)));
    page.on("dialog", async (d) => { out.dialogs.push(d.message()); await d.dismiss(); });

    const url = "file://" + path.resolve(file);
    const start = Date.now();
    await page.goto(url, { waitUntil: "load" });
    out.ready = await page.waitForSelector("body[data-ready='1']", { timeout: 10000 })
      .then(() => true, () => false);
    out.render_ms = Date.now() - start;
    if (!out.ready) {     // the page's script failed: say why, and stop
      out.calls = await page.evaluate(() => window.__calls);
      process.stdout.write(JSON.stringify(out) + "\n");
      return;
    }

    out.title = await page.title();
    out.text = await page.evaluate(() => document.body.innerText);
    out.growth_types = await page.$$eval("#growth-table tbody tr td:first-child", (t) => t.map((x) => x.textContent));
    out.injected_images = await page.$$eval("img", (t) => t.filter((x) => !x.src.startsWith("data:image/svg+xml;base64,")).map((x) => x.src));
    out.scripts = await page.$$eval("script", (t) => t.length);

    // The census: sort by bytes (first click: largest first).
    const data = await page.evaluate(() => JSON.parse(document.getElementById("refchain-data").textContent));
    let largest = null;
    for (const r of data.census) if (largest === null || r[2] > largest[2]) largest = r;
    out.census_largest = largest ? largest[0] : null;
    out.census_rows_in_data = data.census.length;
    out.census_types = data.census_types;
    out.census_headers = await page.$$eval("#census-table thead th", (t) => t.map((x) => x.textContent));
    await page.click("#census-table th[data-key='bytes']");
    out.census_after_sort = await page.$$eval("#census-table tbody tr td:first-child", (t) => t.map((x) => x.textContent));
    out.census_rows_shown = out.census_after_sort.length;
    out.census_info = await page.textContent("#census-info");
    await page.click("#census-next");
    out.census_page2 = await page.$$eval("#census-table tbody tr td:first-child", (t) => t.map((x) => x.textContent));
    if (filter) {
      await page.fill("#census-filter", filter);
      out.census_filtered = await page.$$eval("#census-table tbody tr td:first-child", (t) => t.map((x) => x.textContent));
      out.census_filtered_expected = data.census.filter((r) => r[0].toLowerCase().includes(filter.toLowerCase())).length;
      out.census_filtered_info = await page.textContent("#census-info");
    }

    // The first suspect: its chain, drawn.
    const suspect = await page.$("#suspects-table tbody tr");
    out.suspect_svg = null;
    if (suspect) {
      await suspect.click();
      out.suspect_view = await page.textContent("#suspect-view");
      out.suspect_svg = await page.$eval("#suspect-view img", (i) => ({
        src: i.src.slice(0, 40), width: i.naturalWidth, height: i.naturalHeight, complete: i.complete,
      })).catch(() => null);
    }
    // The first dominator block.
    const block = await page.$("#icicle .block");
    out.dominator_blocks = await page.$$eval("#icicle .block", (t) => t.length);
    if (block) {
      await block.click();
      out.dominator_view = await page.textContent("#dom-view");
      out.dominator_svg = await page.$eval("#dom-view img", (i) => i.naturalWidth).catch(() => 0);
    }
    out.calls = await page.evaluate(() => window.__calls);

    // Back to the top, then a screenshot; the browser decodes it to count colours.
    await page.fill("#census-filter", "");
    await page.evaluate(() => window.scrollTo(0, 0));
    const png = await page.screenshot({ path: shot, fullPage: false });
    const probe = await browser.newPage();
    out.screenshot = await probe.evaluate(async (b64) => {
      const im = new Image();
      im.src = "data:image/png;base64," + b64;
      await im.decode();
      const c = document.createElement("canvas");
      c.width = im.naturalWidth; c.height = im.naturalHeight;
      const ctx = c.getContext("2d");
      ctx.drawImage(im, 0, 0);
      const px = ctx.getImageData(0, 0, c.width, c.height).data;
      const colours = new Map();
      for (let i = 0; i < px.length; i += 4) {
        const k = (px[i] << 16) | (px[i + 1] << 8) | px[i + 2];
        colours.set(k, (colours.get(k) || 0) + 1);
      }
      let top = 0;
      for (const v of colours.values()) top = Math.max(top, v);
      return { width: c.width, height: c.height, colours: colours.size,
               dominant_share: top / (c.width * c.height) };
    }, png.toString("base64"));
    await probe.close();
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e) + "\n"); process.exit(1); });
