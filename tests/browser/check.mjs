// Loads a trunkwatch status page in Debian's Chromium and checks what a person would look at.
//
//   node tests/browser/check.mjs URL SCREENSHOT_PATH
//
// Prints one JSON object: {"ok": bool, "checks": [{name, ok, detail}], "groups": [...],
// "screenshots": [...]}; exits 1 when a check fails, 2 when the page could not be checked.
// The expectations that depend on the history (which job, which suspect) are left to the
// caller, which gets each group's visible text and grid size.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: node check.mjs URL SCREENSHOT_PATH");
  process.exit(2);
}
const phoneShot = screenshot.replace(/(\.png)?$/, "-phone.png");
const GRID_MAX = 30;
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

const checks = [];
function check(name, ok, detail = "") {
  checks.push({ name, ok: Boolean(ok), detail: String(detail) });
}

// "rgb(198, 40, 40)" → [198, 40, 40]
function rgb(css) {
  return (css.match(/\d+/g) || []).slice(0, 3).map(Number);
}
const isRed = ([r, g, b]) => r >= 150 && g <= 90 && b <= 90;
const isGreen = ([r, g, b]) => g >= 100 && r <= 90 && b <= 90;

// A fresh profile every run: nothing carried over between runs, nothing written elsewhere.
const profile = mkdtempSync(join(tmpdir(), "trunkwatch-chromium-"));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: DESKTOP,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
    timeout: 60_000,
  });
  const page = context.pages()[0] || (await context.newPage());
  const problems = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(String(error)));

  const response = await page.goto(url, { waitUntil: "load", timeout: 30_000 });
  check("the page answers 200", response && response.status() === 200, response?.status());

  const viewport = await page.getAttribute('meta[name="viewport"]', "content");
  check(
    "it has a viewport meta for phones",
    viewport && viewport.includes("width=device-width"),
    viewport,
  );
  const refresh = await page.getAttribute('meta[http-equiv="refresh"]', "content");
  check("it refreshes itself", refresh && Number.parseInt(refresh, 10) > 0, refresh);
  check("the title counts broken groups", /broken/.test(await page.title()), await page.title());

  const groups = await page.$$eval("section.group", (sections) =>
    sections.map((s) => {
      const badge = s.querySelector(".state");
      const rows = s.querySelectorAll("table.grid tbody tr");
      const cells = [...s.querySelectorAll("table.grid td.c")];
      return {
        group: s.dataset.group,
        branch: s.dataset.branch,
        state: s.dataset.state,
        badge: badge ? badge.innerText.trim() : "",
        badgeColor: badge ? getComputedStyle(badge).backgroundColor : "",
        text: s.innerText,
        failingJobs: [...s.querySelectorAll("ul.jobs li")].map((li) => li.innerText.trim()),
        suspects: [...s.querySelectorAll("ul.suspects li")].map((li) => li.innerText.trim()),
        lastGreen: (s.querySelector("dd.last-green") || {}).innerText || "",
        alertLink: (s.querySelector("dd.alert a") || {}).href || "",
        gridRows: rows.length,
        gridColumns: s.querySelectorAll("table.grid thead th[title]").length,
        cellSymbols: [...new Set(cells.map((c) => c.innerText.trim()))].sort(),
        cellsWithoutTitle: cells.filter((c) => !c.title).length,
        legend: [...s.querySelectorAll(".legend li")].map((li) => li.innerText.trim()),
        jobNames: [...s.querySelectorAll("ol.jobnames li")].map((li) => li.innerText.trim()),
        headerTitles: [...s.querySelectorAll("table.grid thead th[title]")].map((th) => th.title),
        linkedCells: s.querySelectorAll("table.grid td.c a[href^='http']").length,
        authors: [...s.querySelectorAll("table.grid td.who")].map((td) => td.innerText.trim()),
        headline: (s.querySelector(".headline") || {}).innerText || "",
        acked: (s.querySelector("dd.alert .acked") || {}).innerText || "",
        quiet: (s.querySelector(".quiet") || {}).innerText || "",
      };
    }),
  );
  const broken = groups.filter((g) => g.state === "broken");
  const green = groups.filter((g) => g.state === "green");
  check("some group is broken", broken.length > 0, broken.map((g) => g.group));
  check("some group is green", green.length > 0, green.map((g) => g.group));
  check("a broken group comes first", groups[0] && groups[0].state === "broken", groups[0]?.group);
  for (const g of broken) {
    check(`${g.group}: its badge says BROKEN`, /BROKEN/.test(g.badge), g.badge);
    check(`${g.group}: its badge is red`, isRed(rgb(g.badgeColor)), g.badgeColor);
    check(
      `${g.group}: a failing job shows its streak`,
      g.failingJobs.some((j) => /\d+ commits? in a row/.test(j)),
      g.failingJobs.join(" | "),
    );
    check(`${g.group}: it names suspects`, g.suspects.length > 0, g.suspects.join(" | "));
    check(
      `${g.group}: it says for how long and since when`,
      /Broken for .+, since .+UTC/.test(g.headline),
      g.headline,
    );
    check(`${g.group}: failing cells link to the job`, g.linkedCells > 0, g.linkedCells);
  }
  for (const g of green) {
    check(`${g.group}: its badge says GREEN`, /GREEN/.test(g.badge), g.badge);
    check(`${g.group}: its badge is green`, isGreen(rgb(g.badgeColor)), g.badgeColor);
  }
  for (const g of groups) {
    check(
      `${g.group}: the grid has 1 to ${GRID_MAX} rows`,
      g.gridRows >= 1 && g.gridRows <= GRID_MAX,
      g.gridRows,
    );
    check(`${g.group}: every cell has a title`, g.cellsWithoutTitle === 0, g.cellsWithoutTitle);
    check(
      `${g.group}: cells read without colour`,
      g.cellSymbols.every((s) => ["✓", "✗", "~", "…", "!", "·"].includes(s)),
      g.cellSymbols.join(" "),
    );
    check(`${g.group}: the grid has a legend`, g.legend.length === 6, g.legend.join(" | "));
    check(
      `${g.group}: every job's full name is on hover and in a list`,
      g.headerTitles.length === g.gridColumns && g.jobNames.length === g.gridColumns,
      `${g.headerTitles.length} titles, ${g.jobNames.length} names, ${g.gridColumns} columns`,
    );
    check(`${g.group}: each row names its author`, g.authors.every((a) => a), g.authors.length);
  }
  check("no script errors", problems.length === 0, problems.join(" | "));
  await page.screenshot({ path: screenshot, fullPage: true });

  // On a phone: the broken group is on the first screen, the page does not scroll sideways
  // (only the grids do, inside their own boxes).
  await page.setViewportSize(PHONE);
  await page.evaluate(() => window.scrollTo(0, 0));
  const phone = await page.evaluate(() => {
    const badge = document.querySelector("section.group.broken .state");
    const box = badge ? badge.getBoundingClientRect() : null;
    const wraps = [...document.querySelectorAll(".gridwrap")];
    return {
      badgeTop: box ? box.top : null,
      height: window.innerHeight,
      pageWidth: document.documentElement.scrollWidth,
      width: window.innerWidth,
      gridsScroll: wraps.map((w) => w.scrollWidth > w.clientWidth),
      overflowX: wraps.map((w) => getComputedStyle(w).overflowX),
    };
  });
  check(
    "phone: the broken badge is on the first screen",
    phone.badgeTop !== null && phone.badgeTop >= 0 && phone.badgeTop < phone.height,
    `top ${phone.badgeTop} of ${phone.height}`,
  );
  check(
    "phone: the page does not scroll sideways",
    phone.pageWidth <= phone.width + 1,
    `${phone.pageWidth} > ${phone.width}`,
  );
  check(
    "phone: grids scroll within their box",
    phone.overflowX.every((o) => o === "auto" || o === "scroll"),
    phone.overflowX.join(" "),
  );
  await page.screenshot({ path: phoneShot });

  const ok = checks.every((c) => c.ok);
  console.log(JSON.stringify({ ok, checks, groups, phone, screenshots: [screenshot, phoneShot] }));
  process.exitCode = ok ? 0 : 1;
} catch (error) {
  console.log(JSON.stringify({ ok: false, checks, error: String(error?.stack || error) }));
  process.exitCode = 2;
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
